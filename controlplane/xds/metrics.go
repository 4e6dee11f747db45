package xds

import "github.com/prometheus/client_golang/prometheus"

// metrics are the server's Prometheus series, all named weft_xds_*.
type metrics struct {
	pushes prometheus.Counter
	// translations counts workloads translated, on updates and when
	// proxies connect.
	translations prometheus.Counter
	nacks        *prometheus.CounterVec
	rejected     prometheus.Counter
	connected    *prometheus.GaugeVec
	// pushLatency runs from the start of an Update to the moment one
	// proxy's changed snapshot is set.
	pushLatency prometheus.Histogram
	// ackLatency runs from a snapshot being set to the proxy's ACK of its
	// version, per type URL.
	ackLatency    *prometheus.HistogramVec
	snapshotBytes prometheus.Histogram
	resources     *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	latencyBuckets := prometheus.ExponentialBuckets(0.0005, 2, 16) // 0.5 ms … ~16 s
	m := &metrics{
		pushes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "weft_xds_snapshots_total",
			Help: "Snapshots set for proxies (one per proxy whose configuration changed).",
		}),
		translations: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "weft_xds_translations_total",
			Help: "Workloads translated into a configuration, on mesh updates and when a proxy without a snapshot connects (only connected proxies are translated).",
		}),
		nacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weft_xds_nacks_total",
			Help: "Configuration updates refused by proxies, by type URL.",
		}, []string{"type"}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "weft_xds_streams_rejected_total",
			Help: "xDS streams refused because the client is not the workload it claims to be.",
		}),
		connected: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "weft_xds_connected_proxies",
			Help: "Authorized ADS streams open now, by variant (sotw: state of the world, delta: incremental).",
		}, []string{"variant"}),
		pushLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "weft_xds_push_duration_seconds",
			Help:    "Time from the start of an update of the mesh to the snapshot of each proxy it changed being set.",
			Buckets: latencyBuckets,
		}),
		ackLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "weft_xds_ack_duration_seconds",
			Help:    "Time from a proxy's snapshot being set to the proxy's ACK of that version, by type URL (streams opened before the snapshot only).",
			Buckets: latencyBuckets,
		}, []string{"type"}),
		snapshotBytes: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "weft_xds_snapshot_bytes",
			Help:    "Encoded size of each snapshot set (all resources of one proxy).",
			Buckets: prometheus.ExponentialBuckets(256, 4, 10), // 256 B … 64 MiB
		}),
		resources: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "weft_xds_snapshot_resources",
			Help: "Resources held in the snapshots of all proxies, by type URL.",
		}, []string{"type"}),
	}
	for _, v := range []string{variantSotW, variantDelta} {
		m.connected.WithLabelValues(v)
	}
	if reg != nil {
		reg.MustRegister(m.pushes, m.translations, m.nacks, m.rejected, m.connected, m.pushLatency, m.ackLatency, m.snapshotBytes, m.resources)
	}
	return m
}
