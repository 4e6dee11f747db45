package xds

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/weftmesh/weft/controlplane/model"
	"github.com/weftmesh/weft/controlplane/translate"
)

// padServices makes every two of the stuck proxy's responses exceed
// stuckBacklog (checked by checkStuckBacklog), twice over.
const padServices = 600

// stuckBacklog is how much a stream can queue before a Send blocks for
// good on a proxy that does not read: gRPC lets a Send through while the
// stream's 64 KiB write quota is not spent, and the stuck proxy's 64 KiB
// stream window (openStuck) lets as much out. The stuck proxy never ACKs,
// so it is sent one response per type and no more, in an order
// go-control-plane leaves to chance: the send timeout is certain to fire
// only if any two of the three exceed stuckBacklog. (At 300 services,
// clusters and assignments came 429 bytes short: with listeners last,
// no Send ever blocked.)
const stuckBacklog = 64<<10 + 64<<10

// crowdMesh is round r of the stuck-client test: clients client-0…client-<n-1>
// call "backend", whose (r%3)+1 workloads sit at 10.0.<r>.1…; stuck-1 calls
// padServices services without endpoints.
func crowdMesh(clients, r int) *model.Mesh {
	m := &model.Mesh{TrustDomain: td}
	m.Services = append(m.Services, model.Service{
		Name: "backend", Namespace: "shop", Selector: map[string]string{"app": "backend"},
		Ports: []model.ServicePort{{Name: "tcp", Port: 9000, TargetPort: 9000}},
	})
	for i := range r%3 + 1 {
		m.Workloads = append(m.Workloads, model.Workload{
			Name: fmt.Sprintf("backend-%d", i), Namespace: "shop", ServiceAccount: "backend", Labels: map[string]string{"app": "backend"},
			Address: crowdAddr(r, i), LocalAddress: netip.MustParseAddr("127.0.0.1"),
			Ports: []model.WorkloadPort{{Name: "tcp", Port: 9000}},
		})
	}
	for i := range clients {
		m.Workloads = append(m.Workloads, model.Workload{
			Name: fmt.Sprintf("client-%d", i), Namespace: "shop", ServiceAccount: "client",
			LocalAddress: netip.MustParseAddr("127.0.0.1"),
			Outbound:     []model.Outbound{{Service: model.NamespacedName{Namespace: "shop", Name: "backend"}, Port: 9000}},
		})
	}
	stuck := model.Workload{Name: "stuck-1", Namespace: "shop", ServiceAccount: "stuck", LocalAddress: netip.MustParseAddr("127.0.0.1")}
	for i := range padServices {
		name := fmt.Sprintf("pad-%d", i)
		m.Services = append(m.Services, model.Service{
			Name: name, Namespace: "shop", Selector: map[string]string{"app": name},
			Ports: []model.ServicePort{{Name: "tcp", Port: 9000, TargetPort: 9000}},
		})
		stuck.Outbound = append(stuck.Outbound, model.Outbound{
			Service: model.NamespacedName{Namespace: "shop", Name: name}, Port: 9000, LocalPort: uint32(20000 + i),
		})
	}
	m.Workloads = append(m.Workloads, stuck)
	m.Sort()
	return m
}

// checkStuckBacklog fails t unless the two smallest of the responses
// stuck-1 asks for in m (less their version and nonce) exceed stuckBacklog.
func checkStuckBacklog(t *testing.T, m *model.Mesh) {
	t.Helper()
	res, err := translate.Proxy(m, m.Workload(model.NamespacedName{Namespace: "shop", Name: "stuck-1"}))
	if err != nil {
		t.Fatal(err)
	}
	var sizes []int
	for _, typ := range []string{resourcev3.ClusterType, resourcev3.ListenerType, resourcev3.EndpointType} {
		resp := &discoveryv3.DiscoveryResponse{TypeUrl: typ}
		for _, r := range res[typ] {
			a, err := anypb.New(r)
			if err != nil {
				t.Fatal(err)
			}
			resp.Resources = append(resp.Resources, a)
		}
		sizes = append(sizes, proto.Size(resp))
	}
	slices.Sort(sizes)
	if sizes[0]+sizes[1] <= stuckBacklog {
		t.Fatalf("the stuck proxy's responses (%v bytes) are too small to block a Send for good; raise padServices", sizes)
	}
}

func crowdAddr(r, i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 0, byte(r), byte(i + 1)}) }

