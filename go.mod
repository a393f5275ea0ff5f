module github.com/influxgate/influxgate

go 1.25

require (
	github.com/pelletier/go-toml/v2 v2.4.3
	gopkg.in/yaml.v3 v3.0.1
)
