package bench

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSmoke runs the direct and weft set-ups for a second per workload
// with the real weft-controlplane and weft-proxy, and checks that every
// workload went through both without a failed request.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane and two sidecars")
	}
	bin := t.TempDir()
	build := exec.CommandContext(t.Context(), "go", "build", "-o", bin+"/", "../cmd/weft-controlplane", "../cmd/weft-proxy")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the binaries: %v\n%s", err, out)
	}
	results := t.TempDir()
	var out bytes.Buffer
	cfg := Default()
	cfg.BinDir, cfg.ResultsDir, cfg.Out = bin, results, &out
	cfg.Setups = []string{SetupDirect, SetupWeft}
	cfg.Repetitions = 1
	cfg.Duration, cfg.OpenDuration = time.Second, 500*time.Millisecond
	cfg.Rate = 200
	cfg.Connections, cfg.KneeConnections = []int{4}, 4
	cfg.KneeRates, cfg.KneeStepDuration = []int{400}, 500*time.Millisecond
	cfg.ManyServices = 20
	cfg.Pin = false // leave the test process's threads alone
	cfg.Timeout = 2 * time.Minute
	if err := Run(t.Context(), cfg); err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}

	files, err := filepath.Glob(filepath.Join(results, "bench-*.json"))
	if err != nil || len(files) != 1 {
		t.Fatalf("results files %v (%v), want one", files, err)
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	var report Report
	if err := json.Unmarshal(data, &report); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, s := range report.Samples {
		seen[s.Workload+"/"+s.Setup] = true
		if s.Failures > 0 {
			t.Errorf("%s through %s: %d of %d requests failed: %v", s.Workload, s.Setup, s.Failures, s.Requests, s.ErrorText)
		}
		for k, v := range s.Values {
			if v < 0 || (v == 0 && !strings.HasPrefix(k, "cpu_") && !strings.HasSuffix(k, "_failed") && k != MetricKnee) {
				t.Errorf("%s through %s: %s = %v", s.Workload, s.Setup, k, v)
			}
		}
	}
	for _, want := range []string{
		"http1-4c/direct", "http1-4c/weft", "h2c/direct", "h2c/weft", "grpc/direct", "grpc/weft",
		"newconn/direct", "newconn/weft", "bulk/direct", "bulk/weft", "knee/direct", "knee/weft", "idle/weft",
	} {
		if !seen[want] {
			t.Errorf("no sample of %s", want)
		}
	}
	if got := report.Summary.Get(WorkloadIdle, MetricIdleMany, SetupWeft); !(got > 0) {
		t.Errorf("idle RSS with %d services = %v", cfg.ManyServices, got)
	}
	rss, private := report.Summary.Get(WorkloadIdle, MetricIdleSmall, SetupWeft), report.Summary.Get(WorkloadIdle, MetricIdlePrivate, SetupWeft)
	if !(private > 0 && private < rss) {
		t.Errorf("idle private RSS %v, RSS %v: want 0 < private < RSS", private, rss)
	}
	if !strings.Contains(out.String(), "| workload | figure | direct | weft |") {
		t.Errorf("no table in the output:\n%s", out.String())
	}
}
