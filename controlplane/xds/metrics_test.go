package xds

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// metricValue gathers reg and returns the value of the series of family
// name whose label has value (a histogram's sample count); 0 when absent.
func metricValue(t *testing.T, reg prometheus.Gatherer, name, label, value string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() != label || l.GetValue() != value {
					continue
				}
				switch {
				case m.GetHistogram() != nil:
					return float64(m.GetHistogram().GetSampleCount())
				case m.GetGauge() != nil:
					return m.GetGauge().GetValue()
				default:
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
