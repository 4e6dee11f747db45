package integration

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weftmesh/weft/controlplane"
	"github.com/weftmesh/weft/proxy"
)

// meshFixture is a control plane and two sidecars (frontend, backend) with
// an echo server as the backend app, all in this process but talking over
// real sockets, TLS and gRPC on a 127.0.<n>.0/24 of the test's own.
type meshFixture struct {
	t        *testing.T
	dir      string
	net      string // "127.0.<n>."
	cp       *controlplane.ControlPlane
	cpCfg    controlplane.Config
	frontend *proxy.Proxy
	backend  *proxy.Proxy
}

const (
	backendMeshPort = 9000
	backendAppPort  = 19000
	frontendLocal   = 9000
)

func tokenDigest(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func meshYAML(netPrefix string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: backend, namespace: shop}
spec:
  selector: {app: backend}
  ports:
  - {name: tcp-echo, port: %[2]d}
---
apiVersion: mesh.weft.dev/v1alpha1
kind: Workload
metadata: {name: backend-1, namespace: shop, labels: {app: backend}}
spec:
  serviceAccount: backend
  address: %[1]s3
  localAddress: %[1]s3
  ports:
  - {name: tcp-echo, port: %[2]d, targetPort: %[3]d}
  bootstrapTokenSHA256: %[4]s
---
apiVersion: mesh.weft.dev/v1alpha1
kind: Workload
metadata: {name: frontend-1, namespace: shop, labels: {app: frontend}}
spec:
  serviceAccount: frontend
  address: %[1]s2
  localAddress: %[1]s2
  outbound:
  - {service: backend, port: %[2]d}
  bootstrapTokenSHA256: %[5]s
---
# The fixture's mesh refuses plaintext, as production meshes do once
# adopted; policy_test.go relaxes it per namespace.
apiVersion: mesh.weft.dev/v1alpha1
kind: PeerAuthentication
metadata: {name: default, namespace: weft-system}
spec:
  mtls: {mode: STRICT}
`, netPrefix, backendMeshPort, backendAppPort, tokenDigest("backend-token"), tokenDigest("frontend-token"))
}

func newMesh(t *testing.T, subnet int) *meshFixture {
	t.Helper()
	return newMeshWith(t, subnet, meshYAML, func(t *testing.T, addr string) { startEcho(t, addr) })
}

// newMeshWith is newMesh with another mesh YAML (made from the subnet's
// "127.0.<n>." prefix) and another backend app, started on the backend's
// app address.
func newMeshWith(t *testing.T, subnet int, yaml func(netPrefix string) string, startApp func(t *testing.T, addr string)) *meshFixture {
	t.Helper()
	f := &meshFixture{t: t, dir: t.TempDir(), net: fmt.Sprintf("127.0.%d.", subnet)}
	for _, d := range []string{"mesh", "state"} {
		if err := os.MkdirAll(filepath.Join(f.dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(f.dir, "mesh", "mesh.yaml"), yaml(f.net))
	writeFile(t, filepath.Join(f.dir, "frontend-token"), "frontend-token\n")
	writeFile(t, filepath.Join(f.dir, "backend-token"), "backend-token\n")

	startApp(t, f.net+"3:"+fmt.Sprint(backendAppPort))

	f.cpCfg = controlplane.Default()
	f.cpCfg.ConfigDir = filepath.Join(f.dir, "mesh")
	f.cpCfg.StateDir = filepath.Join(f.dir, "state")
	f.cpCfg.XDSAddress = f.net + "1:0"
	f.cpCfg.MonitorAddress = f.net + "1:0"
	f.startControlPlane()
	// Later restarts reuse the port the first start was given.
	f.cpCfg.XDSAddress = f.cp.XDSAddr().String()

	f.frontend = f.startProxy("frontend-1", "frontend", f.net+"2")
	f.backend = f.startProxy("backend-1", "backend", f.net+"3")
	waitFor(t, "both proxies ready", func() bool {
		for _, p := range []*proxy.Proxy{f.frontend, f.backend} {
			select {
			case err := <-p.Errors():
				t.Fatalf("proxy failed: %v", err)
			default:
			}
		}
		return f.frontend.Ready() && f.backend.Ready()
	})
	return f
}

func (f *meshFixture) startControlPlane() {
	f.t.Helper()
	cp := controlplane.New(f.cpCfg, testLogger(f.t, "controlplane"))
	if err := cp.Start(f.t.Context()); err != nil {
		f.t.Fatalf("starting control plane: %v", err)
	}
	f.cp = cp
	f.t.Cleanup(func() { _ = cp.Close() })
}

func (f *meshFixture) startProxy(name, sa, addr string) *proxy.Proxy {
	f.t.Helper()
	cfg := proxy.Default()
	cfg.ControlPlaneAddress = f.cp.XDSAddr().String()
	cfg.CARootFile = filepath.Join(f.dir, "state", "root-cert.pem")
	cfg.Name, cfg.Namespace, cfg.ServiceAccount = name, "shop", sa
	cfg.TokenFile = filepath.Join(f.dir, sa+"-token")
	cfg.AdminAddress = addr + ":0"
	cfg.StatusAddress = addr + ":0" // loopback, never :15020 on every address
	p := proxy.New(cfg, testLogger(f.t, name))
	ctx, cancel := context.WithTimeout(f.t.Context(), 30*time.Second)
	defer cancel()
	if err := p.Start(ctx); err != nil {
		f.t.Fatalf("starting proxy %s: %v", name, err)
	}
	f.t.Cleanup(func() { _ = p.Close() })
	return p
}

// frontendDial connects as the frontend app does: to its sidecar's
// outbound listener for the backend service.
func (f *meshFixture) frontendDial() net.Conn {
	f.t.Helper()
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("%s2:%d", f.net, frontendLocal), 5*time.Second)
	if err != nil {
		f.t.Fatalf("dialling the frontend sidecar: %v", err)
	}
	f.t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// roundTrip sends a line and returns the echo server's answer.
func roundTrip(conn net.Conn, r *bufio.Reader, msg string) (string, error) {
	if err := conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return "", err
	}
	if _, err := io.WriteString(conn, msg+"\n"); err != nil {
		return "", err
	}
	line, err := r.ReadString('\n')
	return strings.TrimSuffix(line, "\n"), err
}

func (f *meshFixture) mustRoundTrip(conn net.Conn, r *bufio.Reader, msg string) {
	f.t.Helper()
	got, err := roundTrip(conn, r, msg)
	if err != nil {
		f.t.Fatalf("round trip %q: %v", msg, err)
	}
	if want := "echo: " + msg; got != want {
		f.t.Fatalf("round trip: got %q, want %q", got, want)
	}
}

// startEcho serves the backend app: it answers every line with "echo: " and
// the line.
func startEcho(t *testing.T, addr string) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { _ = ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				r := bufio.NewReader(conn)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if _, err := io.WriteString(conn, "echo: "+line); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln
}

// metrics returns a proxy's /metrics page.
func metrics(t *testing.T, p *proxy.Proxy) string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+p.AdminAddr().String()+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func testLogger(t *testing.T, name string) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: testLogLevel()})).With("process", name)
}

// tWriter sends log lines to t.Log, so they show only for failed tests.
type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// testLogLevel is debug when WEFT_TEST_LOG=debug, info otherwise.
func testLogLevel() slog.Level {
	if os.Getenv("WEFT_TEST_LOG") == "debug" {
		return slog.LevelDebug
	}
	return slog.LevelInfo
}