// crowdWant is what a client's backend assignment lists in round r.
func crowdWant(r int) string {
	var addrs []string
	for i := range r%3 + 1 {
		addrs = append(addrs, netip.AddrPortFrom(crowdAddr(r, i), 9000).String())
	}
	return strings.Join(addrs, ",")
}

// endpointsOf lists the addresses of the backend assignment among rs, or
// reports false when it is not there.
func endpointsOf(t *testing.T, rs []*anypb.Any) (string, bool) {
	for _, a := range rs {
		var cla endpointv3.ClusterLoadAssignment
		if err := a.UnmarshalTo(&cla); err != nil {
			t.Errorf("decoding assignment: %v", err)
			return "", false
		}
		if cla.GetClusterName() != backendCluster {
			continue
		}
		var addrs []string
		for _, l := range cla.GetEndpoints() {
			for _, e := range l.GetLbEndpoints() {
				sa := e.GetEndpoint().GetAddress().GetSocketAddress()
				addrs = append(addrs, fmt.Sprintf("%s:%d", sa.GetAddress(), sa.GetPortValue()))
			}
		}
		slices.Sort(addrs)
		return strings.Join(addrs, ","), true
	}
	return "", false
}

// board is what every client last received for the backend.
type board struct {
	mu   sync.Mutex
	seen map[string]string
}

func (b *board) set(node, v string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seen[node] = v
}

// waitAll waits until every node of nodes has seen want.
func (b *board) waitAll(t *testing.T, nodes []string, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b.mu.Lock()
		var behind []string
		for _, n := range nodes {
			if b.seen[n] != want {
				behind = append(behind, n+"="+b.seen[n])
			}
		}
		b.mu.Unlock()
		if len(behind) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d clients never saw %s: %v", len(behind), want, behind)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func clientConn(t *testing.T, addr string, ca *testCA, cert tls.Certificate, opts ...grpc.DialOption) discoveryv3.AggregatedDiscoveryServiceClient {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool, ServerName: "127.0.0.1", Certificates: []tls.Certificate{cert}}
	conn, err := grpc.NewClient(addr, append(opts, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return discoveryv3.NewAggregatedDiscoveryServiceClient(conn)
}

// followSotW is a state-of-the-world proxy: wildcard CDS and LDS, EDS for
// the backend cluster, every response acknowledged. It returns when the
// stream ends.
func followSotW(t *testing.T, ctx context.Context, c discoveryv3.AggregatedDiscoveryServiceClient, node string, b *board) error {
	stream, err := c.StreamAggregatedResources(ctx)
	if err != nil {
		return err
	}
	n := &corev3.Node{Id: node}
	for _, typ := range []string{resourcev3.ClusterType, resourcev3.ListenerType} {
		if err := stream.Send(&discoveryv3.DiscoveryRequest{Node: n, TypeUrl: typ}); err != nil {
			return err
		}
	}
	subscribed := false
	for {
		resp, err := stream.Recv()
		if err != nil {
			return err
		}
		if resp.GetTypeUrl() == resourcev3.EndpointType {
			if v, ok := endpointsOf(t, resp.GetResources()); ok {
				b.set(node, v)
			}
		}
		req := &discoveryv3.DiscoveryRequest{TypeUrl: resp.GetTypeUrl(), VersionInfo: resp.GetVersionInfo(), ResponseNonce: resp.GetNonce()}
		if resp.GetTypeUrl() == resourcev3.EndpointType {
			req.ResourceNames = []string{backendCluster}
		}
		if err := stream.Send(req); err != nil {
			return err
		}
		if resp.GetTypeUrl() == resourcev3.ClusterType && !subscribed {
			subscribed = true
			if err := stream.Send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResourceNames: []string{backendCluster}}); err != nil {
				return err
			}
		}
	}
}

// followDelta is the same proxy over incremental xDS.
func followDelta(t *testing.T, ctx context.Context, c discoveryv3.AggregatedDiscoveryServiceClient, node string, b *board) error {
	stream, err := c.DeltaAggregatedResources(ctx)
	if err != nil {
		return err
	}
	n := &corev3.Node{Id: node}
	for _, typ := range []string{resourcev3.ClusterType, resourcev3.ListenerType} {
		if err := stream.Send(&discoveryv3.DeltaDiscoveryRequest{Node: n, TypeUrl: typ}); err != nil {
			return err
		}
	}
	subscribed := false
	for {
		resp, err := stream.Recv()
		if err != nil {
			return err
		}
		if resp.GetTypeUrl() == resourcev3.EndpointType {
			var rs []*anypb.Any
			for _, r := range resp.GetResources() {
				rs = append(rs, r.GetResource())
			}
			if v, ok := endpointsOf(t, rs); ok {
				b.set(node, v)
			}
		}
		if err := stream.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resp.GetTypeUrl(), ResponseNonce: resp.GetNonce()}); err != nil {
			return err
		}
		if resp.GetTypeUrl() == resourcev3.ClusterType && !subscribed {
			subscribed = true
			if err := stream.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResourceNamesSubscribe: []string{backendCluster}}); err != nil {
				return err
			}
		}
	}
}

