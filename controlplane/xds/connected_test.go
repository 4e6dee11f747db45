package xds

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/weftmesh/weft/controlplane/model"
	"github.com/weftmesh/weft/controlplane/translate"
)

// next receives the stream's next response, or nil when none comes
// within wait.
func next[T any](t *testing.T, recv func() (T, error), wait time.Duration) *T {
	t.Helper()
	type result struct {
		resp T
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := recv()
		got <- result{resp, err}
	}()
	select {
	case r := <-got:
		if r.err != nil {
			t.Fatalf("receiving: %v", r.err)
		}
		return &r.resp
	case <-time.After(wait):
		return nil
	}
}

func translations(s *Server) int { return int(testutil.ToFloat64(s.metrics.translations)) }

// TestConnectAfterUpdate: Update translates no workload while none is
// connected; a proxy that connects afterwards (state of the world, delta,
// or a proxyless gRPC client asking for named resources) is translated
// then and answered at once, and only it has a snapshot.
func TestConnectAfterUpdate(t *testing.T) {
	greeter := model.NamespacedName{Namespace: "shop", Name: "greeter"}
	tests := []struct {
		name, node, identity string
		// first sends the stream's first request and returns the number of
		// resources of the response, or -1 when none came.
		first func(t *testing.T, ctx context.Context, addr string, ca *testCA, s *Server) int
	}{
		{"sotw", "frontend-1.shop", "spiffe://cluster.local/ns/shop/sa/frontend", func(t *testing.T, ctx context.Context, addr string, ca *testCA, _ *Server) int {
			cert := ca.issue(t, "spiffe://cluster.local/ns/shop/sa/frontend")
			stream := dial(t, addr, ca, &cert)
			if err := stream.Send(&discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: "frontend-1.shop"}, TypeUrl: resourcev3.ClusterType}); err != nil {
				t.Fatal(err)
			}
			if resp := next(t, stream.Recv, 10*time.Second); resp != nil {
				return len((*resp).GetResources())
			}
			return -1
		}},
		{"delta", "frontend-1.shop", "spiffe://cluster.local/ns/shop/sa/frontend", func(t *testing.T, ctx context.Context, addr string, ca *testCA, _ *Server) int {
			stream := dialDelta(t, ctx, addr, ca, ca.issue(t, "spiffe://cluster.local/ns/shop/sa/frontend"))
			if err := stream.Send(&discoveryv3.DeltaDiscoveryRequest{Node: &corev3.Node{Id: "frontend-1.shop"}, TypeUrl: resourcev3.ClusterType}); err != nil {
				t.Fatal(err)
			}
			if resp := next(t, stream.Recv, 10*time.Second); resp != nil {
				return len((*resp).GetResources())
			}
			return -1
		}},
		{"proxyless", "grpc-1.shop", "spiffe://cluster.local/ns/shop/sa/grpc", func(t *testing.T, ctx context.Context, addr string, ca *testCA, _ *Server) int {
			cert := ca.issue(t, "spiffe://cluster.local/ns/shop/sa/grpc")
			stream := dial(t, addr, ca, &cert)
			if err := stream.Send(&discoveryv3.DiscoveryRequest{
				Node: &corev3.Node{Id: "grpc-1.shop"}, TypeUrl: resourcev3.ListenerType,
				ResourceNames: []string{translate.ProxylessListenerName(greeter, 50051)},
			}); err != nil {
				t.Fatal(err)
			}
			if resp := next(t, stream.Recv, 10*time.Second); resp != nil {
				return len((*resp).GetResources())
			}
			return -1
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ca := newTestCA(t)
			s := New(Config{})
			m := proxylessMesh()
			if err := s.Update(t.Context(), m); err != nil {
				t.Fatal(err)
			}
			if n := translations(s); n != 0 {
				t.Fatalf("Update with no proxy connected translated %d workloads, want 0", n)
			}
			for i := range m.Workloads {
				if v := version(t, s, m.Workloads[i].NodeID()); v != "" {
					t.Fatalf("%s has a snapshot (%s) with no stream open", m.Workloads[i].NodeID(), v)
				}
			}
			if n := tt.first(t, t.Context(), serve(t, s, ca), ca, s); n <= 0 {
				t.Fatalf("the connecting proxy got %d resources, want its configuration (-1: no response)", n)
			}
			if n := translations(s); n != 1 {
				t.Errorf("%d workloads translated, want 1: the one that connected", n)
			}
			if snap, err := s.cache.GetSnapshot(tt.node); err != nil || snap == nil {
				t.Errorf("no snapshot for the connected node: %v", err)
			}
			for i := range m.Workloads {
				if node := m.Workloads[i].NodeID(); node != tt.node && version(t, s, node) != "" {
					t.Errorf("%s has a snapshot with no stream open", node)
				}
			}
			st := waitStatus(t, s, tt.node, func(ProxyStatus) bool { return true })
			if st.Identity != tt.identity || st.Latest == "" {
				t.Errorf("status %+v: want identity %s and the snapshot's version", st, tt.identity)
			}
		})
	}
}

