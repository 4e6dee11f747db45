package xdsclient

import (
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metricValue gathers reg and returns the value of the counter or gauge
// name whose labels include the given name/value pairs.
func metricValue(t *testing.T, reg prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metric:
		for _, m := range f.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue metric
				}
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("metric %s%v not gathered", name, labels)
	return 0
}

func TestMetricsRegistration(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := newMetrics()
	if err := m.register(reg); err != nil {
		t.Fatalf("register: %v", err)
	}
	if got := metricValue(t, reg, "weft_xds_updates_total", "type", "eds", "result", "nack"); got != 0 {
		t.Errorf("fresh nack counter = %v, want 0", got)
	}

	// A second client on the same registry is refused, and leaves nothing
	// of itself registered.
	other := newMetrics()
	err := other.register(reg)
	var already prometheus.AlreadyRegisteredError
	if !errors.As(err, &already) {
		t.Fatalf("second register: %v, want AlreadyRegisteredError", err)
	}

	m.unregister(reg)
	if err := other.register(reg); err != nil {
		t.Fatalf("register after unregister: %v", err)
	}
	other.update(ClusterType, true)
	if got := metricValue(t, reg, "weft_xds_updates_total", "type", "cds", "result", "ack"); got != 1 {
		t.Errorf("cds ack counter = %v, want 1", got)
	}
}

func TestMetricsLastUpdateAndRejected(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := newMetrics()
	if err := m.register(reg); err != nil {
		t.Fatalf("register: %v", err)
	}
	if got := metricValue(t, reg, "weft_xds_rejected_total", "type", "lds"); got != 0 {
		t.Errorf("fresh rejected counter = %v, want 0 (present from the start, for rate())", got)
	}
	before := float64(time.Now().Unix())
	m.update(ListenerType, true)
	m.update(ListenerType, false)
	m.update(ListenerType, false)
	if got := metricValue(t, reg, "weft_xds_rejected_total", "type", "lds"); got != 2 {
		t.Errorf("lds rejected = %v, want 2", got)
	}
	if got := metricValue(t, reg, "weft_xds_last_update_timestamp_seconds", "type", "lds"); got < before {
		t.Errorf("lds last update = %v, want at least %v", got, before)
	}
	if got := metricValue(t, reg, "weft_xds_rejected_total", "type", "cds"); got != 0 {
		t.Errorf("cds rejected = %v, want 0: only lds was refused", got)
	}
}
