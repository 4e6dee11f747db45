package xds

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/weftmesh/weft/controlplane/model"
)

type deltaClient = discoveryv3.AggregatedDiscoveryService_DeltaAggregatedResourcesClient

func dialDelta(t *testing.T, ctx context.Context, addr string, ca *testCA, cert tls.Certificate) deltaClient {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool, ServerName: "127.0.0.1", Certificates: []tls.Certificate{cert}}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).DeltaAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return stream
}

// withCache adds to testMesh a "cache" service and its workload, and makes
// the frontend call it.
func withCache(m *model.Mesh) *model.Mesh {
	m.Services = append(m.Services, model.Service{
		Name: "cache", Namespace: "shop", Selector: map[string]string{"app": "cache"},
		Ports: []model.ServicePort{{Name: "tcp", Port: 6379, TargetPort: 6379}},
	})
	m.Workloads = append(m.Workloads, model.Workload{
		Name: "cache-1", Namespace: "shop", ServiceAccount: "cache", Labels: map[string]string{"app": "cache"},
		Address: netip.MustParseAddr("192.0.2.9"), LocalAddress: netip.MustParseAddr("127.0.0.1"),
		Ports: []model.WorkloadPort{{Name: "tcp", Port: 6379, TargetPort: 16379}},
	})
	for i := range m.Workloads {
		if m.Workloads[i].Name == "frontend-1" {
			m.Workloads[i].Outbound = append(m.Workloads[i].Outbound,
				model.Outbound{Service: model.NamespacedName{Namespace: "shop", Name: "cache"}, Port: 6379, LocalPort: 6379})
		}
	}
	m.Sort()
	return m
}

const (
	backendCluster  = "outbound|9000||backend.shop.svc.cluster.local"
	backendListener = "outbound|backend.shop|9000"
	cacheCluster    = "outbound|6379||cache.shop.svc.cluster.local"
	cacheListener   = "outbound|cache.shop|6379"
)

// recvDelta receives the next n responses, acknowledges each, and returns
// them by type URL; a type arriving twice fails the test.
func recvDelta(t *testing.T, stream deltaClient, n int) map[string]*discoveryv3.DeltaDiscoveryResponse {
	t.Helper()
	out := map[string]*discoveryv3.DeltaDiscoveryResponse{}
	for range n {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("receiving (have %v): %v", slices.Collect(mapsKeys(out)), err)
		}
		if out[resp.GetTypeUrl()] != nil {
			t.Fatalf("two responses of type %s: %v, then %v", resp.GetTypeUrl(), names(out[resp.GetTypeUrl()]), names(resp))
		}
		out[resp.GetTypeUrl()] = resp
		if err := stream.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resp.GetTypeUrl(), ResponseNonce: resp.GetNonce()}); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func names(resp *discoveryv3.DeltaDiscoveryResponse) []string {
	var out []string
	for _, r := range resp.GetResources() {
		out = append(out, r.GetName())
	}
	slices.Sort(out)
	return out
}

func wantNames(t *testing.T, what string, resp *discoveryv3.DeltaDiscoveryResponse, want ...string) {
	t.Helper()
	if resp == nil {
		t.Fatalf("%s: no response", what)
	}
	if got := names(resp); !slices.Equal(got, want) {
		t.Errorf("%s: resources %v, want %v", what, got, want)
	}
}

