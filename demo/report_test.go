package demo

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func goodReport() report {
	return report{
		layout: &layout{
			controlPlane: netip.MustParseAddr("127.1.1.1"),
			frontend:     netip.MustParseAddr("127.1.1.2"),
			backend:      netip.MustParseAddr("127.1.1.3"),
		},
		meshUp: 120 * time.Millisecond,
		traffic: trafficResult{
			sent: 3, succeeded: 3, connections: 1,
			roundTrips: []time.Duration{time.Millisecond, 2 * time.Millisecond},
			setups:     []time.Duration{3 * time.Millisecond},
		},
		outboundPeers:  map[string]float64{identity(backendSA): 2},
		inboundPeers:   map[string]float64{identity(frontendSA): 2},
		handshakeFails: 1,
	}
}

func TestReportChecks(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*report)
		wantErr string // empty: every check holds
	}{
		{"all good", func(*report) {}, ""},
		{"a request failed", func(r *report) {
			r.traffic.succeeded = 2
			r.traffic.firstErr = errors.New("connection reset")
		}, "1 of 3 requests failed; first error: connection reset"},
		{"no traffic at all", func(r *report) { r.traffic = trafficResult{} }, "requests failed"},
		{"frontend verified the wrong server", func(r *report) {
			r.outboundPeers = map[string]float64{"spiffe://cluster.local/ns/demo/sa/impostor": 2}
		}, "frontend sidecar should have verified only spiffe://cluster.local/ns/demo/sa/backend"},
		{"backend saw an unverified peer too", func(r *report) {
			r.inboundPeers[""] = 1
		}, "backend sidecar should have verified only spiffe://cluster.local/ns/demo/sa/frontend"},
		{"plaintext answered", func(r *report) {
			r.plaintextErr = errors.New("the mesh port answered plaintext with 5 bytes")
		}, "plaintext to the backend's mesh port was not refused"},
		{"refusal not counted", func(r *report) { r.handshakeFails = 0 }, "counted no failed handshake"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := goodReport()
			tt.mutate(&r)
			var out bytes.Buffer
			failed := r.write(&out)
			if tt.wantErr == "" {
				if len(failed) > 0 {
					t.Fatalf("checks failed: %v\n%s", failed, out.String())
				}
				if !strings.Contains(out.String(), "PASS: every check held.") {
					t.Errorf("report lacks the PASS line:\n%s", out.String())
				}
				return
			}
			if len(failed) != 1 || !strings.Contains(failed[0].Error(), tt.wantErr) {
				t.Fatalf("failed checks %v, want one containing %q", failed, tt.wantErr)
			}
			if !strings.Contains(out.String(), "FAIL: 1 check(s) did not hold") {
				t.Errorf("report does not say it failed:\n%s", out.String())
			}
		})
	}
}

func TestPercentile(t *testing.T) {
	var samples []time.Duration
	for i := 1; i <= 100; i++ {
		samples = append(samples, time.Duration(i)*time.Millisecond)
	}
	for _, tt := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {90, 90 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}} {
		if got := percentile(samples, tt.p); got != tt.want {
			t.Errorf("p%v = %v, want %v", tt.p, got, tt.want)
		}
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("percentile of nothing = %v", got)
	}
}

func TestConfigValidate(t *testing.T) {
	cfg := Default()
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "--bin-dir is required") {
		t.Fatalf("Validate() = %v, want the missing --bin-dir named", err)
	}
	cfg.BinDir, cfg.Out, cfg.Connections = "bin", &bytes.Buffer{}, 0
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "--connections") {
		t.Fatalf("Validate() = %v, want --connections named", err)
	}
}

func TestRunFailsClearlyWithoutBinaries(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir()) // the failed run keeps its directory
	cfg := Default()
	cfg.BinDir = t.TempDir()
	var out bytes.Buffer
	cfg.Out = &out
	err := Run(t.Context(), cfg)
	if err == nil || !strings.Contains(err.Error(), "starting weft-controlplane") {
		t.Fatalf("Run() = %v, want an error about starting weft-controlplane", err)
	}
}
