package status

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// startServer starts a status server on loopback with the probe table
// given as the injector writes it.
func startServer(t *testing.T, table string, cfg Config) string {
	t.Helper()
	probes, err := ParseProbes(table)
	if err != nil {
		t.Fatalf("probe table: %v", err)
	}
	cfg.Address = "127.0.0.1:0"
	cfg.Probes = probes
	s := New(cfg)
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return "http://" + s.Addr().String()
}

// get asks the status port as the kubelet does.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("User-Agent", "kube-probe/1.37")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func table(t *testing.T, probes map[string]any) string {
	t.Helper()
	b, err := json.Marshal(probes)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func port(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(strings.TrimPrefix(strings.TrimPrefix(addr, "http://"), "https://"))
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if _, err := fmt.Sscan(p, &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// healthApp is an app on loopback whose /healthz answers as told; "slow"
// answers only once the prober has given up.
type healthApp struct {
	mode atomic.Value // "ok", "fail", "slow"
	mu   sync.Mutex
	seen []*http.Request
}

func (a *healthApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.seen = append(a.seen, r.Clone(r.Context()))
	a.mu.Unlock()
	switch r.URL.Path {
	case "/moved":
		http.Redirect(w, r, "/healthz", http.StatusFound)
		return
	case "/healthz":
	default:
		http.NotFound(w, r)
		return
	}
	switch a.mode.Load() {
	case "fail":
		http.Error(w, "broken", http.StatusInternalServerError)
	case "slow":
		<-r.Context().Done()
	default:
		_, _ = w.Write([]byte("ok"))
	}
}

func (a *healthApp) last(t *testing.T) *http.Request {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.seen) == 0 {
		t.Fatal("the app saw no request")
	}
	return a.seen[len(a.seen)-1]
}

func TestHTTPProbeAnswersWithTheAppsStatus(t *testing.T) {
	app := &healthApp{}
	srv := httptest.NewServer(app)
	t.Cleanup(srv.Close)
	base := startServer(t, table(t, map[string]any{
		"/app-health/app/livez": map[string]any{"httpGet": map[string]any{"path": "/healthz", "port": port(t, srv.URL)}, "timeoutSeconds": 1},
	}), Config{})

	for _, tt := range []struct {
		mode     string
		wantCode int
		wantBody string
	}{
		{"ok", http.StatusOK, "app answered 200 OK on /healthz"},
		{"fail", http.StatusInternalServerError, "app answered 500"},
		{"slow", http.StatusServiceUnavailable, "probe timed out after 1s"},
		{"ok", http.StatusOK, "app answered 200 OK"},
	} {
		t.Run(tt.mode, func(t *testing.T) {
			app.mode.Store(tt.mode)
			code, body := get(t, base+"/app-health/app/livez")
			if code != tt.wantCode || !strings.Contains(body, tt.wantBody) {
				t.Fatalf("probe = %d %q, want %d %q", code, body, tt.wantCode, tt.wantBody)
			}
		})
	}
}

func TestHTTPProbeForwardsPathHeadersAndHost(t *testing.T) {
	app := &healthApp{}
	srv := httptest.NewServer(app)
	t.Cleanup(srv.Close)
	base := startServer(t, table(t, map[string]any{
		"/app-health/web/readyz": map[string]any{"httpGet": map[string]any{
			"path": "/healthz?deep=1", "port": port(t, srv.URL), "scheme": "HTTP", "host": "localhost",
			"httpHeaders": []map[string]string{
				{"name": "X-Probe", "value": "a"},
				{"name": "x-probe", "value": "b"},
				{"name": "Host", "value": "web.shop.local"},
			},
		}},
	}), Config{})

	code, body := get(t, base+"/app-health/web/readyz")
	if code != http.StatusOK {
		t.Fatalf("probe = %d %q", code, body)
	}
	r := app.last(t)
	if r.URL.RequestURI() != "/healthz?deep=1" {
		t.Errorf("app saw %q, want /healthz?deep=1", r.URL.RequestURI())
	}
	if got := r.Header.Values("X-Probe"); len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Errorf("X-Probe = %q, want [a b]", got)
	}
	if r.Host != "web.shop.local" {
		t.Errorf("Host = %q, want web.shop.local", r.Host)
	}
	if got := r.Header.Get("User-Agent"); got != "kube-probe/1.37" {
		t.Errorf("User-Agent = %q, want the kubelet's", got)
	}
}

