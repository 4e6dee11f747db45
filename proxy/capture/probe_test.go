//go:build linux

package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// serveProber is a status port on loopback that answers p's probes.
func serveProber(t *testing.T, p *Prober) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("GET "+ProbePath, p)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

func TestProberAnswersOnlyItsOwnNonces(t *testing.T) {
	ours := &Prober{}
	addr := serveProber(t, ours)
	ours.Address = addr
	if err := ours.Probe(t.Context()); err != nil {
		t.Fatalf("probing our own status port: %v", err)
	}

	// Another process's proxy (another Prober) reached instead of ours.
	other := &Prober{Address: addr}
	err := other.Probe(t.Context())
	if !IsRulesMissing(err) || !strings.Contains(err.Error(), "404 Not Found") || !strings.Contains(err.Error(), "something other than this proxy's status port") {
		t.Errorf("probe answered by another proxy: %v, want it refused as not ours", err)
	}

	// Anyone else asking the status port learns nothing.
	for _, nonce := range []string{"", "0123456789abcdef0123456789abcdef"} {
		req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, ProbePath, nil)
		req.Header.Set(ProbeHeader, nonce)
		rec := httptest.NewRecorder()
		ours.ServeHTTP(rec, req)
		if rec.Code != http.StatusNotFound {
			t.Errorf("a probe with nonce %q not in flight = %d, want 404", nonce, rec.Code)
		}
	}
}

func TestProberSaysWhyItFailed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	_ = ln.Close()

	// Accepts, never answers: a redirect to a wedged port.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = silent.Close() })

	hello := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "hello")
	}))
	t.Cleanup(hello.Close)

	for _, tt := range []struct {
		name, addr string
		want       []string
	}{
		{"nothing listens (no rules)", closed, []string{"capture rules missing: " + closed + " refused", "is table inet weft installed?"}},
		{"no answer", silent.Addr().String(), []string{"capture rules missing: " + silent.Addr().String() + " did not answer within 200ms"}},
		{"someone else answers", hello.Listener.Addr().String(), []string{"capture rules missing: ", "(200 OK) by something other than this proxy's status port"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := &Prober{Address: tt.addr, Timeout: 200 * time.Millisecond}
			err := p.Probe(t.Context())
			if !errors.Is(err, ErrRulesMissing) {
				t.Fatalf("Probe = %v, want ErrRulesMissing", err)
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Probe = %q, want it to say %q", err, want)
				}
			}
		})
	}
}

func TestHealthFollowsTheProbe(t *testing.T) {
	// The status port comes and goes on one address, as the probe rule
	// would.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	h := &Health{Prober: &Prober{Address: addr, Timeout: time.Second}, Interval: 20 * time.Millisecond}
	if err := h.Err(); !IsRulesMissing(err) || !strings.Contains(err.Error(), "not probed yet") {
		t.Fatalf("Err before the first probe = %v, want not ready", err)
	}
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(t.Context())
	go func() { done <- h.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})

	waitUntil(t, "the probe fails while nothing answers", func() bool {
		err := h.Err()
		return err != nil && strings.Contains(err.Error(), "refused")
	})
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+ProbePath, h.Prober)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: time.Second}
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.Serve(ln) }()
	waitUntil(t, "the probe passes once the status port answers", func() bool { return h.Err() == nil })
	_ = srv.Close()
	<-served
	waitUntil(t, "the probe fails again once it stops", func() bool { return IsRulesMissing(h.Err()) })
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	giveUp := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(giveUp) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// --- the probe through real rules, as UID 1337 ---

// probeHelperEnv makes the test binary TestCaptureProbeHelperProcess.
const probeHelperEnv = "WEFT_CAPTURE_PROBE_HELPER"

// TestCaptureProbeHelperProcess is not a test but the proxy of
// TestProbeFollowsTheRules, started by probeAs under another UID in a
// test's namespace: it serves a status port on :StatusPort that answers
// its Prober, probes once and prints the result.
func TestCaptureProbeHelperProcess(t *testing.T) {
	if os.Getenv(probeHelperEnv) != "1" {
		return
	}
	ln, err := net.Listen("tcp", fmt.Sprintf(":%d", StatusPort))
	if err != nil {
		fmt.Println("probe: listen:", err)
		return
	}
	p := &Prober{}
	mux := http.NewServeMux()
	mux.Handle("GET "+ProbePath, p)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: time.Second}
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.Serve(ln) }()
	err = p.Probe(t.Context())
	_ = srv.Close()
	<-served
	if err != nil {
		fmt.Println("probe:", err)
		return
	}
	fmt.Println("probe: ok")
}

// probeAs runs TestCaptureProbeHelperProcess as uid in ns and returns its
// "probe:" line.
func probeAs(t *testing.T, ns netns.NsHandle, bin string, uid uint32) string {
	t.Helper()
	var out []byte
	inNS(t, ns, func() error {
		// Started from this thread, the process is born in ns.
		cmd := exec.CommandContext(t.Context(), bin, "-test.run=^TestCaptureProbeHelperProcess$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), probeHelperEnv+"=1")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
		var err error
		out, err = cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("helper as UID %d: %w\n%s", uid, err, out)
		}
		return nil
	})
	for line := range strings.Lines(string(out)) {
		if strings.HasPrefix(line, "probe: ") {
			return strings.TrimSpace(line)
		}
	}
	t.Fatalf("the helper printed no result:\n%s", out)
	return ""
}

// executableCopy is the test binary where another UID may run it (go test
// builds it in a directory only root may enter).
func executableCopy(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "weft-probe-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil { // the other UID must enter it
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "capture.test")
	if err := os.WriteFile(bin, data, 0o755); err != nil { // the other UID must run it
		t.Fatal(err)
	}
	return bin
}

func TestProbeFollowsTheRules(t *testing.T) {
	skipUnlessRoot(t)
	ns := newNS(t)
	bin := executableCopy(t)
	install := func(t *testing.T) { inNS(t, ns, func() error { return Install(Default()) }) }
	cleanup := func(t *testing.T) { inNS(t, ns, Cleanup) }
	nothing := func(*testing.T) {}
	refused := "probe: capture rules missing: 127.0.0.1:15007 refused"

	for _, step := range []struct {
		name    string
		act     func(t *testing.T)
		uid     uint32
		want    string
		wantToo string
	}{
		{"no rules yet", nothing, ProxyUID, refused, ""},
		{"installed", install, ProxyUID, "probe: ok", ""},
		{"another UID is not the proxy", nothing, ProxyUID + 1, refused, "the probe rule matches UID 1337 only and this proxy runs as UID 1338"},
		{"cleaned up", cleanup, ProxyUID, refused, "is table inet weft installed?"},
		{"reinstalled", install, ProxyUID, "probe: ok", ""},
	} {
		t.Run(step.name, func(t *testing.T) {
			step.act(t)
			got := probeAs(t, ns, bin, step.uid)
			if !strings.HasPrefix(got, step.want) || !strings.Contains(got, step.wantToo) {
				t.Fatalf("as UID %d: %q, want %q … %q", step.uid, got, step.want, step.wantToo)
			}
		})
	}
}