// TestUpdateTranslatesOnlyConnected: with N workloads in the mesh and M
// of them connected, an Update that changes what all of them read
// translates M, the connected, and sends each its new version.
func TestUpdateTranslatesOnlyConnected(t *testing.T) {
	const clients, connected = 30, 3
	ca := newTestCA(t)
	s := New(Config{})
	if err := s.Update(t.Context(), crowdMesh(clients, 0)); err != nil {
		t.Fatal(err)
	}
	addr := serve(t, s, ca)
	cert := ca.issue(t, "spiffe://cluster.local/ns/shop/sa/client")
	var streams []discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	for i := range connected {
		stream := dial(t, addr, ca, &cert)
		node := model.Workload{Name: fmt.Sprintf("client-%d", i), Namespace: "shop"}
		if err := stream.Send(&discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: node.NodeID()}, TypeUrl: resourcev3.EndpointType}); err != nil {
			t.Fatal(err)
		}
		resp := next(t, stream.Recv, 10*time.Second)
		if resp == nil {
			t.Fatalf("%s: no first response", node.NodeID())
		}
		if err := stream.Send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.EndpointType, VersionInfo: (*resp).GetVersionInfo(), ResponseNonce: (*resp).GetNonce()}); err != nil {
			t.Fatal(err)
		}
		streams = append(streams, stream)
	}
	before := translations(s)
	if before != connected {
		t.Fatalf("%d translations for %d connections", before, connected)
	}
	m := crowdMesh(clients, 1) // other backends: every client's assignment changes
	if err := s.Update(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	if n := translations(s) - before; n != connected {
		t.Errorf("Update of %d workloads with %d connected translated %d, want %d", len(m.Workloads), connected, n, connected)
	}
	for i, stream := range streams {
		resp := next(t, stream.Recv, 10*time.Second)
		if resp == nil {
			t.Fatalf("client %d: the Update sent nothing", i)
		}
	}
}

