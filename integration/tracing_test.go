package integration

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"

	"github.com/weftmesh/weft/controlplane"
	"github.com/weftmesh/weft/proxy"
)

// tracingSubnet is the test's 127.0.<n>.0/24.
const tracingSubnet = 113

// spanSink is an OTLP/gRPC collector keeping the spans it receives.
type spanSink struct {
	coltracepb.UnimplementedTraceServiceServer
	mu    sync.Mutex
	spans []*tracepb.Span
}

func (s *spanSink) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			s.spans = append(s.spans, ss.GetSpans()...)
		}
	}
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

func (s *spanSink) trace(traceID string) []*tracepb.Span {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*tracepb.Span
	for _, sp := range s.spans {
		if hex.EncodeToString(sp.GetTraceId()) == traceID {
			out = append(out, sp)
		}
	}
	return out
}

// startSpanSink serves the collector on addr and returns its address.
func startSpanSink(t *testing.T, addr string) (*spanSink, string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	sink := &spanSink{}
	srv := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(srv, sink)
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Stop(); <-done })
	return sink, ln.Addr().String()
}

// startHeaderEcho serves the backend app: it answers with the request
// headers it received, as JSON.
func startHeaderEcho(t *testing.T, addr string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(r.Header)
	})}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close(); <-done })
}

// TestTracingThroughTheMesh: weft-proxy configured as its flags do
// (--tracing-otlp-endpoint, --tracing-sampling) behind the control plane's
// real configuration of an HTTP service: one request from an app without
// trace headers makes one trace, frontend CLIENT span parent of backend
// SERVER span, and the app gets the SERVER span's context.
func TestTracingThroughTheMesh(t *testing.T) {
	f := &meshFixture{t: t, dir: t.TempDir(), net: fmt.Sprintf("127.0.%d.", tracingSubnet)}
	for _, d := range []string{"mesh", "state"} {
		if err := os.MkdirAll(filepath.Join(f.dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(f.dir, "mesh", "mesh.yaml"), withAppProtocol("http")(f.net))
	writeFile(t, filepath.Join(f.dir, "frontend-token"), "frontend-token\n")
	writeFile(t, filepath.Join(f.dir, "backend-token"), "backend-token\n")
	startHeaderEcho(t, f.net+"3:"+fmt.Sprint(backendAppPort))
	sink, endpoint := startSpanSink(t, f.net+"9:0")

	f.cpCfg = controlplane.Default()
	f.cpCfg.ConfigDir = filepath.Join(f.dir, "mesh")
	f.cpCfg.StateDir = filepath.Join(f.dir, "state")
	f.cpCfg.XDSAddress = f.net + "1:0"
	f.cpCfg.MonitorAddress = f.net + "1:0"
	f.startControlPlane()

	// The proxies as weft-proxy runs them with --tracing-otlp-endpoint
	// and --tracing-sampling 1.
	start := func(name, sa, addr string) *proxy.Proxy {
		cfg := proxy.Default()
		cfg.ControlPlaneAddress = f.cp.XDSAddr().String()
		cfg.CARootFile = filepath.Join(f.dir, "state", "root-cert.pem")
		cfg.Name, cfg.Namespace, cfg.ServiceAccount = name, "shop", sa
		cfg.TokenFile = filepath.Join(f.dir, sa+"-token")
		cfg.AdminAddress = addr + ":0"
		cfg.StatusAddress = addr + ":0"
		cfg.TracingOTLPEndpoint = endpoint
		cfg.TracingSampling = 1
		p := proxy.New(cfg, testLogger(t, name))
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		if err := p.Start(ctx); err != nil {
			t.Fatalf("starting proxy %s: %v", name, err)
		}
		t.Cleanup(func() { _ = p.Close() })
		return p
	}
	f.frontend = start("frontend-1", "frontend", f.net+"2")
	f.backend = start("backend-1", "backend", f.net+"3")
	waitFor(t, "both proxies ready", func() bool { return f.frontend.Ready() && f.backend.Ready() })

	client := &http.Client{Timeout: 10 * time.Second}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, fmt.Sprintf("http://%s2:%d/orders", f.net, frontendLocal), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var seen http.Header
	err = json.NewDecoder(resp.Body).Decode(&seen)
	_ = resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, body: %v; want 200 and the app's headers", resp.StatusCode, err)
	}
	tp := seen.Get("Traceparent")
	if len(tp) != 55 {
		t.Fatalf("app got traceparent %q, want one from the backend's sidecar", tp)
	}
	traceID, spanID := tp[3:35], tp[36:52]
	if seen.Get("X-B3-Traceid") != traceID || seen.Get("X-B3-Spanid") != spanID {
		t.Errorf("app got b3 %s/%s, want %s/%s as in traceparent", seen.Get("X-B3-Traceid"), seen.Get("X-B3-Spanid"), traceID, spanID)
	}
	var spans []*tracepb.Span
	waitFor(t, "two spans of the trace", func() bool {
		spans = sink.trace(traceID)
		return len(spans) >= 2
	})
	if len(spans) != 2 {
		t.Fatalf("got %d spans, want 2", len(spans))
	}
	var clientSpan, serverSpan *tracepb.Span
	for _, s := range spans {
		switch s.GetKind() {
		case tracepb.Span_SPAN_KIND_CLIENT:
			clientSpan = s
		case tracepb.Span_SPAN_KIND_SERVER:
			serverSpan = s
		}
	}
	if clientSpan == nil || serverSpan == nil {
		t.Fatalf("want a CLIENT and a SERVER span, got %v", spans)
	}
	if hex.EncodeToString(serverSpan.GetParentSpanId()) != hex.EncodeToString(clientSpan.GetSpanId()) {
		t.Errorf("backend's SERVER span is not a child of frontend's CLIENT span")
	}
	if hex.EncodeToString(serverSpan.GetSpanId()) != spanID {
		t.Errorf("the app's traceparent names span %s, want the SERVER span %x", spanID, serverSpan.GetSpanId())
	}
}
