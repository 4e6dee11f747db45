package main

import (
	"encoding/json"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestQuantile(t *testing.T) {
	inf := math.Inf(1)
	tests := []struct {
		name    string
		q       float64
		buckets map[float64]float64
		want    float64
	}{
		{"first bucket, from zero", 0.5, map[float64]float64{0.1: 10, 1: 10, inf: 10}, 0.05},
		{"linear inside a bucket", 0.75, map[float64]float64{0.1: 50, 1: 100, inf: 100}, 0.55},
		{"in +Inf: the highest bound", 0.99, map[float64]float64{0.1: 50, 1: 90, inf: 100}, 1},
		{"no samples", 0.5, map[float64]float64{0.1: 0, inf: 0}, math.NaN()},
		{"no buckets", 0.5, map[float64]float64{}, math.NaN()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := quantile(tt.q, tt.buckets)
			if math.IsNaN(tt.want) != math.IsNaN(got) || (!math.IsNaN(got) && math.Abs(got-tt.want) > 1e-9) {
				t.Errorf("quantile(%v) = %v, want %v", tt.q, got, tt.want)
			}
		})
	}
}

func TestAggregateCounterReset(t *testing.T) {
	// A sidecar that restarted between the scrapes counts from zero.
	text := func(n int) []byte {
		return []byte(`# TYPE weft_requests_total counter
weft_requests_total{reporter="destination",destination_namespace="shop",destination_workload="web",source_principal="spiffe://cluster.local/ns/shop/sa/a",response_code="200"} ` + strconv.Itoa(n) + "\n")
	}
	before, err := parseScrape(text(500), time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	after, err := parseScrape(text(20), time.Unix(10, 0))
	if err != nil {
		t.Fatal(err)
	}
	rows := aggregate([]podScrapes{{before: before, after: after}})
	if len(rows) != 1 || rows[0].requests != 20 || rows[0].rps != 2 {
		t.Errorf("rows %+v, want web with 20 requests, 2 rps", rows)
	}
}

func TestStatUsage(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"stat", "pods/x"}, `"pods/x": want namespace, namespace/NAME or deployment/NAME`},
		{[]string{"stat", "deployment/"}, `"deployment/": deployment/NAME needs a name`},
		{[]string{"stat", "a", "b"}, "stat takes at most one resource"},
		{[]string{"stat", "--since", "-1s", "--admin-url", "http://127.0.0.1:1"}, "--since -1s must not be negative"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stdout, stderr strings.Builder
			code := run(t.Context(), tt.args, strings.NewReader(""), &stdout, &stderr)
			if code != 2 || !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, stderr.String(), tt.want)
			}
		})
	}
	t.Run("unreachable sidecar", func(t *testing.T) {
		var stdout, stderr strings.Builder
		code := run(t.Context(), []string{"stat", "--since", "0", "--admin-url", "http://127.0.0.1:1"}, strings.NewReader(""), &stdout, &stderr)
		if code != 1 || !strings.Contains(stderr.String(), "http://127.0.0.1:1: proxy admin:") {
			t.Errorf("exit %d, stderr %q; want 1 naming the sidecar", code, stderr.String())
		}
	})
}

// metricName finds the metric names in a PromQL expression: identifiers
// that start with weft_ or process_.
var metricName = regexp.MustCompile(`\b(weft_[a-z0-9_]+|process_[a-z0-9_]+)\b`)

// checkDashboard parses the Grafana dashboard at path and checks that
// every metric its queries use is in metricsText (sidecars' /metrics).
func checkDashboard(t *testing.T, path, metricsText string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Type    string `json:"type"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("%s is not JSON: %v", path, err)
	}
	exported := map[string]bool{}
	for _, line := range strings.Split(metricsText, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, _, _ := strings.Cut(line, "{")
		name, _, _ = strings.Cut(name, " ")
		exported[name] = true
	}
	queries := 0
	for _, p := range dash.Panels {
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, target := range p.Targets {
			queries++
			names := metricName.FindAllString(target.Expr, -1)
			if len(names) == 0 {
				t.Errorf("panel %q: query %q reads no Weft metric", p.Title, target.Expr)
			}
			for _, n := range names {
				if !exported[n] {
					t.Errorf("panel %q: %s is not in the sidecars' /metrics", p.Title, n)
				}
			}
		}
	}
	if queries < 10 {
		t.Errorf("%d queries in the dashboard, want the golden signals, TCP, xDS and certificates", queries)
	}
}
