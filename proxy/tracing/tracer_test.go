package tracing_test

import (
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/weftmesh/weft/proxy/tracing"
)

const (
	tid = "4bf92f3577b34da6a3ce929d0e0e4736"
	sid = "00f067aa0ba902b7"
)

// deadEndpoint is a loopback port nobody listens on.
func deadEndpoint(t *testing.T) string {
	t.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

func newTracer(t *testing.T, cfg tracing.Config) *tracing.Tracer {
	t.Helper()
	tr, err := tracing.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := tr.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return tr
}

// TestNilTracerLeavesHeaders: without an endpoint there is no Tracer, and
// its nil Span changes nothing.
func TestNilTracerLeavesHeaders(t *testing.T) {
	tr, err := tracing.New(t.Context(), tracing.Config{Sampling: 1})
	if err != nil || tr != nil {
		t.Fatalf("New without endpoint = %v, %v; want nil, nil", tr, err)
	}
	r := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/", nil)
	r.Header.Set("Traceparent", "00-"+tid+"-"+sid+"-01")
	span := tr.Start(r, tracing.Server)
	span.SetName("x")
	h := r.Header.Clone()
	span.Inject(h)
	span.End(200, "", "")
	if got := h.Get("Traceparent"); got != "00-"+tid+"-"+sid+"-01" || len(h) != 1 {
		t.Errorf("headers %v, want the incoming traceparent alone", h)
	}
	if err := tr.Close(); err != nil {
		t.Errorf("Close of a nil Tracer: %v", err)
	}
}

// TestInject: what the upstream request carries for each incoming set of
// trace headers, as the proxy writes it.
func TestInject(t *testing.T) {
	for _, tc := range []struct {
		name     string
		sampling float64
		header   http.Header
		// wantTrace is the continued trace, "" for a new one.
		wantTrace   string
		wantSampled bool
		// wantParent is x-b3-parentspanid, "" for none.
		wantParent string
		// check looks at the rest.
		check func(t *testing.T, h http.Header)
	}{
		{name: "new trace sampled", sampling: 1, header: http.Header{}, wantSampled: true},
		{name: "new trace not sampled", sampling: 0, header: http.Header{}},
		{name: "traceparent sampled obeyed at sampling 0", sampling: 0,
			header:    http.Header{"Traceparent": {"00-" + tid + "-" + sid + "-01"}, "Tracestate": {"a=1,b=2"}},
			wantTrace: tid, wantSampled: true, wantParent: sid,
			check: func(t *testing.T, h http.Header) {
				if got := h.Get("Tracestate"); got != "a=1,b=2" {
					t.Errorf("tracestate %q, want a=1,b=2", got)
				}
				if _, ok := h["B3"]; ok {
					t.Error("b3 written although the request did not use it")
				}
			}},
		{name: "traceparent not sampled obeyed at sampling 1", sampling: 1,
			header:    http.Header{"Traceparent": {"00-" + tid + "-" + sid + "-00"}},
			wantTrace: tid, wantParent: sid},
		{name: "b3 deferred decided by sampling 1", sampling: 1,
			header:    http.Header{"X-B3-Traceid": {tid}, "X-B3-Spanid": {sid}},
			wantTrace: tid, wantSampled: true, wantParent: sid},
		{name: "b3 deferred decided by sampling 0", sampling: 0,
			header:    http.Header{"X-B3-Traceid": {tid}, "X-B3-Spanid": {sid}},
			wantTrace: tid, wantParent: sid},
		{name: "b3 single rewritten", sampling: 1,
			header:    http.Header{"B3": {tid + "-" + sid + "-1"}},
			wantTrace: tid, wantSampled: true, wantParent: sid,
			check: func(t *testing.T, h http.Header) {
				want := tid + "-" + h.Get("X-B3-Spanid") + "-1-" + sid
				if got := h.Get("B3"); got != want {
					t.Errorf("b3 %q, want %q", got, want)
				}
			}},
		{name: "b3 sampling state alone forces a sampled trace", sampling: 0,
			header: http.Header{"B3": {"1"}}, wantSampled: true,
			check: func(t *testing.T, h http.Header) {
				if got := h.Get("B3"); !strings.HasPrefix(got, h.Get("X-B3-Traceid")+"-") {
					t.Errorf("b3 %q not rewritten with the new trace", got)
				}
			}},
		{name: "x-b3-sampled alone forces a sampled trace", sampling: 0,
			header: http.Header{"X-B3-Sampled": {"1"}}, wantSampled: true},
		{name: "x-b3-sampled 0 alone: a trace not sampled", sampling: 1,
			header: http.Header{"X-B3-Sampled": {"0"}}},
		{name: "debug flag replaced by sampled", sampling: 0,
			header:    http.Header{"X-B3-Traceid": {tid}, "X-B3-Spanid": {sid}, "X-B3-Flags": {"1"}},
			wantTrace: tid, wantSampled: true, wantParent: sid,
			check: func(t *testing.T, h http.Header) {
				if _, ok := h["X-B3-Flags"]; ok {
					t.Error("x-b3-flags kept")
				}
			}},
		{name: "malformed traceparent: new trace, stale tracestate dropped", sampling: 1,
			header:      http.Header{"Traceparent": {"00-" + tid + "-" + sid + "-1"}, "Tracestate": {"a=1"}},
			wantSampled: true,
			check: func(t *testing.T, h http.Header) {
				if got := h.Get("Tracestate"); got != "" {
					t.Errorf("tracestate %q of an invalid traceparent kept", got)
				}
			}},
		{name: "malformed b3: new trace", sampling: 1,
			header: http.Header{"B3": {"-" + tid + "-" + sid}}, wantSampled: true,
			check: func(t *testing.T, h http.Header) {
				if got := h.Get("B3"); !strings.HasPrefix(got, h.Get("X-B3-Traceid")+"-") {
					t.Errorf("b3 %q not rewritten with the new trace", got)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTracer(t, tracing.Config{Endpoint: deadEndpoint(t), Sampling: tc.sampling})
			r := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/", nil)
			r.Header = tc.header
			span := tr.Start(r, tracing.Client)
			h := r.Header.Clone()
			span.Inject(h)
			span.End(200, "", "")

			sc := span.SpanContext()
			if !sc.IsValid() {
				t.Fatal("span has no valid context")
			}
			if tc.wantTrace != "" && sc.TraceID().String() != tc.wantTrace {
				t.Errorf("trace %s, want the incoming %s", sc.TraceID(), tc.wantTrace)
			}
			if tc.wantTrace == "" && strings.Contains(strings.Join(tc.header.Values("Traceparent"), "")+tc.header.Get("B3"), sc.TraceID().String()) {
				t.Errorf("trace %s continues a malformed context, want a new one", sc.TraceID())
			}
			flags, sampled := "00", "0"
			if tc.wantSampled {
				flags, sampled = "01", "1"
			}
			want := map[string]string{
				"Traceparent":       "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-" + flags,
				"X-B3-Traceid":      sc.TraceID().String(),
				"X-B3-Spanid":       sc.SpanID().String(),
				"X-B3-Sampled":      sampled,
				"X-B3-Parentspanid": tc.wantParent,
			}
			for k, v := range want {
				if got := h.Get(k); got != v {
					t.Errorf("%s %q, want %q", k, got, v)
				}
			}
			if tc.check != nil {
				tc.check(t, h)
			}
		})
	}
}

// TestExportOverHTTP: an http:// endpoint sends the spans over OTLP/HTTP
// to /v1/traces, and Close flushes what is queued.
func TestExportOverHTTP(t *testing.T) {
	var (
		mu    sync.Mutex
		paths []string
		names []string
		ids   []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var req coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(body, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		paths = append(paths, r.URL.Path)
		for _, rs := range req.GetResourceSpans() {
			for _, ss := range rs.GetScopeSpans() {
				for _, s := range ss.GetSpans() {
					names = append(names, s.GetName())
					ids = append(ids, hex.EncodeToString(s.GetTraceId()))
				}
			}
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		_, _ = w.Write(out)
	}))
	defer srv.Close()

	tr, err := tracing.New(t.Context(), tracing.Config{Endpoint: srv.URL, Sampling: 1, Workload: "web", Namespace: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/", nil)
	r.Header.Set("Traceparent", "00-"+tid+"-"+sid+"-01")
	span := tr.Start(r, tracing.Server)
	span.SetName("web-route")
	span.End(503, "spiffe://cluster.local/ns/shop/sa/client", "UF")
	if err := tr.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(paths) != 1 || paths[0] != "/v1/traces" {
		t.Errorf("exports to %v, want one to /v1/traces", paths)
	}
	if len(names) != 1 || names[0] != "web-route" || ids[0] != tid {
		t.Errorf("spans %v of traces %v, want web-route of %s", names, ids, tid)
	}
}

// TestConfigValidate: a bad endpoint or sampling is an error naming the
// flag and saying what is wanted.
func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     tracing.Config
		wantErr string
	}{
		{name: "off", cfg: tracing.Config{Sampling: tracing.DefaultSampling}},
		{name: "grpc", cfg: tracing.Config{Endpoint: "otel-collector.observability:4317", Sampling: 1}},
		{name: "http", cfg: tracing.Config{Endpoint: "http://otel-collector:4318", Sampling: 0}},
		{name: "https with path", cfg: tracing.Config{Endpoint: "https://otlp.example.com/otlp/v1/traces", Sampling: 0.5}},
		{name: "no port", cfg: tracing.Config{Endpoint: "otel-collector", Sampling: 1}, wantErr: `--tracing-otlp-endpoint "otel-collector": want host:port`},
		{name: "no host", cfg: tracing.Config{Endpoint: ":4317", Sampling: 1}, wantErr: "the host is missing"},
		{name: "bad port", cfg: tracing.Config{Endpoint: "collector:otlp", Sampling: 1}, wantErr: `port "otlp" is not a port`},
		{name: "grpc scheme", cfg: tracing.Config{Endpoint: "grpc://collector:4317", Sampling: 1}, wantErr: `scheme "grpc": want http or https`},
		{name: "sampling above 1", cfg: tracing.Config{Sampling: 10}, wantErr: "--tracing-sampling 10: want a share from 0 to 1"},
		{name: "negative sampling", cfg: tracing.Config{Sampling: -0.1}, wantErr: "--tracing-sampling -0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Validate = %v, want an error containing %q", err, tc.wantErr)
			}
			if _, err := tracing.New(t.Context(), tc.cfg); tc.cfg.Endpoint != "" && err == nil {
				t.Error("New accepted the configuration Validate refuses")
			}
		})
	}
}

// TestEnsureRequestID: a request without x-request-id gets a fresh UUIDv4;
// one with it keeps it.
func TestEnsureRequestID(t *testing.T) {
	h := http.Header{}
	tracing.EnsureRequestID(h)
	first := h.Get("X-Request-Id")
	if len(first) != 36 || first[14] != '4' {
		t.Fatalf("x-request-id %q, want a UUIDv4", first)
	}
	h2 := http.Header{}
	tracing.EnsureRequestID(h2)
	if h2.Get("X-Request-Id") == first {
		t.Error("two requests got the same ID")
	}
	h3 := http.Header{"X-Request-Id": {"given"}}
	tracing.EnsureRequestID(h3)
	if got := h3.Values("X-Request-Id"); len(got) != 1 || got[0] != "given" {
		t.Errorf("x-request-id %v, want [given] kept", got)
	}
}
