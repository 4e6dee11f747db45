package dataplane_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/weftmesh/weft/proxy/dataplane"
	"github.com/weftmesh/weft/proxy/meshmetrics"
)

// The workloads of the two proxies in the tests of weft_requests_total.
var (
	clientWorkload = meshmetrics.Workload{Name: "client", Namespace: "default", Principal: clientID}
	serverWorkload = meshmetrics.Workload{Name: "echo", Namespace: "default", Principal: serverID}
)

func withWorkload(w meshmetrics.Workload) func(*dataplane.Config) {
	return func(c *dataplane.Config) { c.Workload = w }
}

// startWorkloadApp serves an app that answers with the x-weft-* fields it
// received (X-App-Weft) and tries to forge the destination's workload in
// its response; status, when not zero, is its answer's status.
func startWorkloadApp(t *testing.T, status int) string {
	t.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	must(t, err)
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var got []string
			for k := range r.Header {
				if strings.HasPrefix(strings.ToLower(k), "x-weft-") {
					got = append(got, k+"="+r.Header.Get(k))
				}
			}
			slices.Sort(got)
			w.Header().Set("X-App-Weft", strings.Join(got, ";"))
			w.Header().Set(meshmetrics.HeaderDestinationWorkload, "forged")
			w.Header().Set(meshmetrics.HeaderDestinationNamespace, "default")
			if status != 0 {
				w.WriteHeader(status)
			}
			_, _ = io.WriteString(w, "hello")
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

// workloadMesh is newHTTPMesh with workloads, in front of app.
func workloadMesh(t *testing.T, app string, h2c bool) *httpMesh {
	t.Helper()
	ca := newCA(t, "cluster.local")
	m := &httpMesh{ca: ca}
	m.server, m.srvMetrics = newDataplane(t, ca, serverID, withWorkload(serverWorkload))
	m.client, m.clientMetrics = newDataplane(t, ca, clientID, withWorkload(clientWorkload))
	ctx := t.Context()
	must(t, m.server.OnClusters(ctx, []*clusterv3.Cluster{httpInboundCluster(t, inboundName, app, h2c)}))
	must(t, m.server.OnListeners(ctx, []*listenerv3.Listener{httpInboundListener(t, inboundName, "127.0.0.1:0")}))
	m.inbound = listenerAddr(t, m.server, inboundName)
	must(t, m.client.OnClusters(ctx, []*clusterv3.Cluster{httpOutboundCluster(t, outboundCluster, outboundSNI, serverID)}))
	must(t, m.client.OnEndpoints(ctx, []*endpointv3.ClusterLoadAssignment{assignment(t, outboundCluster, m.inbound)}))
	must(t, m.client.OnListeners(ctx, []*listenerv3.Listener{httpOutboundListener(t, outboundName, "127.0.0.1:0")}))
	must(t, m.client.OnRoutes(ctx, []*routev3.RouteConfiguration{routeTo(outboundName, outboundVhost, outboundCluster)}))
	m.outbound = listenerAddr(t, m.client, outboundName)
	return m
}

// getVia sends a GET to addr with the given header fields and returns the
// response's status, header and body.
func getVia(t *testing.T, ctx context.Context, addr string, header map[string]string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/x", nil)
	must(t, err)
	req.Host = outboundVhost
	for k, v := range header {
		req.Header.Set(k, v)
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	must(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	must(t, err)
	return resp.StatusCode, resp.Header, string(body)
}

// requestLabels are the labels of weft_requests_total between the two
// workloads, as reporter saw them. The destination reporter does not know
// which service name the client used (a Host header is the client's to
// choose): its destination_service is empty.
func requestLabels(reporter, code, flags string) map[string]string {
	service := "echo.default.svc.cluster.local"
	if reporter == "destination" {
		service = ""
	}
	return map[string]string{
		"reporter":        reporter,
		"source_workload": "client", "source_namespace": "default", "source_principal": clientID,
		"destination_workload": "echo", "destination_namespace": "default", "destination_principal": serverID,
		"destination_service": service,
		"response_code":       code, "response_flags": flags, "grpc_status": "",
	}
}

func TestRequestMetricsOnBothReporters(t *testing.T) {
	m := workloadMesh(t, startWorkloadApp(t, 0), false)
	// The app of the client forges its workload: its proxy says who it is.
	status, header, body := getVia(t, t.Context(), m.outbound, map[string]string{
		meshmetrics.HeaderSourceWorkload: "admin", meshmetrics.HeaderSourceNamespace: "kube-system",
	})
	if status != http.StatusOK || body != "hello" {
		t.Fatalf("response %d %q, want 200 hello", status, body)
	}
	if got := header.Get("X-App-Weft"); got != "" {
		t.Errorf("the app received x-weft-* fields: %s", got)
	}
	for k := range header {
		if strings.HasPrefix(strings.ToLower(k), "x-weft-destination") {
			t.Errorf("the client app received %s: %s", k, header.Get(k))
		}
	}
	eventually(t, func() string {
		if v := metric(t, m.clientMetrics, "weft_requests_total", requestLabels("source", "200", "-")); v != 1 {
			return "source reporter: weft_requests_total = " + ftoa(v) + ", want 1 with " + dumpFamily(t, m.clientMetrics, "weft_requests_total")
		}
		if v := metric(t, m.srvMetrics, "weft_requests_total", requestLabels("destination", "200", "-")); v != 1 {
			return "destination reporter: weft_requests_total = " + ftoa(v) + ", want 1 with " + dumpFamily(t, m.srvMetrics, "weft_requests_total")
		}
		return ""
	})
	for _, reg := range []*prometheus.Registry{m.clientMetrics, m.srvMetrics} {
		if n := histogramCount(t, reg, "weft_request_duration_seconds"); n != 1 {
			t.Errorf("weft_request_duration_seconds count = %d, want 1", n)
		}
	}
}

func TestRequestMetricsFlags(t *testing.T) {
	t.Run("the server's app is down: UF on both reporters", func(t *testing.T) {
		dead := closedAddr(t)
		m := workloadMesh(t, dead, false)
		status, _, _ := getVia(t, t.Context(), m.outbound, nil)
		if status != http.StatusServiceUnavailable {
			t.Fatalf("status %d, want 503", status)
		}
		eventually(t, func() string {
			if v := metric(t, m.srvMetrics, "weft_requests_total", requestLabels("destination", "503", "UF")); v != 1 {
				return "destination reporter: " + dumpFamily(t, m.srvMetrics, "weft_requests_total")
			}
			// The server proxy's answer names its workload and its flag.
			if v := metric(t, m.clientMetrics, "weft_requests_total", requestLabels("source", "503", "UF")); v != 1 {
				return "source reporter: " + dumpFamily(t, m.clientMetrics, "weft_requests_total")
			}
			return ""
		})
	})
	t.Run("the server's proxy is down: UF, destination unknown", func(t *testing.T) {
		m := workloadMesh(t, startWorkloadApp(t, 0), false)
		must(t, m.client.OnEndpoints(t.Context(), []*endpointv3.ClusterLoadAssignment{assignment(t, outboundCluster, closedAddr(t))}))
		status, _, _ := getVia(t, t.Context(), m.outbound, nil)
		if status != http.StatusServiceUnavailable {
			t.Fatalf("status %d, want 503", status)
		}
		want := requestLabels("source", "503", "UF")
		want["destination_workload"], want["destination_namespace"], want["destination_principal"] = "", "", ""
		eventually(t, func() string {
			if v := metric(t, m.clientMetrics, "weft_requests_total", want); v != 1 {
				return "source reporter: " + dumpFamily(t, m.clientMetrics, "weft_requests_total")
			}
			return ""
		})
	})
	t.Run("an app's 500 has no flag", func(t *testing.T) {
		m := workloadMesh(t, startWorkloadApp(t, http.StatusInternalServerError), false)
		status, _, _ := getVia(t, t.Context(), m.outbound, nil)
		if status != http.StatusInternalServerError {
			t.Fatalf("status %d, want 500", status)
		}
		eventually(t, func() string {
			if v := metric(t, m.clientMetrics, "weft_requests_total", requestLabels("source", "500", "-")); v != 1 {
				return "source reporter: " + dumpFamily(t, m.clientMetrics, "weft_requests_total")
			}
			return ""
		})
	})
}

// TestWorkloadHeadersFromPlaintextIgnored: a plaintext client of an
// inbound listener (PERMISSIVE, DISABLE) cannot name its workload.
func TestWorkloadHeadersFromPlaintextIgnored(t *testing.T) {
	ca := newCA(t, "cluster.local")
	server, reg := newDataplane(t, ca, serverID, withWorkload(serverWorkload))
	ctx := t.Context()
	must(t, server.OnClusters(ctx, []*clusterv3.Cluster{httpInboundCluster(t, inboundName, startWorkloadApp(t, 0), false)}))
	l := httpInboundListener(t, inboundName, "127.0.0.1:0")
	l.FilterChains[0].TransportSocket = nil // DISABLE: plaintext
	must(t, server.OnListeners(ctx, []*listenerv3.Listener{l}))
	addr := listenerAddr(t, server, inboundName)

	status, header, body := getVia(t, ctx, addr, map[string]string{
		meshmetrics.HeaderSourceWorkload: "client", meshmetrics.HeaderSourceNamespace: "default",
	})
	if status != http.StatusOK || body != "hello" {
		t.Fatalf("response %d %q, want 200 hello", status, body)
	}
	if got := header.Get("X-App-Weft"); got != "" {
		t.Errorf("the app received forged x-weft-* fields: %s", got)
	}
	if got := header.Get(meshmetrics.HeaderDestinationWorkload); got != "" {
		t.Errorf("a plaintext client learned the destination workload %q", got)
	}
	want := map[string]string{
		"reporter": "destination", "source_workload": "", "source_namespace": "", "source_principal": "",
		"destination_workload": "echo", "destination_namespace": "default", "destination_principal": serverID,
		"destination_service": "", "response_code": "200", "response_flags": "-", "grpc_status": "",
	}
	eventually(t, func() string {
		if v := metric(t, reg, "weft_requests_total", want); v != 1 {
			return "the forged workload was counted: " + dumpFamily(t, reg, "weft_requests_total")
		}
		return ""
	})
}

func TestTCPMetrics(t *testing.T) {
	ca := newCA(t, "cluster.local")
	backend := startBackend(t, "echo")
	server, srvReg := newDataplane(t, ca, serverID, withWorkload(serverWorkload))
	client, clientReg := newDataplane(t, ca, clientID, withWorkload(clientWorkload))
	ctx := t.Context()
	must(t, server.OnClusters(ctx, []*clusterv3.Cluster{staticCluster(t, inboundName, backend.addr())}))
	must(t, server.OnListeners(ctx, []*listenerv3.Listener{inboundListener(t, inboundName, "127.0.0.1:0", inboundName, "spiffe://cluster.local/")}))
	must(t, client.OnClusters(ctx, []*clusterv3.Cluster{edsCluster(t, outboundCluster, outboundSNI, serverID)}))
	must(t, client.OnEndpoints(ctx, []*endpointv3.ClusterLoadAssignment{assignment(t, outboundCluster, listenerAddr(t, server, inboundName))}))
	must(t, client.OnListeners(ctx, []*listenerv3.Listener{outboundListener(t, outboundName, "127.0.0.1:0", outboundCluster)}))

	const msg = "0123456789"
	got, err := roundTrip(t, listenerAddr(t, client, outboundName), msg)
	must(t, err)
	if want := "echo:" + msg; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	// TCP carries no workload headers: the peer is known by its
	// certificate, its workload stays empty.
	source := map[string]string{
		"reporter": "source", "source_workload": "client", "source_namespace": "default", "source_principal": clientID,
		"destination_workload": "", "destination_namespace": "default", "destination_principal": serverID,
		"destination_service": "echo.default.svc.cluster.local",
	}
	destination := map[string]string{
		"reporter": "destination", "source_workload": "", "source_namespace": "default", "source_principal": clientID,
		"destination_workload": "echo", "destination_namespace": "default", "destination_principal": serverID,
		"destination_service": "",
	}
	for _, tt := range []struct {
		name   string
		reg    *prometheus.Registry
		labels map[string]string
	}{{"source", clientReg, source}, {"destination", srvReg, destination}} {
		t.Run(tt.name, func(t *testing.T) {
			eventually(t, func() string {
				for name, want := range map[string]float64{
					"weft_tcp_received_bytes_total":     float64(len(msg)),
					"weft_tcp_sent_bytes_total":         float64(len("echo:" + msg)),
					"weft_tcp_connections_opened_total": 1,
					"weft_tcp_connections_closed_total": 1,
				} {
					if v := metric(t, tt.reg, name, tt.labels); v != want {
						return name + " = " + ftoa(v) + ", want " + ftoa(want) + ": " + dumpFamily(t, tt.reg, name)
					}
				}
				return ""
			})
		})
	}
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	must(t, err)
	addr := ln.Addr().String()
	must(t, ln.Close())
	return addr
}

// histogramCount is the sample count of histogram family name, summed.
func histogramCount(t *testing.T, reg *prometheus.Registry, name string) uint64 {
	t.Helper()
	families, err := reg.Gather()
	must(t, err)
	var n uint64
	for _, f := range families {
		if f.GetName() == name {
			for _, m := range f.GetMetric() {
				n += m.GetHistogram().GetSampleCount()
			}
		}
	}
	return n
}

// dumpFamily prints the samples of a family, for failure messages.
func dumpFamily(t *testing.T, reg *prometheus.Registry, name string) string {
	t.Helper()
	families, err := reg.Gather()
	must(t, err)
	var b strings.Builder
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			b.WriteString("\n  {")
			for _, l := range m.GetLabel() {
				b.WriteString(l.GetName() + "=" + l.GetValue() + " ")
			}
			b.WriteString("} " + ftoa(m.GetCounter().GetValue()))
		}
	}
	return b.String()
}

func TestRequestMetricsGRPCStatus(t *testing.T) {
	m := workloadMesh(t, startGRPCApp(t), true)
	conn, err := grpc.NewClient(m.outbound, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithAuthority(outboundVhost))
	must(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	var out wrapperspb.StringValue
	must(t, conn.Invoke(t.Context(), "/weft.test.Echo/Unary", wrapperspb.String("hi"), &out))
	if err := conn.Invoke(t.Context(), "/weft.test.Echo/Unary", wrapperspb.String("fail"), &out); status.Code(err) != codes.NotFound {
		t.Fatalf("error %v, want NOT_FOUND", err)
	}
	for _, reporter := range []string{"source", "destination"} {
		reg := m.clientMetrics
		if reporter == "destination" {
			reg = m.srvMetrics
		}
		for _, code := range []string{"0", "5"} {
			want := requestLabels(reporter, "200", "-")
			want["grpc_status"] = code
			eventually(t, func() string {
				if v := metric(t, reg, "weft_requests_total", want); v != 1 {
					return reporter + " reporter, grpc_status " + code + ": " + dumpFamily(t, reg, "weft_requests_total")
				}
				return ""
			})
		}
	}
}
