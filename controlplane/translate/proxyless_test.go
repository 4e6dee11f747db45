package translate

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	router "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/weftmesh/weft/controlplane/model"
)

func proxylessIn(t *testing.T, mesh func() *model.Mesh, key model.NamespacedName) Resources {
	t.Helper()
	m := mesh()
	w := m.Workload(key)
	if w == nil {
		t.Fatalf("no workload %s in the test mesh", key)
	}
	res, err := Proxyless(m, w)
	if err != nil {
		t.Fatalf("Proxyless: %v", err)
	}
	return res
}

func TestProxylessGolden(t *testing.T) {
	for _, tc := range proxylessCases {
		t.Run(tc.file, func(t *testing.T) {
			got := render(t, proxylessIn(t, tc.mesh, tc.workload))
			path := filepath.Join("testdata", filepath.FromSlash(tc.file)+".golden.yaml")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./controlplane/translate -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output differs from %s (rerun with -update and review the diff):\n%s", path, got)
			}
		})
	}
}

// TestProxylessTargets checks which service ports a proxyless client gets
// a target for: its scope's ports that may carry HTTP/2.
func TestProxylessTargets(t *testing.T) {
	tests := []struct {
		name   string
		client model.NamespacedName
		want   []string
	}{
		{
			name:   "own namespace: grpc, h2c and undeclared ports; not http, tcp, or another namespace",
			client: model.NamespacedName{Namespace: "rpc", Name: "client"},
			want: []string{
				"dns.rpc.svc.cluster.local:53",
				"greeter-v1.rpc.svc.cluster.local:50051",
				"greeter-v2.rpc.svc.cluster.local:50051",
				"greeter.rpc.svc.cluster.local:50051",
				"h2.rpc.svc.cluster.local:8443",
				"locked.rpc.svc.cluster.local:7070",
				"plain.rpc.svc.cluster.local:9000",
			},
		},
		{
			name:   "own namespace and one dependency",
			client: model.NamespacedName{Namespace: "edge", Name: "caller"},
			want:   []string{"greeter.rpc.svc.cluster.local:50051", "local.edge.svc.cluster.local:50051"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := proxylessIn(t, rpcMesh, tt.client)
			for _, typ := range []resource.Type{resource.ListenerType, resource.RouteType} {
				if got := names(res[typ]); !slices.Equal(got, tt.want) {
					t.Errorf("%s names = %v, want %v", typeName(typ), got, tt.want)
				}
			}
		})
	}
}

// TestProxylessShape checks, on every case, what grpc-go's xDS client
// requires (its xdsresource unmarshalling, v1.85): an api_listener with an
// HTTP connection manager on RDS over ADS whose last HTTP filter is the
// router; one virtual host whose domain is the target; EDS clusters over
// ADS with a load-balancing policy it runs and no transport socket; every
// locality with an ID and a weight; no retry policy with zero retries;
// and every cluster a route names present.
func TestProxylessShape(t *testing.T) {
	for _, tc := range proxylessCases {
		t.Run(tc.file, func(t *testing.T) {
			res := proxylessIn(t, tc.mesh, tc.workload)
			if len(res[resource.ListenerType]) == 0 {
				t.Fatal("no listeners")
			}
			for _, r := range res[resource.ListenerType] {
				checkAPIListener(t, r.(*listener.Listener))
			}
			clusters := map[string]bool{}
			for _, r := range res[resource.ClusterType] {
				c := r.(*cluster.Cluster)
				clusters[c.GetName()] = true
				checkProxylessCluster(t, c)
			}
			for _, r := range res[resource.EndpointType] {
				for _, l := range r.(*endpoint.ClusterLoadAssignment).GetEndpoints() {
					if l.GetLocality() == nil || l.GetLoadBalancingWeight().GetValue() == 0 {
						t.Errorf("assignment %s: locality without ID or weight", cache.GetResourceName(r))
					}
				}
			}
			for _, r := range res[resource.RouteType] {
				rc := r.(*route.RouteConfiguration)
				vhs := rc.GetVirtualHosts()
				if len(vhs) != 1 || !slices.Equal(vhs[0].GetDomains(), []string{rc.GetName()}) {
					t.Errorf("route %s: virtual hosts %v, want one with domains [%s]", rc.GetName(), vhs, rc.GetName())
					continue
				}
				for _, rt := range vhs[0].GetRoutes() {
					ra := rt.GetRoute()
					if n := ra.GetRetryPolicy().GetNumRetries(); n != nil && n.GetValue() == 0 {
						t.Errorf("route %s/%s: retry policy with num_retries 0", rc.GetName(), rt.GetName())
					}
					if to := ra.GetTimeout().AsDuration(); to > 0 && ra.GetMaxStreamDuration().GetMaxStreamDuration().AsDuration() != to {
						t.Errorf("route %s/%s: timeout %v without the same max_stream_duration", rc.GetName(), rt.GetName(), to)
					}
					for _, name := range routeClusters(ra) {
						if !clusters[name] {
							t.Errorf("route %s/%s sends to cluster %s, which is missing", rc.GetName(), rt.GetName(), name)
						}
					}
				}
			}
		})
	}
}

