package xds

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	pushes   prometheus.Counter
	nacks    *prometheus.CounterVec
	rejected prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		pushes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "weft_xds_snapshots_total",
			Help: "Snapshots set for proxies (one per proxy whose configuration changed).",
		}),
		nacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weft_xds_nacks_total",
			Help: "Configuration updates refused by proxies, by type URL.",
		}, []string{"type"}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "weft_xds_streams_rejected_total",
			Help: "xDS streams refused because the client is not the workload it claims to be.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.pushes, m.nacks, m.rejected)
	}
	return m
}