// waitStatus polls Status until ok accepts one proxy's entry.
func waitStatus(t *testing.T, s *Server, node string, ok func(ProxyStatus) bool) ProxyStatus {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		for _, st := range s.Status() {
			if st.Node == node && ok(st) {
				return st
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("status of %s never satisfied the test: %+v", node, s.Status())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDeltaStream(t *testing.T) {
	ca := newTestCA(t)
	reg := prometheus.NewPedanticRegistry()
	s := New(Config{Registerer: reg})
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := s.Update(ctx, testMesh("192.0.2.3")); err != nil {
		t.Fatal(err)
	}
	addr := serve(t, s, ca)

	t.Run("another workload's node is refused", func(t *testing.T) {
		stream := dialDelta(t, ctx, addr, ca, ca.issue(t, "spiffe://cluster.local/ns/shop/sa/frontend"))
		if err := stream.Send(&discoveryv3.DeltaDiscoveryRequest{Node: &corev3.Node{Id: "backend-1.shop"}, TypeUrl: resourcev3.ClusterType}); err != nil {
			t.Fatal(err)
		}
		_, err := stream.Recv()
		if code := status.Code(err); code != codes.PermissionDenied {
			t.Fatalf("got %v, want PermissionDenied", err)
		}
	})

	stream := dialDelta(t, ctx, addr, ca, ca.issue(t, "spiffe://cluster.local/ns/shop/sa/frontend"))
	node := &corev3.Node{Id: "frontend-1.shop"}
	// Wildcard CDS and LDS, as Envoy subscribes.
	for _, typ := range []string{resourcev3.ClusterType, resourcev3.ListenerType} {
		if err := stream.Send(&discoveryv3.DeltaDiscoveryRequest{Node: node, TypeUrl: typ}); err != nil {
			t.Fatal(err)
		}
	}
	initial := recvDelta(t, stream, 2)
	wantNames(t, "initial clusters", initial[resourcev3.ClusterType], backendCluster)
	wantNames(t, "initial listeners", initial[resourcev3.ListenerType], backendListener)
	if err := stream.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResourceNamesSubscribe: []string{backendCluster}}); err != nil {
		t.Fatal(err)
	}
	eds := recvDelta(t, stream, 1)
	wantNames(t, "initial endpoints", eds[resourcev3.EndpointType], backendCluster)

	v1 := version(t, s, "frontend-1.shop")
	st := waitStatus(t, s, "frontend-1.shop", func(st ProxyStatus) bool {
		return st.Acked[resourcev3.EndpointType] == v1 && st.Acked[resourcev3.ClusterType] == v1 && st.Acked[resourcev3.ListenerType] == v1
	})
	if st.Variant != "delta" || st.Identity != "spiffe://cluster.local/ns/shop/sa/frontend" {
		t.Errorf("status: variant %q, identity %q", st.Variant, st.Identity)
	}

	// A new dependency: only its cluster and listener are sent.
	if err := s.Update(ctx, withCache(testMesh("192.0.2.3"))); err != nil {
		t.Fatal(err)
	}
	added := recvDelta(t, stream, 2)
	wantNames(t, "added clusters", added[resourcev3.ClusterType], cacheCluster)
	wantNames(t, "added listeners", added[resourcev3.ListenerType], cacheListener)
	if err := stream.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResourceNamesSubscribe: []string{cacheCluster}}); err != nil {
		t.Fatal(err)
	}
	wantNames(t, "added endpoints", recvDelta(t, stream, 1)[resourcev3.EndpointType], cacheCluster)

	// The backend moves: only its ClusterLoadAssignment is sent.
	if err := s.Update(ctx, withCache(testMesh("192.0.2.4"))); err != nil {
		t.Fatal(err)
	}
	moved := recvDelta(t, stream, 1)
	wantNames(t, "moved endpoints", moved[resourcev3.EndpointType], backendCluster)
	if got := moved[resourcev3.EndpointType].GetResources()[0].GetResource().String(); !strings.Contains(got, "192.0.2.4") {
		t.Errorf("moved assignment lacks the new address: %s", got)
	}
	v3 := version(t, s, "frontend-1.shop")
	waitStatus(t, s, "frontend-1.shop", func(st ProxyStatus) bool { return st.Acked[resourcev3.EndpointType] == v3 })

	// The dependency goes: its cluster, listener and (subscribed)
	// assignment are removed.
	if err := s.Update(ctx, testMesh("192.0.2.4")); err != nil {
		t.Fatal(err)
	}
	removed := recvDelta(t, stream, 3)
	v4 := version(t, s, "frontend-1.shop")
	for typ, want := range map[string]string{resourcev3.ClusterType: cacheCluster, resourcev3.ListenerType: cacheListener, resourcev3.EndpointType: cacheCluster} {
		r := removed[typ]
		if r == nil || len(r.GetResources()) != 0 || !slices.Equal(r.GetRemovedResources(), []string{want}) {
			t.Errorf("%s after removal: resources %v, removed %v; want removed [%s]", typ, names(r), r.GetRemovedResources(), want)
		}
	}

	// A NACK is recorded with its detail, and counted.
	if err := s.Update(ctx, testMesh("192.0.2.5")); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&discoveryv3.DeltaDiscoveryRequest{
		TypeUrl: resp.GetTypeUrl(), ResponseNonce: resp.GetNonce(),
		ErrorDetail: &statuspb.Status{Code: int32(codes.InvalidArgument), Message: `cluster_load_assignment "x": endpoints[0]: unsupported`},
	}); err != nil {
		t.Fatal(err)
	}
	st = waitStatus(t, s, "frontend-1.shop", func(st ProxyStatus) bool { return st.Nacked[resp.GetTypeUrl()] != "" })
	if !strings.Contains(st.Nacked[resp.GetTypeUrl()], "endpoints[0]: unsupported") {
		t.Errorf("NACK detail lost: %q", st.Nacked[resp.GetTypeUrl()])
	}
	if st.Acked[resourcev3.EndpointType] != v4 {
		t.Errorf("after a NACK the acknowledged endpoints version is %q, want %q", st.Acked[resourcev3.EndpointType], v4)
	}
	if got := metricValue(t, reg, "weft_xds_nacks_total", "type", resp.GetTypeUrl()); got != 1 {
		t.Errorf("weft_xds_nacks_total = %v, want 1", got)
	}
	if got := metricValue(t, reg, "weft_xds_connected_proxies", "variant", "delta"); got != 1 {
		t.Errorf("weft_xds_connected_proxies{variant=delta} = %v, want 1", got)
	}
	if got := metricValue(t, reg, "weft_xds_ack_duration_seconds", "type", resourcev3.EndpointType); got < 3 {
		t.Errorf("ACK latencies observed for endpoints: %v, want at least 3 (three pushes to an open stream)", got)
	}
}
