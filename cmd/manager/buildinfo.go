package main

import "github.com/prometheus/client_golang/prometheus"

// metricBuildInfo is 1 on every replica, labelled with the version: the alert
// CodatOperatorDown fires when Prometheus scrapes no replica at all, which no
// count of objects can tell.
const metricBuildInfo = "codat_operator_build_info"

func registerBuildInfo(reg prometheus.Registerer, version string) error {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        metricBuildInfo,
		Help:        "1 on every replica of the manager, labelled with its version.",
		ConstLabels: prometheus.Labels{"version": version},
	})
	g.Set(1)
	return reg.Register(g)
}
