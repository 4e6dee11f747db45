package xdsclient

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the client's Prometheus collectors. They exist from New on and
// are registered only while Run runs.
type metrics struct {
	updates    *prometheus.CounterVec
	connected  prometheus.Gauge
	reconnects prometheus.Counter
	// lastUpdate and rejected are weft_xds_updates_total seen as the
	// questions people ask: how stale is the config, is it refused.
	lastUpdate *prometheus.GaugeVec
	rejected   *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		updates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weft_xds_updates_total",
			Help: "xDS responses answered, by resource type (cds, eds, lds, rds) and result (ack, nack).",
		}, []string{"type", "result"}),
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "weft_xds_connected",
			Help: "1 while the ADS stream to the control plane is open, else 0.",
		}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "weft_xds_reconnects_total",
			Help: "Attempts to open the ADS stream again after a failure.",
		}),
		lastUpdate: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "weft_xds_last_update_timestamp_seconds",
			Help: "When the proxy last accepted (ACKed) an update of a resource type (cds, eds, lds, rds), in seconds since the Unix epoch.",
		}, []string{"type"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weft_xds_rejected_total",
			Help: "Updates of a resource type the proxy refused (NACKed), keeping its last good configuration.",
		}, []string{"type"}),
	}
	for _, url := range typeURLs() {
		m.rejected.WithLabelValues(typeLabel(url))
		for _, result := range []string{"ack", "nack"} {
			m.updates.WithLabelValues(typeLabel(url), result)
		}
	}
	return m
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.updates, m.connected, m.reconnects, m.lastUpdate, m.rejected}
}

// register registers every collector on r, or none of them.
func (m *metrics) register(r prometheus.Registerer) error {
	if r == nil {
		return nil
	}
	for i, c := range m.collectors() {
		if err := r.Register(c); err != nil {
			for _, done := range m.collectors()[:i] {
				r.Unregister(done)
			}
			return fmt.Errorf("xdsclient: registering metrics: %w", err)
		}
	}
	return nil
}

func (m *metrics) unregister(r prometheus.Registerer) {
	if r == nil {
		return
	}
	for _, c := range m.collectors() {
		r.Unregister(c)
	}
}

func (m *metrics) update(typeURL string, accepted bool) {
	result := "nack"
	if accepted {
		result = "ack"
		m.lastUpdate.WithLabelValues(typeLabel(typeURL)).SetToCurrentTime()
	} else {
		m.rejected.WithLabelValues(typeLabel(typeURL)).Inc()
	}
	m.updates.WithLabelValues(typeLabel(typeURL), result).Inc()
}