// openStuck opens a stream for stuck-1 with the smallest flow-control
// windows gRPC allows, asks for everything, and never reads.
func openStuck(t *testing.T, ctx context.Context, addr string, ca *testCA) {
	t.Helper()
	c := clientConn(t, addr, ca, ca.issue(t, "spiffe://cluster.local/ns/shop/sa/stuck"),
		grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	stream, err := c.StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := &corev3.Node{Id: "stuck-1.shop"}
	for _, typ := range []string{resourcev3.ClusterType, resourcev3.ListenerType, resourcev3.EndpointType} {
		if err := stream.Send(&discoveryv3.DiscoveryRequest{Node: n, TypeUrl: typ}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestStuckClientDoesNotHoldBackOthers(t *testing.T) {
	const clients, deltaClients, rounds = 50, 10, 20
	tests := []struct {
		name        string
		sendTimeout time.Duration
		evicted     bool
	}{
		// go-control-plane alone: the stuck stream stays, blocked in one Send.
		{"no send timeout", -1, false},
		// With a send timeout the stuck stream is closed. On a loaded
		// machine (-race, the whole suite in parallel) a healthy client
		// may be slow past it too: like a real proxy it reconnects.
		{"send timeout", 500 * time.Millisecond, true},
	}
	checkStuckBacklog(t, crowdMesh(clients, 0))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ca := newTestCA(t)
			reg := prometheus.NewPedanticRegistry()
			s := New(Config{Registerer: reg, SendTimeout: tt.sendTimeout})
			ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
			defer cancel()
			if err := s.Update(ctx, crowdMesh(clients, 0)); err != nil {
				t.Fatal(err)
			}
			addr := serve(t, s, ca)
			openStuck(t, ctx, addr, ca)
			waitStatus(t, s, "stuck-1.shop", func(ProxyStatus) bool { return true })

			b := &board{seen: map[string]string{}}
			cert := ca.issue(t, "spiffe://cluster.local/ns/shop/sa/client")
			var nodes []string
			var wg sync.WaitGroup
			for i := range clients {
				node := fmt.Sprintf("client-%d.shop", i)
				nodes = append(nodes, node)
				c := clientConn(t, addr, ca, cert)
				follow := followSotW
				if i < deltaClients {
					follow = followDelta
				}
				wg.Go(func() {
					// Reconnect as a proxy does when its stream ends.
					for ctx.Err() == nil {
						_ = follow(t, ctx, c, node, b)
					}
				})
			}
			defer wg.Wait()
			defer cancel()

			b.waitAll(t, nodes, crowdWant(0))
			for r := 1; r <= rounds; r++ {
				if err := s.Update(ctx, crowdMesh(clients, r)); err != nil {
					t.Fatal(err)
				}
				b.waitAll(t, nodes, crowdWant(r))
			}

			if tt.evicted {
				deadline := time.Now().Add(30 * time.Second)
				for slices.ContainsFunc(s.Status(), func(st ProxyStatus) bool { return st.Node == "stuck-1.shop" }) {
					if time.Now().After(deadline) {
						t.Fatal("the stuck stream was never closed")
					}
					time.Sleep(10 * time.Millisecond)
				}
			} else {
				st := waitStatus(t, s, "stuck-1.shop", func(ProxyStatus) bool { return true })
				if len(st.Acked) != 0 {
					t.Errorf("the stuck proxy acknowledged %v", st.Acked)
				}
			}
			want := float64(clients - deltaClients)
			if !tt.evicted {
				want++
			}
			// A client evicted for slowness is back within a moment.
			deadline := time.Now().Add(30 * time.Second)
			for {
				sotw := metricValue(t, reg, "weft_xds_connected_proxies", "variant", "sotw")
				delta := metricValue(t, reg, "weft_xds_connected_proxies", "variant", "delta")
				if sotw == want && delta == deltaClients {
					break
				}
				if time.Now().After(deadline) {
					t.Errorf("weft_xds_connected_proxies = %v (sotw), %v (delta); want %v, %d", sotw, delta, want, deltaClients)
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}
