package server

import (
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
)

// registerMetrics adds the process-wide metrics that belong to no
// component: the build, and the free space of the data directory's
// filesystem (the log grows there while a backend is down, so a dashboard
// and an alert need it without node_exporter).
func registerMetrics(reg prometheus.Registerer, version, dataDir string) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "influxgate_build_info",
		Help:        "Always 1; the labels say which influxgate is running.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()},
	}, func() float64 { return 1 }))
	if _, _, err := diskSpace(dataDir); err != nil {
		return // not supported here: no metric rather than a wrong one
	}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "influxgate_data_dir_free_bytes",
			Help: "Bytes available to influxgate on the data directory's filesystem.",
		}, func() float64 {
			free, _, err := diskSpace(dataDir)
			if err != nil {
				return -1
			}
			return float64(free)
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "influxgate_data_dir_capacity_bytes",
			Help: "Size of the data directory's filesystem.",
		}, func() float64 {
			_, size, err := diskSpace(dataDir)
			if err != nil {
				return -1
			}
			return float64(size)
		}))
}
