package shard

import (
	"fmt"
	"strings"
	"testing"

	"github.com/influxgate/influxgate/internal/record"
)

// BenchmarkSplit measures the split of a 5,000-line write over shards:
// the key of every line, its owner, and the copies into per-shard parts
// (or none, when every line goes to one shard).
func BenchmarkSplit(b *testing.B) {
	for _, c := range []struct {
		name     string
		shardKey string
		shards   []string
		line     func(i int) string
	}{
		{"measurement/one-shard", "measurement", []string{"s1", "s2"},
			func(i int) string {
				return fmt.Sprintf("cpu,host=web-%04d,region=eu usage_idle=93.4,usage_user=4.4 17000000000%08d", i%500, i)
			}},
		{"measurement/spread", "measurement", []string{"s1", "s2"},
			func(i int) string {
				return fmt.Sprintf("m%03d,host=web-%04d,region=eu usage_idle=93.4,usage_user=4.4 17000000000%08d", i%200, i%500, i)
			}},
		{"tag/spread", "tag:host", []string{"s1", "s2", "s3"},
			func(i int) string {
				return fmt.Sprintf("cpu,host=web-%04d,region=eu usage_idle=93.4,usage_user=4.4 17000000000%08d", i%500, i)
			}},
	} {
		b.Run(c.name, func(b *testing.B) {
			var shards []*Shard
			for _, n := range c.shards {
				shards = append(shards, &Shard{Name: n, Replicas: &fakeReplicas{}})
			}
			s, err := NewSet(c.shardKey, shards, NewRoute(NewPlacement(c.shards)))
			if err != nil {
				b.Fatal(err)
			}
			var body strings.Builder
			const lines = 5000
			for i := 0; i < lines; i++ {
				body.WriteString(c.line(i) + "\n")
			}
			rec := record.Record{Kind: record.KindWrite, DB: "telegraf", Lines: lines, Body: []byte(body.String())}
			b.SetBytes(int64(len(rec.Body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Split(&rec); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*lines), "ns/line")
		})
	}
}
