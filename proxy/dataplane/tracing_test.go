package dataplane_test

import (
	"bytes"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/weftmesh/weft/proxy/tracing"
)

// traceConfig is the tracing of the tests: every new trace sampled, and
// spans sent within milliseconds.
func traceConfig(endpoint string, sampling float64) *tracing.Config {
	return &tracing.Config{Endpoint: endpoint, Sampling: sampling, BatchTimeout: 20 * time.Millisecond}
}

// clientServer splits the two spans of a request through the mesh into
// the client proxy's and the server proxy's.
func clientServer(t *testing.T, spans []otlpSpan) (client, server otlpSpan) {
	t.Helper()
	if len(spans) != 2 {
		t.Fatalf("got %d spans, want the client proxy's and the server proxy's", len(spans))
	}
	for _, s := range spans {
		switch s.Kind {
		case tracepb.Span_SPAN_KIND_CLIENT:
			client = s
		case tracepb.Span_SPAN_KIND_SERVER:
			server = s
		}
	}
	if client.Span == nil || server.Span == nil {
		t.Fatalf("want a CLIENT and a SERVER span, got kinds %v and %v", spans[0].Kind, spans[1].Kind)
	}
	return client, server
}

// TestTracingStartsATrace: a request from an app without trace headers
// gets one trace of two spans, the client proxy's CLIENT span parent of
// the server proxy's SERVER span, and the app behind the server proxy
// gets that SERVER span's context in both W3C and B3 headers, and an
// x-request-id.
func TestTracingStartsATrace(t *testing.T) {
	col := startTraceCollector(t)
	m := newTracingMesh(t, startTraceApp(t), traceConfig(col.addr, 1))

	status, seen := tracedGet(t, m, nil)
	if status != http.StatusOK {
		t.Fatalf("status %d, want 200", status)
	}
	traceID, spanID, flags := traceparentOf(t, seen.Get("Traceparent"))
	if flags != "01" {
		t.Errorf("traceparent flags %q, want 01 (sampled)", flags)
	}
	client, server := clientServer(t, col.waitTrace(t, traceID, 2))
	if client.parentID() != "" {
		t.Errorf("client span has parent %q, want none: the app sent no context", client.parentID())
	}
	if server.parentID() != client.spanID() {
		t.Errorf("server span's parent %q, want the client span %q", server.parentID(), client.spanID())
	}
	if server.spanID() != spanID {
		t.Errorf("the app's traceparent names span %q, want the server span %q", spanID, server.spanID())
	}
	wantHeaders := map[string]string{
		"X-B3-Traceid":      traceID,
		"X-B3-Spanid":       server.spanID(),
		"X-B3-Parentspanid": client.spanID(),
		"X-B3-Sampled":      "1",
	}
	for k, want := range wantHeaders {
		if got := seen.Get(k); got != want {
			t.Errorf("app got %s %q, want %q", k, got, want)
		}
	}
	if id := seen.Get("X-Request-Id"); len(id) != 36 || id[14] != '4' {
		t.Errorf("app got x-request-id %q, want a UUIDv4", id)
	}

	for _, tc := range []struct {
		span              otlpSpan
		name, service     string
		peer, workload    string
		kindAttrsExpected string
	}{
		{client, outboundRoute, "client", serverID, "client", "client"},
		{server, inboundName, "echo", clientID, "echo", "server"},
	} {
		t.Run(tc.kindAttrsExpected, func(t *testing.T) {
			if tc.span.Name != tc.name {
				t.Errorf("span name %q, want %q", tc.span.Name, tc.name)
			}
			if tc.span.service != tc.service {
				t.Errorf("service.name %q, want %q", tc.span.service, tc.service)
			}
			for k, want := range map[string]string{
				"http.request.method":       "GET",
				"url.path":                  "/items",
				"http.response.status_code": "200",
				"server.address":            "echo.default.svc.cluster.local",
				"weft.peer.spiffe_id":       tc.peer,
				"weft.workload":             tc.workload,
				"weft.namespace":            "default",
			} {
				if got := tc.span.attr(k); got != want {
					t.Errorf("attribute %s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

// TestTracingContinuesIncomingTrace: a request that arrives with a
// sampled context, in any style, keeps its trace ID across both proxies,
// the client proxy's span a child of the incoming span; malformed values
// start a new trace and never fail the request.
func TestTracingContinuesIncomingTrace(t *testing.T) {
	col := startTraceCollector(t)
	m := newTracingMesh(t, startTraceApp(t), traceConfig(col.addr, 1))
	const (
		tid  = "4bf92f3577b34da6a3ce929d0e0e4736"
		sid  = "00f067aa0ba902b7"
		tid2 = "5bf92f3577b34da6a3ce929d0e0e4737"
		tid3 = "7bf92f3577b34da6a3ce929d0e0e4739"
		tid4 = "8bf92f3577b34da6a3ce929d0e0e473a"
	)
	// Each row has a trace of its own: the collector keeps them all.
	for _, tc := range []struct {
		name   string
		header http.Header
		// wantTrace and wantParent are the incoming trace and span IDs
		// the spans continue; "" wants a new trace.
		wantTrace, wantParent string
		// check looks at the headers the app got, given the spans.
		check func(t *testing.T, seen http.Header, client, server otlpSpan)
	}{
		{name: "B3 headers only", header: http.Header{"X-B3-Traceid": {tid}, "X-B3-Spanid": {sid}, "X-B3-Sampled": {"1"}},
			wantTrace: tid, wantParent: sid},
		{name: "B3 64-bit trace ID", header: http.Header{"X-B3-Traceid": {"a3ce929d0e0e4736"}, "X-B3-Spanid": {sid}, "X-B3-Flags": {"1"}},
			wantTrace: "0000000000000000a3ce929d0e0e4736", wantParent: sid},
		{name: "single b3 header", header: http.Header{"B3": {tid2 + "-" + sid + "-1"}},
			wantTrace: tid2, wantParent: sid,
			check: func(t *testing.T, seen http.Header, client, server otlpSpan) {
				want := tid2 + "-" + server.spanID() + "-1-" + client.spanID()
				if got := seen.Get("B3"); got != want {
					t.Errorf("app got b3 %q, want %q", got, want)
				}
			}},
		{name: "traceparent with tracestate", header: http.Header{"Traceparent": {"00-" + tid3 + "-" + sid + "-01"}, "Tracestate": {"vendor=x"}},
			wantTrace: tid3, wantParent: sid,
			check: func(t *testing.T, seen http.Header, _, _ otlpSpan) {
				if got := seen.Get("Tracestate"); got != "vendor=x" {
					t.Errorf("app got tracestate %q, want vendor=x", got)
				}
			}},
		{name: "traceparent wins over b3", header: http.Header{"Traceparent": {"00-" + tid4 + "-" + sid + "-01"}, "X-B3-Traceid": {tid}, "X-B3-Spanid": {sid}},
			wantTrace: tid4, wantParent: sid},
		{name: "malformed traceparent", header: http.Header{"Traceparent": {"00-" + strings.ToUpper(tid) + "-" + sid + "-01"}}},
		{name: "malformed b3", header: http.Header{"B3": {"not-a-context"}, "X-B3-Traceid": {"xyz"}, "X-B3-Spanid": {sid}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, seen := tracedGet(t, m, tc.header)
			if status != http.StatusOK {
				t.Fatalf("status %d, want 200: trace headers never fail a request", status)
			}
			traceID, spanID, _ := traceparentOf(t, seen.Get("Traceparent"))
			if tc.wantTrace != "" && traceID != tc.wantTrace {
				t.Errorf("app got trace %s, want the incoming %s", traceID, tc.wantTrace)
			}
			if got := seen.Get("X-B3-Traceid"); got != traceID {
				t.Errorf("app got x-b3-traceid %q, want %q as in its traceparent", got, traceID)
			}
			client, server := clientServer(t, col.waitTrace(t, traceID, 2))
			if client.parentID() != tc.wantParent {
				t.Errorf("client span's parent %q, want %q", client.parentID(), tc.wantParent)
			}
			if server.parentID() != client.spanID() || server.spanID() != spanID {
				t.Errorf("server span %s (parent %s), want the app's %s, child of the client span %s",
					server.spanID(), server.parentID(), spanID, client.spanID())
			}
			if tc.check != nil {
				tc.check(t, seen, client, server)
			}
		})
	}
}

// TestTracingUnsampled: an unsampled request makes no span but its
// context still reaches the app, with its trace ID and the sampled flag
// off; a sampled incoming context is obeyed even at sampling 0.
func TestTracingUnsampled(t *testing.T) {
	const (
		tid    = "4bf92f3577b34da6a3ce929d0e0e4736"
		sid    = "00f067aa0ba902b7"
		marker = "6bf92f3577b34da6a3ce929d0e0e4738"
	)
	for _, tc := range []struct {
		name      string
		sampling  float64
		header    http.Header
		wantTrace string // "" for a new trace
	}{
		{name: "traceparent sampled=0", sampling: 1, header: http.Header{"Traceparent": {"00-" + tid + "-" + sid + "-00"}}, wantTrace: tid},
		{name: "x-b3-sampled 0", sampling: 1, header: http.Header{"X-B3-Traceid": {tid}, "X-B3-Spanid": {sid}, "X-B3-Sampled": {"0"}}, wantTrace: tid},
		{name: "sampling 0, no context", sampling: 0},
		{name: "sampling 0, B3 decision deferred", sampling: 0, header: http.Header{"X-B3-Traceid": {tid}, "X-B3-Spanid": {sid}}, wantTrace: tid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			col := startTraceCollector(t)
			m := newTracingMesh(t, startTraceApp(t), traceConfig(col.addr, tc.sampling))
			status, seen := tracedGet(t, m, tc.header)
			if status != http.StatusOK {
				t.Fatalf("status %d, want 200", status)
			}
			traceID, _, flags := traceparentOf(t, seen.Get("Traceparent"))
			if tc.wantTrace != "" && traceID != tc.wantTrace {
				t.Errorf("app got trace %s, want the incoming %s", traceID, tc.wantTrace)
			}
			if flags != "00" || seen.Get("X-B3-Sampled") != "0" {
				t.Errorf("app got traceparent flags %q and x-b3-sampled %q, want 00 and 0", flags, seen.Get("X-B3-Sampled"))
			}
			if got := seen.Get("X-B3-Traceid"); got != traceID {
				t.Errorf("app got x-b3-traceid %q, want %q", got, traceID)
			}
			// A sampled request after it: its spans arrive, the
			// unsampled one's never do.
			status, _ = tracedGet(t, m, http.Header{"Traceparent": {"00-" + marker + "-" + sid + "-01"}})
			if status != http.StatusOK {
				t.Fatalf("sampled request: status %d, want 200", status)
			}
			col.waitTrace(t, marker, 2)
			if got := col.trace(traceID); len(got) > 0 {
				t.Errorf("collector got %d spans of the unsampled trace %s, want none", len(got), traceID)
			}
		})
	}
}

// TestTracingOffPassesHeaders: without a Tracer, trace headers are
// ordinary headers that reach the app unchanged; x-request-id is still
// given to requests without one and kept on the others.
func TestTracingOffPassesHeaders(t *testing.T) {
	m := newTracingMesh(t, startTraceApp(t), nil)
	in := http.Header{
		"Traceparent":  {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		"Tracestate":   {"vendor=x"},
		"B3":           {"4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1"},
		"X-B3-Traceid": {"4bf92f3577b34da6a3ce929d0e0e4736"},
		"X-B3-Spanid":  {"00f067aa0ba902b7"},
		"X-B3-Sampled": {"1"},
		"X-Request-Id": {"my-request"},
	}
	status, seen := tracedGet(t, m, in)
	if status != http.StatusOK {
		t.Fatalf("status %d, want 200", status)
	}
	for k, vv := range in {
		if got := seen.Get(k); got != vv[0] {
			t.Errorf("app got %s %q, want it unchanged: %q", k, got, vv[0])
		}
	}
	_, seen = tracedGet(t, m, nil)
	if id := seen.Get("X-Request-Id"); len(id) != 36 {
		t.Errorf("app got x-request-id %q, want a generated UUID", id)
	}
	if got := seen.Get("Traceparent"); got != "" {
		t.Errorf("app got traceparent %q from a proxy that does not trace", got)
	}
}

// TestTracingDeadCollector: with the collector down, requests are served
// as fast as ever, and the failure is logged, once per interval.
func TestTracingDeadCollector(t *testing.T) {
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	_ = ln.Close()

	logs := &syncBuffer{}
	cfg := traceConfig(dead, 1)
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	m := newTracingMesh(t, startTraceApp(t), cfg)
	send := func(n int) {
		for range n {
			start := time.Now()
			status, _ := tracedGet(t, m, nil)
			if d := time.Since(start); d > time.Second {
				t.Errorf("request took %s with the collector down, want well under a second", d)
			}
			if status != http.StatusOK {
				t.Errorf("status %d, want 200 with the collector down", status)
			}
		}
	}
	send(20)
	eventually(t, func() string {
		if !strings.Contains(logs.String(), "span export failed") {
			return "no log line about the failed export; logs:\n" + logs.String()
		}
		return ""
	})
	if !strings.Contains(logs.String(), dead) {
		t.Errorf("the log line does not name the endpoint %s:\n%s", dead, logs.String())
	}
	// More failed batches within the minute: no more lines.
	send(10)
	time.Sleep(300 * time.Millisecond) // many batch timeouts
	if n := strings.Count(logs.String(), "span export failed"); n != 2 {
		// One line per proxy: each has its own exporter.
		t.Errorf("%d lines about failed exports, want 2 (one per proxy per minute):\n%s", n, logs.String())
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
