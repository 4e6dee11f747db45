package xdsload

import (
	"bytes"
	"context"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary be the kube source's child: RunKube runs
// os.Args[0] with KubeChildArgs.
func TestMain(m *testing.M) {
	if want := KubeChildArgs(""); len(os.Args) == len(want)+1 && slices.Equal(os.Args[1:len(want)], want[:len(want)-1]) {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := ServeKube(ctx, os.Args[len(want)], os.Stdin, os.Stdout, KubeServerLogger())
		stop()
		if err != nil {
			_, _ = os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestRunKubeSmall runs the kube source end to end at a tiny scale: a
// real API server, the control plane in Kubernetes mode in a child
// process, Pod proxies over TLS, both ADS variants.
func TestRunKubeSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping a run against a real kube-apiserver (envtest) under -short")
	}
	cfg := Default()
	cfg.Clients, cfg.Services, cfg.EndpointsPerService, cfg.ServicesPerClient, cfg.Namespaces = 5, 4, 5, 2, 2
	cfg.Changes, cfg.Timeout, cfg.Source = 3, time.Minute, SourceKube
	var out bytes.Buffer
	cfg.Out = &out
	rs, err := RunKube(t.Context(), cfg, os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != len(cfg.Variants) {
		t.Fatalf("got %d results, want %d", len(rs), len(cfg.Variants))
	}
	for _, r := range rs {
		if len(r.Latencies) != cfg.Changes || len(r.Writes) != cfg.Changes {
			t.Errorf("%s: %d latencies and %d writes, want %d each", r.Variant, len(r.Latencies), len(r.Writes), cfg.Changes)
		}
		if r.Affected == 0 || r.PeakRSSBytes == 0 {
			t.Errorf("%s: %d proxies per change, peak RSS %d: want both positive", r.Variant, r.Affected, r.PeakRSSBytes)
		}
	}
	t.Log(out.String())
	if !strings.Contains(out.String(), "| delta |") {
		t.Errorf("the report lacks the delta row:\n%s", out.String())
	}
}
