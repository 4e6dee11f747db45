package bench

import (
	"math"
	"slices"
	"time"
)

// Quantile returns the q-quantile (0 ≤ q ≤ 1) of sorted by the
// nearest-rank method: the smallest value with at least q of the values at
// or below it. It returns 0 for no values.
func Quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(q * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// Median returns the median of values (the mean of the middle two for an
// even count), NaN for none. NaN values are ignored.
func Median(values []float64) float64 {
	v := make([]float64, 0, len(values))
	for _, x := range values {
		if !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return math.NaN()
	}
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// Ratio returns a/b, NaN when either is unknown or b is zero.
func Ratio(a, b float64) float64 {
	if math.IsNaN(a) || math.IsNaN(b) || b == 0 {
		return math.NaN()
	}
	return a / b
}

// Sample is the outcome of one measurement: one workload through one
// set-up, one repetition.
type Sample struct {
	Workload string             `json:"workload"`
	Setup    string             `json:"setup"`
	Rep      int                `json:"rep"`
	Values   map[string]float64 `json:"values"`
	// Requests and Errors count what the load generator sent and what
	// failed; Errors lists up to a few distinct error messages.
	Requests  int      `json:"requests,omitempty"`
	Failures  int      `json:"failures,omitempty"`
	ErrorText []string `json:"errors,omitempty"`
}

// Summary holds the median of each figure: workload → metric → set-up.
type Summary map[string]map[string]map[string]float64

// Summarize takes the median over the repetitions of every figure.
func Summarize(samples []Sample) Summary {
	all := map[string]map[string]map[string][]float64{}
	for _, s := range samples {
		for m, v := range s.Values {
			if all[s.Workload] == nil {
				all[s.Workload] = map[string]map[string][]float64{}
			}
			if all[s.Workload][m] == nil {
				all[s.Workload][m] = map[string][]float64{}
			}
			all[s.Workload][m][s.Setup] = append(all[s.Workload][m][s.Setup], v)
		}
	}
	sum := Summary{}
	for w, metrics := range all {
		sum[w] = map[string]map[string]float64{}
		for m, setups := range metrics {
			sum[w][m] = map[string]float64{}
			for s, v := range setups {
				sum[w][m][s] = Median(v)
			}
		}
	}
	return sum
}

// Get returns a median, NaN when it was not measured.
func (s Summary) Get(workload, metric, setup string) float64 {
	v, ok := s[workload][metric][setup]
	if !ok {
		return math.NaN()
	}
	return v
}
