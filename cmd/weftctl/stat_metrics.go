package main

import (
	"bytes"
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Metric families weftctl stat reads from each sidecar (docs/metrics.md).
const (
	metricRequests     = "weft_requests_total"
	metricDuration     = "weft_request_duration_seconds"
	metricProcessStart = "process_start_time_seconds"
)

// workloadKey names a workload: the destination of the requests its
// sidecars counted as reporter "destination".
type workloadKey struct{ namespace, name string }

// traffic is what one sidecar counted for one workload: request counts and
// the duration histogram's cumulative buckets (upper bound → count).
type traffic struct {
	requests, failed, mtls float64
	buckets                map[float64]float64
}

func newTraffic() *traffic { return &traffic{buckets: map[float64]float64{}} }

func (t *traffic) add(o *traffic) {
	t.requests += o.requests
	t.failed += o.failed
	t.mtls += o.mtls
	for le, n := range o.buckets {
		t.buckets[le] += n
	}
}

// minus is t since earlier, a scrape of the same sidecar; a sidecar that
// restarted in between (a counter went down) counts from zero.
func (t *traffic) minus(earlier *traffic) *traffic {
	if earlier == nil || t.requests < earlier.requests {
		return t
	}
	d := newTraffic()
	d.requests = t.requests - earlier.requests
	d.failed = max(0, t.failed-earlier.failed)
	d.mtls = max(0, t.mtls-earlier.mtls)
	for le, n := range t.buckets {
		d.buckets[le] = max(0, n-earlier.buckets[le])
	}
	return d
}

// scrape is one sidecar's /metrics at one time.
type scrape struct {
	at time.Time
	// started is when the sidecar's process started (zero if unknown).
	started   time.Time
	workloads map[workloadKey]*traffic
}

// parseScrape reads the Prometheus text of a sidecar's /metrics: the
// requests it served as the destination, by workload.
func parseScrape(text []byte, at time.Time) (*scrape, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		return nil, fmt.Errorf("reading metrics: %w", err)
	}
	s := &scrape{at: at, workloads: map[workloadKey]*traffic{}}
	if f := families[metricProcessStart]; f != nil && len(f.GetMetric()) > 0 {
		sec := f.GetMetric()[0].GetGauge().GetValue()
		s.started = time.Unix(0, int64(sec*float64(time.Second)))
	}
	get := func(k workloadKey) *traffic {
		t := s.workloads[k]
		if t == nil {
			t = newTraffic()
			s.workloads[k] = t
		}
		return t
	}
	for _, m := range families[metricRequests].GetMetric() {
		l := labelMap(m)
		if l["reporter"] != "destination" {
			continue
		}
		t := get(workloadKey{l["destination_namespace"], l["destination_workload"]})
		n := m.GetCounter().GetValue()
		t.requests += n
		if code, _ := strconv.Atoi(l["response_code"]); code >= 500 {
			t.failed += n
		}
		if l["source_principal"] != "" {
			t.mtls += n
		}
	}
	for _, m := range families[metricDuration].GetMetric() {
		l := labelMap(m)
		if l["reporter"] != "destination" {
			continue
		}
		t := get(workloadKey{l["destination_namespace"], l["destination_workload"]})
		h := m.GetHistogram()
		for _, b := range h.GetBucket() {
			if !math.IsInf(b.GetUpperBound(), 1) { // the sample count, below
				t.buckets[b.GetUpperBound()] += float64(b.GetCumulativeCount())
			}
		}
		t.buckets[math.Inf(1)] += float64(h.GetSampleCount())
	}
	return s, nil
}

func labelMap(m *dto.Metric) map[string]string {
	out := make(map[string]string, len(m.GetLabel()))
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// workloadStat is one row of weftctl stat.
type workloadStat struct {
	workloadKey
	pods int
	// requests in the window; rps is requests per second over it (NaN
	// when the window is unknown).
	requests, rps float64
	// success and mtls are shares of requests; NaN without requests.
	success, mtls float64
	// p50, p95, p99 in seconds; NaN without requests.
	p50, p95, p99 float64
}

// podScrapes are the two scrapes of one sidecar: before is nil for
// counters since the sidecar started.
type podScrapes struct {
	before, after *scrape
}

// aggregate turns the scrapes of every sidecar into one row per workload,
// sorted by namespace and name. Without a first scrape, a sidecar's
// counters count since its process started.
func aggregate(pods []podScrapes) []workloadStat {
	type acc struct {
		t       *traffic
		seconds float64 // the longest window of its sidecars
		pods    int
	}
	byKey := map[workloadKey]*acc{}
	for _, p := range pods {
		window := math.NaN()
		if p.before != nil {
			window = p.after.at.Sub(p.before.at).Seconds()
		} else if !p.after.started.IsZero() {
			window = p.after.at.Sub(p.after.started).Seconds()
		}
		for k, t := range p.after.workloads {
			var earlier *traffic
			if p.before != nil {
				earlier = p.before.workloads[k]
			}
			a := byKey[k]
			if a == nil {
				a = &acc{t: newTraffic(), seconds: math.NaN()}
				byKey[k] = a
			}
			a.t.add(t.minus(earlier))
			a.pods++
			if !(a.seconds >= window) { // NaN-aware max
				a.seconds = window
			}
		}
	}
	out := make([]workloadStat, 0, len(byKey))
	for k, a := range byKey {
		s := workloadStat{workloadKey: k, pods: a.pods, requests: a.t.requests, rps: math.NaN(),
			success: math.NaN(), mtls: math.NaN(), p50: math.NaN(), p95: math.NaN(), p99: math.NaN()}
		if a.seconds > 0 {
			s.rps = a.t.requests / a.seconds
		}
		if a.t.requests > 0 {
			s.success = 1 - a.t.failed/a.t.requests
			s.mtls = a.t.mtls / a.t.requests
			s.p50 = quantile(0.50, a.t.buckets)
			s.p95 = quantile(0.95, a.t.buckets)
			s.p99 = quantile(0.99, a.t.buckets)
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].namespace != out[j].namespace {
			return out[i].namespace < out[j].namespace
		}
		return out[i].name < out[j].name
	})
	return out
}

// quantile estimates the q-quantile from cumulative buckets as
// Prometheus's histogram_quantile does: linear within the bucket it falls
// in (from 0 for the first one), the highest finite bound when it falls in
// the +Inf bucket.
func quantile(q float64, buckets map[float64]float64) float64 {
	bounds := make([]float64, 0, len(buckets))
	for le := range buckets {
		bounds = append(bounds, le)
	}
	sort.Float64s(bounds)
	if len(bounds) == 0 {
		return math.NaN()
	}
	total := buckets[bounds[len(bounds)-1]]
	if total == 0 {
		return math.NaN()
	}
	rank := q * total
	lower, below := 0.0, 0.0
	for _, le := range bounds {
		n := buckets[le]
		if n >= rank {
			if math.IsInf(le, 1) {
				return lower
			}
			if n == below {
				return le
			}
			return lower + (le-lower)*(rank-below)/(n-below)
		}
		lower, below = le, n
	}
	return lower
}
