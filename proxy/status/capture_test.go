package status

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/weftmesh/weft/proxy/capture"
)

// TestReadyFollowsTheCaptureProbe wires the status port as weft-proxy
// --capture does: /ready is the last capture probe's result, and the
// status port answers the probe that the probe rule brings back to it.
func TestReadyFollowsTheCaptureProbe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nowhere := ln.Addr().String()
	_ = ln.Close()

	for _, tt := range []struct {
		name     string
		redirect bool // whether the probe comes back to the status port, as through the rule
		wantCode int
		wantBody string
	}{
		{"rules missing", false, http.StatusServiceUnavailable, "capture rules missing: " + nowhere + " refused"},
		{"rules installed", true, http.StatusOK, "ready\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			prober := &capture.Prober{Address: nowhere}
			health := &capture.Health{Prober: prober}
			s := New(Config{Address: "127.0.0.1:0", Ready: health.Err, CaptureProbe: prober})
			if err := s.Start(t.Context()); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			if tt.redirect {
				prober.Address = s.Addr().String()
			}
			base := "http://" + s.Addr().String()
			if code, body := get(t, base+"/ready"); code != http.StatusServiceUnavailable || !strings.Contains(body, "capture rules missing: not probed yet") {
				t.Errorf("/ready before the first probe = %d %q, want 503 not probed yet", code, body)
			}
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- health.Run(ctx) }()
			t.Cleanup(func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("Run: %v", err)
				}
			})
			waitUntil(t, func() bool { return !strings.Contains(errString(health.Err()), "not probed yet") })
			if code, body := get(t, base+"/ready"); code != tt.wantCode || !strings.Contains(body, tt.wantBody) {
				t.Errorf("/ready = %d %q, want %d %q", code, body, tt.wantCode, tt.wantBody)
			}
		})
	}
}

func TestCaptureProbePathIsServedOnlyWithCapture(t *testing.T) {
	base := startServer(t, "", Config{})
	if code, _ := get(t, base+capture.ProbePath); code != http.StatusNotFound {
		t.Errorf("%s without capture = %d, want 404", capture.ProbePath, code)
	}
	base = startServer(t, "", Config{CaptureProbe: &capture.Prober{}})
	if code, body := get(t, base+capture.ProbePath); code != http.StatusNotFound || !strings.Contains(body, "not a capture probe of this proxy") {
		t.Errorf("%s with a nonce not in flight = %d %q, want 404 from the prober", capture.ProbePath, code, body)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