func checkAPIListener(t *testing.T, l *listener.Listener) {
	t.Helper()
	if l.GetAddress() != nil || len(l.GetFilterChains()) != 0 {
		t.Errorf("listener %s has an address or filter chains", l.GetName())
	}
	m := unpack[*hcm.HttpConnectionManager](t, l.GetApiListener().GetApiListener())
	rds := m.GetRds()
	if rds.GetConfigSource().GetAds() == nil || rds.GetRouteConfigName() != l.GetName() {
		t.Errorf("listener %s: rds %v, want the route of the same name over ADS", l.GetName(), rds)
	}
	fs := m.GetHttpFilters()
	if len(fs) == 0 {
		t.Fatalf("listener %s: no HTTP filters", l.GetName())
	}
	unpack[*router.Router](t, fs[len(fs)-1].GetTypedConfig())
}

func checkProxylessCluster(t *testing.T, c *cluster.Cluster) {
	t.Helper()
	if c.GetType() != cluster.Cluster_EDS || c.GetEdsClusterConfig().GetEdsConfig().GetAds() == nil {
		t.Errorf("cluster %s is not EDS over ADS", c.GetName())
	}
	if c.GetTransportSocket() != nil || len(c.GetTypedExtensionProtocolOptions()) != 0 {
		t.Errorf("cluster %s has a transport socket or protocol options", c.GetName())
	}
	switch c.GetLbPolicy() {
	case cluster.Cluster_ROUND_ROBIN, cluster.Cluster_LEAST_REQUEST:
	case cluster.Cluster_RING_HASH:
		if c.GetRingHashLbConfig().GetHashFunction() != cluster.Cluster_RingHashLbConfig_XX_HASH {
			t.Errorf("cluster %s: ring hash without xxHash", c.GetName())
		}
	default:
		t.Errorf("cluster %s: lb_policy %v, which grpc-go refuses", c.GetName(), c.GetLbPolicy())
	}
}

func routeClusters(ra *route.RouteAction) []string {
	if name := ra.GetCluster(); name != "" {
		return []string{name}
	}
	var out []string
	for _, wc := range ra.GetWeightedClusters().GetClusters() {
		out = append(out, wc.GetName())
	}
	return out
}

// TestProxylessEndpoints: a STRICT endpoint, which would refuse a
// plaintext client, is left out; a setting grpc-go does not run moves to
// the nearest it does.
func TestProxylessEndpoints(t *testing.T) {
	res := proxylessIn(t, rpcMesh, model.NamespacedName{Namespace: "rpc", Name: "client"})
	byName := func(typ resource.Type, name string) types.Resource {
		t.Helper()
		for _, r := range res[typ] {
			if cache.GetResourceName(r) == name {
				return r
			}
		}
		t.Fatalf("no %s %s", typeName(typ), name)
		return nil
	}
	tests := []struct {
		service   string
		port      uint32
		addresses []string
		lb        cluster.Cluster_LbPolicy
	}{
		{"greeter", 50051, []string{"192.0.2.11:50051", "192.0.2.12:50051", "192.0.2.13:50051"}, cluster.Cluster_ROUND_ROBIN},
		{"greeter-v2", 50051, []string{"192.0.2.13:50051"}, cluster.Cluster_RING_HASH},
		{"locked", 7070, []string{"192.0.2.32:7070"}, cluster.Cluster_ROUND_ROBIN},
		{"plain", 9000, []string{"192.0.2.21:9000"}, cluster.Cluster_ROUND_ROBIN},
	}
	for _, tt := range tests {
		t.Run(tt.service, func(t *testing.T) {
			name := OutboundClusterName(model.NamespacedName{Namespace: "rpc", Name: tt.service}, tt.port)
			if got := byName(resource.ClusterType, name).(*cluster.Cluster).GetLbPolicy(); got != tt.lb {
				t.Errorf("lb_policy = %v, want %v", got, tt.lb)
			}
			var got []string
			for _, l := range byName(resource.EndpointType, name).(*endpoint.ClusterLoadAssignment).GetEndpoints() {
				for _, e := range l.GetLbEndpoints() {
					sa := e.GetEndpoint().GetAddress().GetSocketAddress()
					got = append(got, net.JoinHostPort(sa.GetAddress(), strconv.FormatUint(uint64(sa.GetPortValue()), 10)))
				}
			}
			if !slices.Equal(got, tt.addresses) {
				t.Errorf("endpoints = %v, want %v", got, tt.addresses)
			}
		})
	}
}

