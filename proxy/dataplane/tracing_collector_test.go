package dataplane_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"

	"github.com/weftmesh/weft/proxy/dataplane"
	"github.com/weftmesh/weft/proxy/tracing"
)

// traceCollector is an OTLP/gRPC trace collector on loopback: it keeps every
// span it receives, with its resource's service.name.
type traceCollector struct {
	coltracepb.UnimplementedTraceServiceServer
	addr string

	mu    sync.Mutex
	spans []otlpSpan
}

type otlpSpan struct {
	*tracepb.Span
	service string
}

func (s otlpSpan) traceID() string { return hex.EncodeToString(s.TraceId) }
func (s otlpSpan) spanID() string  { return hex.EncodeToString(s.SpanId) }
func (s otlpSpan) parentID() string {
	return hex.EncodeToString(s.ParentSpanId)
}

// attr is the span attribute key as a string ("" when absent).
func (s otlpSpan) attr(key string) string {
	for _, kv := range s.Attributes {
		if kv.GetKey() != key {
			continue
		}
		if v, ok := kv.GetValue().GetValue().(*commonpb.AnyValue_IntValue); ok {
			return strconv.FormatInt(v.IntValue, 10)
		}
		return kv.GetValue().GetStringValue()
	}
	return ""
}

func (c *traceCollector) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		service := ""
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.GetKey() == "service.name" {
				service = kv.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				c.spans = append(c.spans, otlpSpan{Span: s, service: service})
			}
		}
	}
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

// trace returns the spans of traceID received so far.
func (c *traceCollector) trace(traceID string) []otlpSpan {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []otlpSpan
	for _, s := range c.spans {
		if s.traceID() == traceID {
			out = append(out, s)
		}
	}
	return out
}

// waitTrace waits for n spans of traceID.
func (c *traceCollector) waitTrace(t *testing.T, traceID string, n int) []otlpSpan {
	t.Helper()
	var got []otlpSpan
	eventually(t, func() string {
		if got = c.trace(traceID); len(got) < n {
			return "collector has " + itoa(len(got)) + " spans of trace " + traceID + ", want " + itoa(n)
		}
		return ""
	})
	return got
}

func startTraceCollector(t *testing.T) *traceCollector {
	t.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &traceCollector{addr: ln.Addr().String()}
	srv := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(srv, c)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			t.Errorf("collector: %v", err)
		}
	})
	t.Cleanup(func() {
		srv.Stop()
		wg.Wait()
	})
	return c
}

// startTraceApp serves an app that answers with the request headers it
// received, as JSON.
func startTraceApp(t *testing.T) string {
	t.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_ = json.NewEncoder(w).Encode(r.Header)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("app: %v", err)
		}
	})
	t.Cleanup(func() {
		_ = srv.Close()
		wg.Wait()
	})
	return ln.Addr().String()
}

// outboundRoute names the client proxy's route, so its span is named by
// it; the server proxy's route is unnamed and its span takes the
// cluster's name.
const outboundRoute = "echo-route"

// newTracingMesh is newHTTPMesh with a Tracer in each proxy, made from
// cfg with the proxy's workload; a nil cfg traces nothing.
func newTracingMesh(t *testing.T, appAddr string, cfg *tracing.Config) *httpMesh {
	t.Helper()
	withTracer := func(workload string) func(*dataplane.Config) {
		return func(c *dataplane.Config) {
			if cfg == nil {
				return
			}
			tc := *cfg
			tc.Workload, tc.Namespace = workload, "default"
			tr, err := tracing.New(t.Context(), tc)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if err := tr.Close(); err != nil {
					t.Errorf("closing the tracer of %s: %v", workload, err)
				}
			})
			c.Tracer = tr
		}
	}
	ca := newCA(t, "cluster.local")
	m := &httpMesh{ca: ca}
	m.server, m.srvMetrics = newDataplane(t, ca, serverID, withTracer("echo"))
	m.client, m.clientMetrics = newDataplane(t, ca, clientID, withTracer("client"))
	ctx := t.Context()
	must(t, m.server.OnClusters(ctx, []*clusterv3.Cluster{httpInboundCluster(t, inboundName, appAddr, false)}))
	must(t, m.server.OnListeners(ctx, []*listenerv3.Listener{httpInboundListener(t, inboundName, "127.0.0.1:0")}))
	m.inbound = listenerAddr(t, m.server, inboundName)
	must(t, m.client.OnClusters(ctx, []*clusterv3.Cluster{httpOutboundCluster(t, outboundCluster, outboundSNI, serverID)}))
	must(t, m.client.OnEndpoints(ctx, []*endpointv3.ClusterLoadAssignment{assignment(t, outboundCluster, m.inbound)}))
	must(t, m.client.OnListeners(ctx, []*listenerv3.Listener{httpOutboundListener(t, outboundName, "127.0.0.1:0")}))
	rc := routeTo(outboundName, outboundVhost, outboundCluster)
	rc.VirtualHosts[0].Routes[0].Name = outboundRoute
	must(t, m.client.OnRoutes(ctx, []*routev3.RouteConfiguration{rc}))
	m.outbound = listenerAddr(t, m.client, outboundName)
	return m
}

// tracedGet sends GET /items with header through the mesh as the app does, and
// returns the status and the headers the app behind the server proxy
// received.
func tracedGet(t *testing.T, m *httpMesh, header http.Header) (int, http.Header) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+m.outbound+"/items", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "echo.default.svc.cluster.local:9000"
	for k, vv := range header {
		req.Header[k] = vv
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("request through the mesh: %v", err)
	}
	defer func() { _ = resp.Body.Close() }()
	var seen http.Header
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&seen); err != nil {
			t.Fatalf("app's answer: %v", err)
		}
	}
	return resp.StatusCode, seen
}

// traceparentOf splits a traceparent into trace ID, span ID and flags.
func traceparentOf(t *testing.T, v string) (traceID, spanID, flags string) {
	t.Helper()
	if len(v) != 55 || v[:3] != "00-" {
		t.Fatalf("traceparent %q is not version 00", v)
	}
	return v[3:35], v[36:52], v[53:]
}