func TestHTTPProbeTableHeadersOverrideTheKubelets(t *testing.T) {
	app := &healthApp{}
	srv := httptest.NewServer(app)
	t.Cleanup(srv.Close)
	base := startServer(t, table(t, map[string]any{
		"/app-health/app/livez": map[string]any{"httpGet": map[string]any{"path": "/healthz", "port": port(t, srv.URL),
			"httpHeaders": []map[string]string{{"name": "User-Agent", "value": "custom"}}}},
	}), Config{})
	if code, body := get(t, base+"/app-health/app/livez"); code != http.StatusOK {
		t.Fatalf("probe = %d %q", code, body)
	}
	if got := app.last(t).Header.Values("User-Agent"); len(got) != 1 || got[0] != "custom" {
		t.Errorf("User-Agent = %q, want only the table's", got)
	}
}

func TestHTTPSProbeAcceptsASelfSignedApp(t *testing.T) {
	app := &healthApp{}
	srv := httptest.NewTLSServer(app)
	t.Cleanup(srv.Close)
	base := startServer(t, table(t, map[string]any{
		"/app-health/app/startupz": map[string]any{"httpGet": map[string]any{"path": "/healthz", "port": port(t, srv.URL), "scheme": "HTTPS"}},
	}), Config{})
	if code, body := get(t, base+"/app-health/app/startupz"); code != http.StatusOK {
		t.Fatalf("probe = %d %q", code, body)
	}
	if r := app.last(t); r.TLS == nil {
		t.Error("the app was asked in plaintext, want TLS")
	}
}

func TestHTTPProbeRedirects(t *testing.T) {
	// A second server on another loopback address stands for "another
	// host": the status port must never ask it.
	var elsewhere atomic.Int32
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	other := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { elsewhere.Add(1) }))
	_ = other.Listener.Close()
	other.Listener = ln
	other.Start()
	t.Cleanup(other.Close)

	app := &healthApp{}
	mux := http.NewServeMux()
	mux.Handle("/", app)
	mux.HandleFunc("/away", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/healthz", http.StatusFound)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	p := port(t, srv.URL)
	base := startServer(t, table(t, map[string]any{
		"/app-health/same/livez":  map[string]any{"httpGet": map[string]any{"path": "/moved", "port": p}},
		"/app-health/other/livez": map[string]any{"httpGet": map[string]any{"path": "/away", "port": p}},
	}), Config{})

	if code, body := get(t, base+"/app-health/same/livez"); code != http.StatusOK || !strings.Contains(body, "/healthz") {
		t.Errorf("same-host redirect: %d %q, want it followed to /healthz", code, body)
	}
	// The kubelet counts a redirect to another host as success without
	// following it.
	if code, body := get(t, base+"/app-health/other/livez"); code != http.StatusFound {
		t.Errorf("redirect elsewhere: %d %q, want 302 passed on", code, body)
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("the other host was asked %d times, want never", n)
	}
}

func TestHTTPProbeToAClosedPortFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := port(t, ln.Addr().String())
	_ = ln.Close()
	base := startServer(t, table(t, map[string]any{
		"/app-health/app/livez":  map[string]any{"httpGet": map[string]any{"path": "/healthz", "port": p}},
		"/app-health/app/readyz": map[string]any{"grpc": map[string]any{"port": p}},
	}), Config{})
	for _, path := range []string{"/app-health/app/livez", "/app-health/app/readyz"} {
		if code, body := get(t, base+path); code != http.StatusServiceUnavailable || !strings.Contains(body, "refused") {
			t.Errorf("%s = %d %q, want 503 naming the refused connection", path, code, body)
		}
	}
}

