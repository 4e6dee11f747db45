//go:build linux

package proxy

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// TestCaptureGatesReadiness starts a proxy with and without Capture in a
// network namespace of its own (the status port must be 15020 there) and
// no rules: with Capture, both /ready answer that the rules are missing;
// without, nothing changes.
func TestCaptureGatesReadiness(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: runs the proxy in a network namespace of its own (run as root, as CI does)")
	}
	for _, tt := range []struct {
		name      string
		capture   bool
		wantReady string
		wantProbe string // GET /capture-probe on the status port
	}{
		{"capture", true, "capture rules missing: 127.0.0.1:15007 refused", "not a capture probe of this proxy"},
		{"no capture", false, "waiting for the workload certificate", "404 page not found"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Default()
			cfg.Name = "backend-1"
			cfg.Capture = tt.capture
			cfg.StatusAddress = "127.0.0.1:15020"
			cfg.AdminAddress = "127.0.0.1:15000"
			// Nothing answers there: the proxy waits for its certificate
			// while the status port already answers.
			cfg.ControlPlaneAddress = "127.0.0.1:15012"
			cfg.CARootFile, cfg.TokenFile = writeRootsAndToken(t)
			ns := startInNewNetns(t, cfg)
			client := &http.Client{Transport: &http.Transport{DialContext: dialIn(ns), DisableKeepAlives: true}}

			get := func(url string) (int, string) {
				t.Helper()
				req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
				if err != nil {
					t.Fatal(err)
				}
				resp, err := client.Do(req)
				if err != nil {
					return 0, err.Error()
				}
				defer resp.Body.Close()
				body, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, string(body)
			}
			for _, url := range []string{"http://127.0.0.1:15020/ready", "http://127.0.0.1:15000/ready"} {
				var code int
				var body string
				giveUp := time.Now().Add(10 * time.Second)
				for {
					code, body = get(url)
					if strings.Contains(body, tt.wantReady) || time.Now().After(giveUp) {
						break
					}
					time.Sleep(20 * time.Millisecond)
				}
				if code != http.StatusServiceUnavailable || !strings.Contains(body, tt.wantReady) {
					t.Errorf("%s = %d %q, want 503 %q", url, code, body, tt.wantReady)
				}
			}
			if code, body := get("http://127.0.0.1:15020/capture-probe"); code != http.StatusNotFound || !strings.Contains(body, tt.wantProbe) {
				t.Errorf("/capture-probe = %d %q, want 404 %q", code, body, tt.wantProbe)
			}
		})
	}
}

// startInNewNetns starts the proxy on a thread in a new network namespace
// with loopback up, so that its ports are bound there, and stops it when
// the test ends.
func startInNewNetns(t *testing.T, cfg Config) netns.NsHandle {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	nsc := make(chan netns.NsHandle, 1)
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		ns, err := netns.New()
		if err != nil {
			errc <- err
			return
		}
		lo, err := netlink.LinkByName("lo")
		if err == nil {
			err = netlink.LinkSetUp(lo)
		}
		if err != nil {
			_ = ns.Close()
			errc <- err
			return
		}
		nsc <- ns
		// Blocks, waiting for the certificate, until the test ends.
		errc <- New(cfg, nil).Start(ctx)
	}()
	var ns netns.NsHandle
	select {
	case ns = <-nsc:
	case err := <-errc:
		t.Fatalf("network namespace: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		// Start has stopped what it began.
		if err := <-errc; err == nil {
			t.Error("Start succeeded without a CA")
		}
		_ = ns.Close()
	})
	return ns
}

// dialIn dials from ns.
func dialIn(ns netns.NsHandle) func(context.Context, string, string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		type result struct {
			conn net.Conn
			err  error
		}
		rc := make(chan result, 1)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
			if err := netns.Set(ns); err != nil {
				rc <- result{nil, err}
				return
			}
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			rc <- result{c, err}
		}()
		r := <-rc
		return r.conn, r.err
	}
}

// writeRootsAndToken writes a CA root (any certificate will do: no CA
// answers) and a token.
func writeRootsAndToken(t *testing.T) (roots, token string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test root"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	roots, token = filepath.Join(dir, "root-cert.pem"), filepath.Join(dir, "token")
	if err := os.WriteFile(roots, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(token, []byte("token"), 0o600); err != nil {
		t.Fatal(err)
	}
	return roots, token
}
