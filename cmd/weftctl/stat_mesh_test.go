package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weftmesh/weft/controlplane"
	"github.com/weftmesh/weft/proxy"
)

// statNet is this test's own loopback subnet.
const statNet = "127.0.214."

// statMeshYAML is a standalone mesh: frontend-1 calls the HTTP Service
// backend (backend-1) and the TCP Service db (db-1), over mTLS.
func statMeshYAML() string {
	tok := func(s string) string {
		sum := sha256.Sum256([]byte(s + "-token"))
		return hex.EncodeToString(sum[:])
	}
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: backend, namespace: shop}
spec:
  selector: {app: backend}
  ports:
  - {name: web, port: 9000, appProtocol: http}
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: shop}
spec:
  selector: {app: db}
  ports:
  - {name: tcp, port: 5432, appProtocol: tcp}
---
apiVersion: mesh.weft.dev/v1alpha1
kind: Workload
metadata: {name: backend-1, namespace: shop, labels: {app: backend}}
spec:
  serviceAccount: backend
  address: %[1]s3
  localAddress: %[1]s3
  bootstrapTokenSHA256: %[2]s
  ports:
  - {name: web, port: 9000, targetPort: 19000}
---
apiVersion: mesh.weft.dev/v1alpha1
kind: Workload
metadata: {name: db-1, namespace: shop, labels: {app: db}}
spec:
  serviceAccount: db
  address: %[1]s4
  localAddress: %[1]s4
  bootstrapTokenSHA256: %[3]s
  ports:
  - {name: tcp, port: 5432, targetPort: 15432}
---
apiVersion: mesh.weft.dev/v1alpha1
kind: Workload
metadata: {name: frontend-1, namespace: shop, labels: {app: frontend}}
spec:
  serviceAccount: frontend
  address: %[1]s2
  localAddress: %[1]s2
  bootstrapTokenSHA256: %[4]s
  outbound:
  - {service: backend, port: 9000}
  - {service: db, port: 5432}
---
apiVersion: mesh.weft.dev/v1alpha1
kind: PeerAuthentication
metadata: {name: default, namespace: weft-system}
spec:
  mtls: {mode: STRICT}