func TestGRPCProbeFollowsTheHealthService(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := health.NewServer()
	gs := grpc.NewServer()
	healthpb.RegisterHealthServer(gs, hs)
	served := make(chan error, 1)
	go func() { served <- gs.Serve(ln) }()
	t.Cleanup(func() {
		gs.Stop()
		if err := <-served; err != nil {
			t.Errorf("gRPC app: %v", err)
		}
	})
	p := port(t, ln.Addr().String())
	base := startServer(t, table(t, map[string]any{
		"/app-health/app/readyz":   map[string]any{"grpc": map[string]any{"port": p, "service": "shop.Cart"}},
		"/app-health/app/livez":    map[string]any{"grpc": map[string]any{"port": p, "service": ""}},
		"/app-health/app/startupz": map[string]any{"grpc": map[string]any{"port": p, "service": "unknown"}},
	}), Config{})

	for _, tt := range []struct {
		name     string
		status   healthpb.HealthCheckResponse_ServingStatus
		path     string
		wantCode int
		wantBody string
	}{
		{"serving", healthpb.HealthCheckResponse_SERVING, "/app-health/app/readyz", http.StatusOK, "SERVING"},
		{"not serving", healthpb.HealthCheckResponse_NOT_SERVING, "/app-health/app/readyz", http.StatusServiceUnavailable, "NOT_SERVING"},
		{"serving again", healthpb.HealthCheckResponse_SERVING, "/app-health/app/readyz", http.StatusOK, "SERVING"},
		{"whole server", healthpb.HealthCheckResponse_SERVING, "/app-health/app/livez", http.StatusOK, "SERVING"},
		{"unknown service", healthpb.HealthCheckResponse_SERVING, "/app-health/app/startupz", http.StatusServiceUnavailable, "NotFound"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			hs.SetServingStatus("shop.Cart", tt.status)
			code, body := get(t, base+tt.path)
			if code != tt.wantCode || !strings.Contains(body, tt.wantBody) {
				t.Fatalf("probe = %d %q, want %d %q", code, body, tt.wantCode, tt.wantBody)
			}
		})
	}
}

func TestUnknownPathsAre404(t *testing.T) {
	base := startServer(t, `{"/app-health/app/livez": {"grpc": {"port": 1}}}`, Config{})
	for _, path := range []string{"/app-health/app/readyz", "/app-health/other/livez", "/app-health/", "/healthz", "/"} {
		if code, body := get(t, base+path); code != http.StatusNotFound {
			t.Errorf("%s = %d %q, want 404", path, code, body)
		}
	}
}

func TestReadyFollowsReadiness(t *testing.T) {
	var notReady atomic.Pointer[error]
	waiting := errors.New("waiting for the workload certificate")
	notReady.Store(&waiting)
	base := startServer(t, "", Config{Ready: func() error { return *notReady.Load() }})

	code, body := get(t, base+"/ready")
	if code != http.StatusServiceUnavailable || body != "waiting for the workload certificate\n" {
		t.Errorf("/ready before = %d %q, want 503 with the reason on one line", code, body)
	}
	var ready error
	notReady.Store(&ready)
	if code, body := get(t, base+"/ready"); code != http.StatusOK {
		t.Errorf("/ready after = %d %q, want 200", code, body)
	}
}

func TestMetricsServesTheRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "weft_test_total", Help: "A test counter."})
	reg.MustRegister(c)
	c.Add(3)
	base := startServer(t, "", Config{Metrics: reg})
	if code, body := get(t, base+"/metrics"); code != http.StatusOK || !strings.Contains(body, "weft_test_total 3") {
		t.Errorf("/metrics = %d %.300q, want the registry's counter", code, body)
	}
}

func TestCloseEndsAProbeInFlight(t *testing.T) {
	app := &healthApp{}
	app.mode.Store("slow")
	srv := httptest.NewServer(app)
	t.Cleanup(srv.Close)
	probes, err := ParseProbes(table(t, map[string]any{
		"/app-health/app/livez": map[string]any{"httpGet": map[string]any{"path": "/healthz", "port": port(t, srv.URL)}, "timeoutSeconds": 3600},
	}))
	if err != nil {
		t.Fatal(err)
	}
	s := New(Config{Address: "127.0.0.1:0", Probes: probes})
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+s.Addr().String()+"/app-health/app/livez", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
		}
	}()
	waitUntil(t, func() bool {
		app.mu.Lock()
		defer app.mu.Unlock()
		return len(app.seen) > 0
	})
	// Close returns only once the hour-long probe has been ended; goleak
	// (TestMain) checks nothing is left behind.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	<-done
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	giveUp := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(giveUp) {
			t.Fatal("gave up waiting")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
