package bench

import (
	"math"
	"testing"
	"time"
)

func TestQuantile(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		out := make([]time.Duration, len(ns))
		for i, n := range ns {
			out[i] = time.Duration(n) * time.Millisecond
		}
		return out
	}
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		q      float64
		want   time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"one", ms(7), 0.999, 7 * time.Millisecond},
		{"median of odd", ms(1, 2, 3), 0.5, 2 * time.Millisecond},
		{"p50 of 100", hundred, 0.5, 50 * time.Millisecond},
		{"p99 of 100", hundred, 0.99, 99 * time.Millisecond},
		{"p99.9 of 100 is the max", hundred, 0.999, 100 * time.Millisecond},
		{"q 0 is the min", hundred, 0, time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Quantile(tt.sorted, tt.q); got != tt.want {
				t.Errorf("Quantile(%v) = %v, want %v", tt.q, got, tt.want)
			}
		})
	}
}

func TestMedianAndRatio(t *testing.T) {
	tests := []struct {
		name   string
		values []float64
		want   float64
	}{
		{"odd", []float64{3, 1, 2}, 2},
		{"even", []float64{4, 1, 3, 2}, 2.5},
		{"NaN ignored", []float64{math.NaN(), 5, 1, 3}, 3},
		{"none", nil, math.NaN()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Median(tt.values)
			if got != tt.want && !(math.IsNaN(got) && math.IsNaN(tt.want)) {
				t.Errorf("Median = %v, want %v", got, tt.want)
			}
		})
	}
	if r := Ratio(3, 2); r != 1.5 {
		t.Errorf("Ratio(3, 2) = %v", r)
	}
	for _, r := range []float64{Ratio(1, 0), Ratio(math.NaN(), 1), Ratio(1, math.NaN())} {
		if !math.IsNaN(r) {
			t.Errorf("Ratio of an unknown = %v, want NaN", r)
		}
	}
}

func TestSummarizeAndDerive(t *testing.T) {
	var samples []Sample
	for rep, v := range []struct{ direct, weft, cpuC, cpuS float64 }{
		{0.10, 0.50, 0.08, 0.07}, {0.30, 0.40, 0.10, 0.09}, {0.20, 0.90, 0.09, 0.08},
	} {
		samples = append(samples,
			Sample{Workload: "w", Setup: SetupDirect, Rep: rep + 1, Values: map[string]float64{MetricP50: v.direct}},
			Sample{Workload: "w", Setup: SetupWeft, Rep: rep + 1, Values: map[string]float64{
				MetricP50: v.weft, MetricCPUClient: v.cpuC, MetricCPUServer: v.cpuS,
			}})
	}
	sum := Summarize(samples)
	Derive(sum)
	checks := []struct {
		metric, setup string
		want          float64
	}{
		{MetricP50, SetupDirect, 0.20},
		{MetricP50, SetupWeft, 0.50},
		{MetricAddedP50, SetupWeft, 0.30}, // median of weft − median of direct
		{MetricAddedP50, SetupDirect, 0},
		{MetricCPUTotal, SetupWeft, 0.09 + 0.08},
	}
	for _, c := range checks {
		if got := sum.Get("w", c.metric, c.setup); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("%s of %s = %v, want %v", c.metric, c.setup, got, c.want)
		}
	}
	if got := sum.Get("w", MetricP99, SetupWeft); !math.IsNaN(got) {
		t.Errorf("unmeasured figure = %v, want NaN", got)
	}
	if got := sum.Get("w", MetricCPUTotal, SetupDirect); !math.IsNaN(got) {
		t.Errorf("direct has no proxy CPU, got %v", got)
	}
}