// TestSnapshotFollowsStreams: a proxy that disconnects keeps its snapshot
// through the grace period (kept up to date by Update), so that
// reconnecting within it costs no translation and sends nothing the proxy
// has (the same version); after the grace period the snapshot is gone,
// and a reconnection translates it again, to the same version.
func TestSnapshotFollowsStreams(t *testing.T) {
	const grace = 500 * time.Millisecond
	const node = "frontend-1.shop"
	ca := newTestCA(t)
	s := New(Config{Grace: grace})
	if err := s.Update(t.Context(), testMesh("192.0.2.3")); err != nil {
		t.Fatal(err)
	}
	addr := serve(t, s, ca)
	cert := ca.issue(t, "spiffe://cluster.local/ns/shop/sa/frontend")

	// connect opens a stream that has version (empty: none) of every type,
	// and returns it with its cancel, and the version of its first
	// response (empty: none came within wait).
	connect := func(version string, wait time.Duration) (context.CancelFunc, string) {
		ctx, cancel := context.WithCancel(t.Context())
		stream := dialCtx(t, ctx, addr, ca, &cert)
		if err := stream.Send(&discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: node}, TypeUrl: resourcev3.ClusterType, VersionInfo: version}); err != nil {
			t.Fatal(err)
		}
		resp := next(t, stream.Recv, wait)
		if resp == nil {
			return cancel, ""
		}
		return cancel, (*resp).GetVersionInfo()
	}
	waitGone := func(want bool) time.Duration {
		start := time.Now()
		for (version(t, s, node) == "") != want {
			if time.Since(start) > 10*time.Second {
				t.Fatalf("snapshot of %s: still %q after 10 s", node, version(t, s, node))
			}
			time.Sleep(10 * time.Millisecond)
		}
		return time.Since(start)
	}

	closed := func(cancel context.CancelFunc) time.Time {
		cancel()
		deadline := time.Now().Add(10 * time.Second)
		for {
			open := false
			for _, st := range s.Status() {
				open = open || st.Node == node
			}
			if !open {
				return time.Now()
			}
			if time.Now().After(deadline) {
				t.Fatal("the server never saw the stream close")
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	cancel, v1 := connect("", 10*time.Second)
	if v1 == "" {
		t.Fatal("no configuration on the first connection")
	}
	closed(cancel)
	if got := version(t, s, node); got != v1 {
		t.Fatalf("snapshot right after the stream closed: %q, want %q (kept for the grace period)", got, v1)
	}

	// Within the grace period an Update keeps the snapshot up to date,
	// and a reconnection gets the change without a translation.
	if err := s.Update(t.Context(), testMesh("192.0.2.4")); err != nil {
		t.Fatal(err)
	}
	v2 := version(t, s, node)
	if v2 == "" || v2 == v1 {
		t.Fatalf("Update during the grace period left the snapshot at %q (was %q)", v2, v1)
	}
	n := translations(s)
	cancel, got := connect(v1, 10*time.Second)
	if got != v2 {
		t.Errorf("reconnecting with %s got %q, want %s", v1, got, v2)
	}
	closed(cancel)
	// go-control-plane answers a new state-of-the-world stream even when
	// it names the current version (it knows no resource the stream has
	// seen): the same version, nothing new.
	cancel, got = connect(v2, 10*time.Second)
	if got != v2 {
		t.Errorf("reconnecting with the current version %s got version %q, want the same", v2, got)
	}
	if d := translations(s) - n; d != 0 {
		t.Errorf("reconnections within the grace period translated %d times, want 0", d)
	}
	at := closed(cancel)

	// After the grace period: gone, and everything that went with it.
	if d := waitGone(true) + time.Since(at); d < grace-50*time.Millisecond {
		// waitGone ran after closed returned: d bounds the time from close.
		t.Errorf("snapshot dropped %v after the stream closed, before the grace period of %v", d, grace)
	}
	s.mu.Lock()
	held, counts, interned := s.held[node], len(s.counts), len(s.interned.held)
	s.mu.Unlock()
	if held || counts != 0 || interned != 0 {
		t.Errorf("after the grace period: held %v, %d nodes counted, %d nodes interned; want none", held, counts, interned)
	}
	if v := testutil.ToFloat64(s.metrics.resources.WithLabelValues(resourcev3.ClusterType)); v != 0 {
		t.Errorf("weft_xds_snapshot_resources{type=cluster} %v with no snapshot, want 0", v)
	}

	// Reconnecting rebuilds it: the same content, the same version.
	cancel, got = connect(v2, 10*time.Second)
	defer cancel()
	if got != v2 {
		t.Errorf("reconnecting after the grace period with %s got %q, want the same version", v2, got)
	}
	if d := translations(s) - n; d != 1 {
		t.Errorf("reconnection after the grace period translated %d times, want 1", d)
	}
	if got := version(t, s, node); got != v2 {
		t.Errorf("snapshot after reconnecting: %q, want %q", got, v2)
	}
}

// dialCtx is dial with a stream bounded by ctx.
func dialCtx(t *testing.T, ctx context.Context, addr string, ca *testCA, cert *tls.Certificate) discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool, ServerName: "127.0.0.1", Certificates: []tls.Certificate{*cert}}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return stream
}