// TestConsistentAPIListeners: go-control-plane's own check refuses a
// proxyless snapshot (it does not read api_listeners); Consistent accepts
// it, still catches a missing route or assignment, and agrees with the
// original on sidecar snapshots.
func TestConsistentAPIListeners(t *testing.T) {
	snapOf := func(t *testing.T, res Resources) *cache.Snapshot {
		t.Helper()
		snap, err := cache.NewSnapshot("1", res)
		if err != nil {
			t.Fatal(err)
		}
		return snap
	}
	client := model.NamespacedName{Namespace: "rpc", Name: "client"}
	t.Run("proxyless", func(t *testing.T) {
		snap := snapOf(t, proxylessIn(t, rpcMesh, client))
		if err := snap.Consistent(); err == nil {
			t.Error("go-control-plane's Consistent accepted api_listeners; Consistent may be unneeded")
		}
		if err := Consistent(snap); err != nil {
			t.Errorf("Consistent: %v", err)
		}
		// The check left the snapshot as it was.
		for _, r := range snap.Resources[types.Listener].Items {
			if len(r.Resource.(*listener.Listener).GetFilterChains()) != 0 {
				t.Error("Consistent changed the snapshot's listeners")
			}
		}
	})
	for _, typ := range []resource.Type{resource.RouteType, resource.EndpointType} {
		t.Run("missing "+typeName(typ), func(t *testing.T) {
			res := proxylessIn(t, rpcMesh, client)
			res[typ] = res[typ][1:]
			if err := Consistent(snapOf(t, res)); err == nil {
				t.Errorf("Consistent accepted a snapshot missing a %s", typeName(typ))
			}
		})
	}
	for _, tc := range goldenCases {
		t.Run("sidecar "+tc.file, func(t *testing.T) {
			snap := snapOf(t, translateIn(t, tc.mesh, tc.workload))
			if want, got := snap.Consistent(), Consistent(snap); (want == nil) != (got == nil) {
				t.Errorf("Consistent = %v, go-control-plane's = %v", got, want)
			}
		})
	}
}

func TestProxylessValidates(t *testing.T) {
	seen := map[string]bool{}
	for _, tc := range proxylessCases {
		t.Run(tc.file, func(t *testing.T) {
			for _, rs := range proxylessIn(t, tc.mesh, tc.workload) {
				for _, r := range rs {
					validateDeep(t, cache.GetResourceName(r), r, seen)
				}
			}
		})
	}
	if !seen[string((&hcm.HttpConnectionManager{}).ProtoReflect().Descriptor().FullName())] {
		t.Error("the walk never reached the api_listener's HTTP connection manager")
	}
}

func TestProxylessDeterministic(t *testing.T) {
	for _, tc := range proxylessCases {
		t.Run(tc.file, func(t *testing.T) {
			first := marshalAll(t, proxylessIn(t, tc.mesh, tc.workload))
			for range 10 {
				if got := marshalAll(t, proxylessIn(t, tc.mesh, tc.workload)); !bytes.Equal(got, first) {
					t.Fatal("two translations of the same input differ")
				}
			}
		})
	}
}

func TestProxylessErrors(t *testing.T) {
	tests := []struct {
		name string
		mesh func() *model.Mesh
		w    *model.Workload
		want string
	}{
		{"nil mesh", func() *model.Mesh { return nil }, &model.Workload{}, "nil mesh"},
		{"nil workload", rpcMesh, nil, "nil mesh or workload"},
		{"no trust domain", func() *model.Mesh {
			m := rpcMesh()
			m.TrustDomain = spiffeid.TrustDomain{}
			return m
		}, &model.Workload{Name: "c", Namespace: "rpc", ServiceAccount: "c", Proxyless: true}, "no trust domain"},
		{"no identity", rpcMesh, &model.Workload{Name: "c", Namespace: "rpc", Proxyless: true}, "identity"},
		{"bad service port", func() *model.Mesh {
			m := rpcMesh()
			m.Services = append(m.Services, model.Service{Name: "zz", Namespace: "rpc", Ports: []model.ServicePort{{Port: 70000}}})
			return m
		}, &model.Workload{Name: "c", Namespace: "rpc", ServiceAccount: "c", Proxyless: true}, "port 70000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Proxyless(tt.mesh(), tt.w)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Proxyless error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}
