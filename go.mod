module github.com/influxgate/influxgate

go 1.25
