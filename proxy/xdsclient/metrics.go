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
	}
	for _, url := range typeURLs() {
		for _, result := range []string{"ack", "nack"} {
			m.updates.WithLabelValues(typeLabel(url), result)
		}
	}
	return m
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.updates, m.connected, m.reconnects}
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
	}
	m.updates.WithLabelValues(typeLabel(typeURL), result).Inc()
}
