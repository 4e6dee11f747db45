package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/weftmesh/weft/controlplane"
	"github.com/weftmesh/weft/proxy"
	"github.com/weftmesh/weft/proxy/explain"
)

// explainNet is this test's own loopback subnet.
const explainNet = "127.0.213."

// explainMeshYAML is a standalone mesh: frontend-1 and intruder-1 call
// the HTTP Service backend (backend-1); an HTTPRoute sends x-version: v2
// to backend-v2 (backend-v2-1) and splits /split 50/50; an ALLOW policy
// admits GET /public and /api/, /split/ from the frontend's service
// account on backend, and a DENY policy refuses /admin everywhere.
func explainMeshYAML() string {
	tok := func(s string) string {
		sum := sha256.Sum256([]byte(s + "-token"))
		return hex.EncodeToString(sum[:])
	}
	var b strings.Builder
	for _, svc := range []string{"backend", "backend-v2"} {
		fmt.Fprintf(&b, `apiVersion: v1
kind: Service
metadata: {name: %[1]s, namespace: shop}
spec:
  selector: {app: %[1]s}
  ports:
  - {name: web, port: 9000, appProtocol: http}
---
`, svc)
	}
	for _, w := range []struct{ name, sa, host, outbound string }{
		{"backend-1", "backend", "3", ""},
		{"backend-v2-1", "backend-v2", "5", ""},
		{"frontend-1", "frontend", "2", "backend"},
		{"intruder-1", "intruder", "4", "backend"},
	} {
		fmt.Fprintf(&b, `apiVersion: mesh.weft.dev/v1alpha1
kind: Workload
metadata: {name: %[1]s, namespace: shop, labels: {app: %[2]s}}
spec:
  serviceAccount: %[2]s
  address: %[3]s%[4]s
  localAddress: %[3]s%[4]s
  bootstrapTokenSHA256: %[5]s
`, w.name, w.sa, explainNet, w.host, tok(w.sa))
		if w.outbound != "" {
			fmt.Fprintf(&b, "  outbound:\n  - {service: %s, port: 9000}\n", w.outbound)
		} else {
			b.WriteString("  ports:\n  - {name: web, port: 9000, targetPort: 19000}\n")
		}
		b.WriteString("---\n")
	}
	b.WriteString(`apiVersion: mesh.weft.dev/v1alpha1
kind: PeerAuthentication
metadata: {name: default, namespace: weft-system}
spec:
  mtls: {mode: STRICT}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: versions, namespace: shop}
spec:
  parentRefs: [{group: "", kind: Service, name: backend, port: 9000}]
  rules:
  - matches: [{headers: [{name: x-version, value: v2}]}]
    backendRefs: [{name: backend-v2, port: 9000}]
  - matches: [{path: {type: PathPrefix, value: /split}}]
    backendRefs:
    - {name: backend, port: 9000, weight: 50}
    - {name: backend-v2, port: 9000, weight: 50}
---
apiVersion: mesh.weft.dev/v1alpha1
kind: AuthorizationPolicy
metadata: {name: allow-frontend, namespace: shop}
spec:
  selector: {matchLabels: {app: backend}}
  action: ALLOW
  rules:
  - from: [{serviceAccounts: [frontend]}]
    to: [{methods: [GET], paths: [{exact: /public}]}]
  - from: [{serviceAccounts: [frontend]}]
    to: [{paths: [{prefix: /api/}, {prefix: /split/}]}]
---
apiVersion: mesh.weft.dev/v1alpha1
kind: AuthorizationPolicy
metadata: {name: deny-admin, namespace: shop}
spec:
  action: DENY
  rules:
  - to: [{paths: [{exact: /admin, ignoreCase: true}, {prefix: /admin/, ignoreCase: true}]}]
`)
	return b.String()
}

// explainMesh is a control plane and four sidecars in this process, over
// real sockets, TLS and gRPC, with two named HTTP apps behind the
// backends.
type explainMesh struct {
	t       *testing.T
	proxies map[string]*proxy.Proxy
}

