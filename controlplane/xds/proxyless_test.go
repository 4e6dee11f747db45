package xds

import (
	"net/netip"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/weftmesh/weft/controlplane/model"
	"github.com/weftmesh/weft/controlplane/translate"
)

// proxylessMesh is testMesh with two gRPC Services and grpc-1, a
// proxyless client of them.
func proxylessMesh() *model.Mesh {
	m := testMesh("192.0.2.3")
	for i, name := range []string{"greeter", "echo"} {
		port := uint32(50051 + i)
		m.Services = append(m.Services, model.Service{
			Name: name, Namespace: "shop", Selector: map[string]string{"app": name},
			Ports: []model.ServicePort{{Name: "grpc", Port: port, TargetPort: port, AppProtocol: "grpc"}},
		})
		m.Workloads = append(m.Workloads, model.Workload{
			Name: name + "-1", Namespace: "shop", ServiceAccount: name, Labels: map[string]string{"app": name},
			Address: netip.AddrFrom4([4]byte{192, 0, 2, byte(10 + i)}), LocalAddress: netip.MustParseAddr("127.0.0.1"),
			Ports: []model.WorkloadPort{{Port: port}},
		})
	}
	m.Workloads = append(m.Workloads, model.Workload{Name: "grpc-1", Namespace: "shop", ServiceAccount: "grpc", Proxyless: true})
	m.Sort()
	return m
}

// TestProxylessSnapshots: Update gives a proxyless workload Proxyless's
// resources, in the proxyless cache; sidecars stay in the ADS one.
func TestProxylessSnapshots(t *testing.T) {
	s := New(Config{AllWorkloads: true}) // reads snapshots without streams
	m := proxylessMesh()
	if err := s.Update(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	c := s.cache.(*proxylessCache)
	tests := []struct {
		node            string
		proxyless       bool
		apiListenerWant bool
	}{
		{"grpc-1.shop", true, true},
		{"frontend-1.shop", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.node, func(t *testing.T) {
			mine, other := c.SnapshotCache, c.proxyless
			if tt.proxyless {
				mine, other = other, mine
			}
			snap, err := mine.GetSnapshot(tt.node)
			if err != nil {
				t.Fatalf("no snapshot in the node's cache: %v", err)
			}
			if _, err := other.GetSnapshot(tt.node); err == nil {
				t.Error("a snapshot in the other cache too")
			}
			ls := snap.GetResources(resourcev3.ListenerType)
			if len(ls) == 0 {
				t.Fatal("no listeners")
			}
			for name, r := range ls {
				if got := r.(*listenerv3.Listener).GetApiListener() != nil; got != tt.apiListenerWant {
					t.Errorf("listener %s: api_listener %v, want %v", name, got, tt.apiListenerWant)
				}
			}
		})
	}
}

// TestProxylessNamedRequests: a gRPC client asks for the resources of the
// channels it has open, a subset of its snapshot, one type at a time, and
// is answered with just those (an ADS-mode cache would never answer).
func TestProxylessNamedRequests(t *testing.T) {
	ca := newTestCA(t)
	s := New(Config{})
	if err := s.Update(t.Context(), proxylessMesh()); err != nil {
		t.Fatal(err)
	}
	cert := ca.issue(t, "spiffe://cluster.local/ns/shop/sa/grpc")
	stream := dial(t, serve(t, s, ca), ca, &cert)
	target := translate.ProxylessListenerName(model.NamespacedName{Namespace: "shop", Name: "greeter"}, 50051)
	cluster := translate.OutboundClusterName(model.NamespacedName{Namespace: "shop", Name: "greeter"}, 50051)
	node := &corev3.Node{Id: "grpc-1.shop"}
	for _, req := range []struct{ typ, name string }{
		{resourcev3.ListenerType, target},
		{resourcev3.RouteType, target},
		{resourcev3.ClusterType, cluster},
		{resourcev3.EndpointType, cluster},
	} {
		if err := stream.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: req.typ, ResourceNames: []string{req.name}}); err != nil {
			t.Fatal(err)
		}
		node = nil // sent on the first request only, as grpc-go does
		got := make(chan *discoveryv3.DiscoveryResponse, 1)
		errc := make(chan error, 1)
		go func() {
			resp, err := stream.Recv()
			if err != nil {
				errc <- err
				return
			}
			got <- resp
		}()
		select {
		case resp := <-got:
			if resp.GetTypeUrl() != req.typ || len(resp.GetResources()) != 1 {
				t.Fatalf("%s: response of type %s with %d resources, want the one named", req.typ, resp.GetTypeUrl(), len(resp.GetResources()))
			}
		case err := <-errc:
			t.Fatalf("%s: %v", req.typ, err)
		case <-time.After(10 * time.Second):
			t.Fatalf("no response to a request for %s %s", req.typ, req.name)
		}
	}
}