`, statNet, tok("backend"), tok("db"), tok("frontend"))
}

// statMesh is a control plane and three sidecars in this process.
type statMesh struct {
	proxies map[string]*proxy.Proxy
}

func newStatMesh(t *testing.T) *statMesh {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"mesh", "state"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	writeTestFile(t, filepath.Join(dir, "mesh", "mesh.yaml"), statMeshYAML())
	for _, sa := range []string{"backend", "db", "frontend"} {
		writeTestFile(t, filepath.Join(dir, sa+"-token"), sa+"-token\n")
	}
	startLatencyApp(t, statNet+"3:19000")
	startTCPEcho(t, statNet+"4:15432")

	cfg := controlplane.Default()
	cfg.ConfigDir, cfg.StateDir = filepath.Join(dir, "mesh"), filepath.Join(dir, "state")
	cfg.XDSAddress, cfg.MonitorAddress = statNet+"1:0", statNet+"1:0"
	cp := controlplane.New(cfg, testLog(t, "controlplane"))
	if err := cp.Start(t.Context()); err != nil {
		t.Fatalf("starting the control plane: %v", err)
	}
	t.Cleanup(func() { _ = cp.Close() })

	m := &statMesh{proxies: map[string]*proxy.Proxy{}}
	for _, w := range []struct{ name, sa, host string }{
		{"backend-1", "backend", "3"}, {"db-1", "db", "4"}, {"frontend-1", "frontend", "2"},
	} {
		pc := proxy.Default()
		pc.ControlPlaneAddress = cp.XDSAddr().String()
		pc.CARootFile = filepath.Join(dir, "state", "root-cert.pem")
		pc.Name, pc.Namespace, pc.ServiceAccount = w.name, "shop", w.sa
		pc.TokenFile = filepath.Join(dir, w.sa+"-token")
		pc.AdminAddress = statNet + w.host + ":0"
		pc.StatusAddress = statNet + w.host + ":0"
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

func (m *statMesh) admin(name string) string {
	return "http://" + m.proxies[name].AdminAddr().String()
}

// metricsText is a sidecar's /metrics, as weftctl reads it.
func (m *statMesh) metricsText(t *testing.T, name string) []byte {
	t.Helper()
	body, err := proxyGet(t.Context(), nil, proxyTarget{URL: m.admin(name)}, "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// settledScrape scrapes backend-1 once it counts at least atLeast
// requests to shop/backend and two scrapes 100 ms apart agree: a sidecar
// counts a request when it ends, which can be just after its client has
// the answer.
func (m *statMesh) settledScrape(t *testing.T, at time.Time, atLeast float64) *scrape {
	t.Helper()
	prev := -1.0
	for deadline := time.Now().Add(10 * time.Second); ; {
		s, err := parseScrape(m.metricsText(t, "backend-1"), at)
		if err != nil {
			t.Fatal(err)
		}
		n := 0.0
		if w := s.workloads[workloadKey{"shop", "backend"}]; w != nil {
			n = w.requests
		}
		if n >= atLeast && n == prev {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("backend-1 counts %v requests to shop/backend, want %v or more, settled", n, atLeast)
		}
		prev = n
		time.Sleep(100 * time.Millisecond)
	}
}

// startLatencyApp answers /slow after 300 ms, /fail with 500, anything
// else at once.
func startLatencyApp(t *testing.T, addr string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/slow":
			time.Sleep(300 * time.Millisecond)
		case "/fail":
			w.WriteHeader(http.StatusInternalServerError)
		}
		_, _ = io.WriteString(w, "ok")
	})}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close(); <-done })
}

// startTCPEcho echoes every connection back to its client.
func startTCPEcho(t *testing.T, addr string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			})
		}
	})
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
}

// waitRoutable waits until the frontend's app reaches the backend.
func waitRoutable(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, _, err := send(t, statNet+"2:9000", "GET", "/warmup", nil)
		if err == nil && code == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the frontend never reached the backend: %d %v", code, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sendN sends n GETs of path from the frontend's app to backend, each
// answered with want.
func sendN(t *testing.T, path string, n, want int) {
	t.Helper()
	for range n {
		code, _, err := send(t, statNet+"2:9000", "GET", path, nil)
		if err != nil || code != want {
			t.Fatalf("GET %s: %d %v, want %d", path, code, err, want)
		}
	}
}

// tcpExchange sends msg over the frontend's outbound listener for db and
// reads the echo.
func tcpExchange(t *testing.T, msg string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", statNet+"2:5432", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatal(err)
	}
	_ = c.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil || string(got) != msg {
		t.Fatalf("TCP echo through the mesh: %q %v, want %q", got, err, msg)
	}
}

func TestStatMesh(t *testing.T) {
	m := newStatMesh(t)
	// Traffic before the first scrape must not count in the window; the
	// first requests also wait for the frontend's routes and endpoints.
	waitRoutable(t)
	sendN(t, "/warmup", 7, http.StatusOK)
	t0 := time.Now()
	first := m.settledScrape(t, t0, 7)
	before := first.workloads[workloadKey{"shop", "backend"}]
	// In the window: 70 fast, 20 slow (300 ms), 10 failing.
	sendN(t, "/fast", 70, http.StatusOK)
	sendN(t, "/slow", 20, http.StatusOK)
	sendN(t, "/fail", 10, http.StatusInternalServerError)
	second := m.settledScrape(t, t0.Add(10*time.Second), before.requests+100)

	t.Run("two scrapes", func(t *testing.T) {
		rows := aggregate([]podScrapes{{before: first, after: second}})
		if len(rows) != 1 {
			t.Fatalf("rows %+v, want one for shop/backend", rows)
		}
		r := rows[0]
		if r.namespace != "shop" || r.name != "backend" {
			t.Fatalf("workload %s/%s, want shop/backend (from the sidecar's --name backend-1)", r.namespace, r.name)
		}
		checks := []struct {
			name     string
			got      float64
			min, max float64
		}{
			{"requests", r.requests, 100, 100},
			{"rps (100 requests in 10 s)", r.rps, 10, 10},
			{"success (10 of 100 failed)", r.success, 0.9, 0.9},
			{"mTLS share", r.mtls, 1, 1},
			// 70% are fast: the median is below the slow requests' bucket.
			{"p50", r.p50, 0, 0.25},
			// The slowest 20% took 300 ms: bucket (0.25, 0.5].
			{"p95", r.p95, 0.25, 0.5},
			{"p99", r.p99, 0.25, 0.5},
		}
		for _, c := range checks {
			if !(c.got >= c.min && c.got <= c.max) {
				t.Errorf("%s = %v, want within [%v, %v]", c.name, c.got, c.min, c.max)
			}
		}
	})

	t.Run("since start", func(t *testing.T) {
		rows := aggregate([]podScrapes{{after: second}})
		if len(rows) != 1 || rows[0].requests != before.requests+100 {
			t.Fatalf("rows %+v, want shop/backend with %v requests", rows, before.requests+100)
		}
	})

	t.Run("weftctl stat --since 0", func(t *testing.T) {
		var stdout, stderr strings.Builder
		code := run(t.Context(), []string{"stat", "--since", "0", "--admin-url", m.admin("backend-1"), "--admin-url", m.admin("frontend-1")},
			strings.NewReader(""), &stdout, &stderr)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
		out := stdout.String()
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "NAMESPACE") {
			t.Fatalf("stat printed\n%s\nwant a header and one row (the frontend serves nothing)", out)
		}
		f := strings.Fields(lines[1])
		// NAMESPACE WORKLOAD PODS REQUESTS SUCCESS RPS P50 P95 P99 MTLS
		total := before.requests + 100
		success := fmt.Sprintf("%.2f%%", 100*(total-before.failed-10)/total)
		if len(f) != 10 || f[0] != "shop" || f[1] != "backend" || f[2] != "1" || f[3] != fmt.Sprint(total) || f[4] != success || f[9] != "100.00%" {
			t.Errorf("row %q, want shop backend 1 %v %s ... 100.00%%", lines[1], total, success)
		}
	})

	t.Run("weftctl stat --since 1s", func(t *testing.T) {
		var stdout, stderr strings.Builder
		code := run(t.Context(), []string{"stat", "--since", "1s", "--admin-url", m.admin("backend-1")},
			strings.NewReader(""), &stdout, &stderr)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
		lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
		if len(lines) != 2 || strings.Join(strings.Fields(lines[1]), " ") != "shop backend 1 0 - 0.0 - - - -" {
			t.Errorf("an idle window printed\n%s\nwant shop/backend with 0 requests, 0.0 rps, and no shares or latencies", stdout.String())
		}
		if !strings.Contains(stderr.String(), "reading 1 sidecars again in 1s") {
			t.Errorf("no progress on stderr: %q", stderr.String())
		}
	})

	t.Run("status port", func(t *testing.T) {
		// Prometheus scrapes :15020/metrics: the same registry, with both
		// reporters' labels.
		status := "http://" + m.proxies["frontend-1"].StatusAddr().String()
		body, err := proxyGet(t.Context(), nil, proxyTarget{URL: status}, "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		want := `weft_requests_total{destination_namespace="shop",destination_principal="spiffe://cluster.local/ns/shop/sa/backend",` +
			`destination_service="backend.shop.svc.cluster.local",destination_workload="backend",grpc_status="",reporter="source",` +
			`response_code="500",response_flags="-",source_namespace="shop",source_principal="spiffe://cluster.local/ns/shop/sa/frontend",` +
			`source_workload="frontend"} 10`
		if !strings.Contains(string(body), want+"\n") {
			t.Errorf("the frontend's status port has no\n%s\nin\n%s", want, grepLines(string(body), "weft_requests_total{"))
		}
	})

	t.Run("dashboard", func(t *testing.T) {
		tcpExchange(t, "select 1")
		var all strings.Builder
		for name := range m.proxies {
			all.Write(m.metricsText(t, name))
		}
		checkDashboard(t, "../../install/grafana/weft-dashboard.json", all.String())
	})
}

// grepLines returns the lines of text that start with prefix.
func grepLines(text, prefix string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