func newExplainMesh(t *testing.T) *explainMesh {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"mesh", "state"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	writeTestFile(t, filepath.Join(dir, "mesh", "mesh.yaml"), explainMeshYAML())
	for _, sa := range []string{"backend", "backend-v2", "frontend", "intruder"} {
		writeTestFile(t, filepath.Join(dir, sa+"-token"), sa+"-token\n")
	}
	explainApp(t, explainNet+"3:19000", "backend-1")
	explainApp(t, explainNet+"5:19000", "backend-v2")

	cfg := controlplane.Default()
	cfg.ConfigDir, cfg.StateDir = filepath.Join(dir, "mesh"), filepath.Join(dir, "state")
	cfg.XDSAddress, cfg.MonitorAddress = explainNet+"1:0", explainNet+"1:0"
	cp := controlplane.New(cfg, testLog(t, "controlplane"))
	if err := cp.Start(t.Context()); err != nil {
		t.Fatalf("starting the control plane: %v", err)
	}
	t.Cleanup(func() { _ = cp.Close() })

	m := &explainMesh{t: t, proxies: map[string]*proxy.Proxy{}}
	for _, w := range []struct{ name, sa, host string }{
		{"backend-1", "backend", "3"}, {"backend-v2-1", "backend-v2", "5"},
		{"frontend-1", "frontend", "2"}, {"intruder-1", "intruder", "4"},
	} {
		pc := proxy.Default()
		pc.ControlPlaneAddress = cp.XDSAddr().String()
		pc.CARootFile = filepath.Join(dir, "state", "root-cert.pem")
		pc.Name, pc.Namespace, pc.ServiceAccount = w.name, "shop", w.sa
		pc.TokenFile = filepath.Join(dir, w.sa+"-token")
		pc.AdminAddress = explainNet + w.host + ":0"
		pc.StatusAddress = explainNet + w.host + ":0"
		p := proxy.New(pc, testLog(t, w.name))
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		err := p.Start(ctx)
		cancel()
		if err != nil {
			t.Fatalf("starting proxy %s: %v", w.name, err)
		}
		t.Cleanup(func() { _ = p.Close() })
		m.proxies[w.name] = p
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, p := range m.proxies {
		for !p.Ready() {
			if time.Now().After(deadline) {
				t.Fatal("timed out waiting for the proxies to be ready")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return m
}

func (m *explainMesh) admin(name string) string {
	return "http://" + m.proxies[name].AdminAddr().String()
}

// send sends one raw HTTP/1.1 request, written as given (no client
// library cleans the path), to addr; status 0 when no response came.
func send(t *testing.T, addr, method, target string, headers []string) (int, string, error) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: backend\r\nConnection: close\r\n", method, target)
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(conn, b.String()); err != nil {
		return 0, "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), nil
}

// denials reads a proxy's weft_proxy_authz_denied_total by policy and
// reason.
func (m *explainMesh) denials(name string) map[string]string {
	m.t.Helper()
	req, err := http.NewRequestWithContext(m.t.Context(), http.MethodGet, m.admin(name)+"/metrics", nil)
	if err != nil {
		m.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		m.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	out := map[string]string{}
	re := regexp.MustCompile(`(?m)^weft_proxy_authz_denied_total\{[^}]*policy="([^"]*)",reason="([^"]*)"\} (\S+)$`)
	for _, s := range re.FindAllStringSubmatch(string(body), -1) {
		out[s[1]+"|"+s[2]] = s[3]
	}
	return out
}

// explainJSON runs "weftctl explain -o json" and decodes its report.
func explainJSON(t *testing.T, args ...string) (*explain.Report, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), append([]string{"explain", "-o", "json"}, args...), strings.NewReader(""), &stdout, &stderr)
	if code != 0 {
		return nil, stderr.String(), code
	}
	var rep explain.Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("weftctl explain -o json printed no report: %v\n%s", err, stdout.String())
	}
	return &rep, stderr.String(), code
}

func explainApp(t *testing.T, addr, name string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, name)
	})}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close(); <-done })
}

func writeTestFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func testLog(t *testing.T, name string) *slog.Logger {
	return slog.New(slog.NewTextHandler(explainLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo})).With("process", name)
}

// explainLogWriter sends log lines to t.Log, shown only for failed tests.
type explainLogWriter struct{ t *testing.T }

func (w explainLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
