package testinflux

import (
	"slices"
	"testing"
	"time"
)

// BenchmarkStart measures Start (fresh directory to /ping 204) per version
// and reports the median as ms/start besides the mean ns/op. Run it with a
// small fixed count on this shared machine:
//
//	go test -run '^$' -bench Start -benchtime 7x ./internal/testinflux
func BenchmarkStart(b *testing.B) {
	cases := []struct {
		name string
		opts Options
	}{
		{"1.6.7", Options{Version: V167}},
		{"1.8.10", Options{Version: V1810}},
		{"1.8.10-flux", Options{Version: V1810, Flux: true}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			var took []time.Duration
			for b.Loop() {
				start := time.Now()
				s := Start(b, c.opts)
				took = append(took, time.Since(start))
				b.StopTimer()
				s.Kill(b) // keep at most one server alive
				b.StartTimer()
			}
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)/2])/float64(time.Millisecond), "ms/start")
		})
	}
}
