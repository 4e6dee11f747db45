package translate

import (
	"net/netip"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/controlplane/model"
)

// rpcMesh is the mesh of the proxyless cases, in namespaces "rpc" and
// "edge". It is built afresh for every call.
//
//   - greeter:50051 (grpc) selects greeter-1 and greeter-2 (track v1) and
//     greeter-3 (v2); greeter-v1 and greeter-v2 select one track each.
//     GRPCRoute greeter-split sends helloworld.Greeter/SayHello 80/20 to
//     them; greeter-v2's TrafficPolicy asks for MAGLEV on a header.
//   - plain:9000 declares no protocol; HTTPRoute plain-timeout gives it a
//     backendRequest timeout alone, and its TrafficPolicy asks for RANDOM.
//   - h2:8443 is kubernetes.io/h2c, with a 3s TrafficPolicy timeout; web:80 is http and db:5432 tcp (no
//     target for a gRPC client); dns:53 lists port 53 twice.
//   - locked:7070 (grpc) has locked-1 under a STRICT PeerAuthentication
//     and locked-2 without.
//   - rpc/client is proxyless; edge/caller is proxyless, depends on
//     rpc/greeter, and has edge/local:50051 (grpc, no endpoints) at home.
func rpcMesh() *model.Mesh {
	grpc := func(port uint32) model.ServicePort {
		return model.ServicePort{Name: "grpc", Port: port, TargetPort: port, AppProtocol: "grpc"}
	}
	svc := func(ns, name string, sel map[string]string, ports ...model.ServicePort) model.Service {
		return model.Service{Name: name, Namespace: ns, Selector: sel, Ports: ports}
	}
	server := func(name string, labels map[string]string, addr string, port uint32) model.Workload {
		return model.Workload{
			Name: name, Namespace: "rpc", ServiceAccount: labels["app"], Labels: labels,
			Address: netip.MustParseAddr(addr), LocalAddress: netip.MustParseAddr("127.0.0.1"),
			Ports: []model.WorkloadPort{{Port: port}},
		}
	}
	tp := func(name string, lb v1alpha1.LoadBalancer) v1alpha1.TrafficPolicy {
		return v1alpha1.TrafficPolicy{
			ObjectMeta: metav1.ObjectMeta{Namespace: "rpc", Name: name},
			Spec: v1alpha1.TrafficPolicySpec{
				TargetRef:    v1alpha1.ServiceReference{Kind: "Service", Name: name},
				LoadBalancer: &lb,
			},
		}
	}
	m := &model.Mesh{
		TrustDomain: spiffeid.RequireTrustDomainFromString("cluster.local"),
		Services: []model.Service{
			svc("rpc", "greeter", map[string]string{"app": "greeter"}, grpc(50051)),
			svc("rpc", "greeter-v1", map[string]string{"app": "greeter", "track": "v1"}, grpc(50051)),
			svc("rpc", "greeter-v2", map[string]string{"app": "greeter", "track": "v2"}, grpc(50051)),
			svc("rpc", "plain", map[string]string{"app": "plain"}, model.ServicePort{Port: 9000, TargetPort: 9000}),
			svc("rpc", "h2", map[string]string{"app": "h2"}, model.ServicePort{Name: "h2", Port: 8443, TargetPort: 8443, AppProtocol: "kubernetes.io/h2c"}),
			svc("rpc", "web", map[string]string{"app": "web"}, model.ServicePort{Name: "web", Port: 80, TargetPort: 8080, AppProtocol: "http"}),
			svc("rpc", "db", map[string]string{"app": "db"}, model.ServicePort{Name: "db", Port: 5432, TargetPort: 5432, AppProtocol: "tcp"}),
			svc("rpc", "dns", map[string]string{"app": "dns"},
				model.ServicePort{Name: "dns", Port: 53, TargetPort: 53}, model.ServicePort{Name: "dns-udp", Port: 53, TargetPort: 53}),
			svc("rpc", "locked", map[string]string{"app": "locked"}, grpc(7070)),
			svc("edge", "local", map[string]string{"app": "local"}, grpc(50051)),
		},
		Workloads: []model.Workload{
			server("greeter-1", map[string]string{"app": "greeter", "track": "v1"}, "192.0.2.11", 50051),
			server("greeter-2", map[string]string{"app": "greeter", "track": "v1"}, "192.0.2.12", 50051),
			server("greeter-3", map[string]string{"app": "greeter", "track": "v2"}, "192.0.2.13", 50051),
			server("plain-1", map[string]string{"app": "plain"}, "192.0.2.21", 9000),
			server("h2-1", map[string]string{"app": "h2"}, "192.0.2.22", 8443),
			server("web-1", map[string]string{"app": "web"}, "192.0.2.23", 8080),
			server("db-1", map[string]string{"app": "db"}, "192.0.2.24", 5432),
			server("dns-1", map[string]string{"app": "dns"}, "192.0.2.25", 53),
			server("locked-1", map[string]string{"app": "locked", "strict": "yes"}, "192.0.2.31", 7070),
			server("locked-2", map[string]string{"app": "locked"}, "192.0.2.32", 7070),
			{Name: "client", Namespace: "rpc", ServiceAccount: "client", Proxyless: true},
			{
				Name: "caller", Namespace: "edge", ServiceAccount: "caller", Proxyless: true,
				Dependencies: []model.NamespacedName{{Namespace: "rpc", Name: "greeter"}},
			},
		},
		Policies: model.Policies{
			PeerAuthentications: []v1alpha1.PeerAuthentication{{
				ObjectMeta: metav1.ObjectMeta{Namespace: "rpc", Name: "locked-strict"},
				Spec: v1alpha1.PeerAuthenticationSpec{
					Selector: &v1alpha1.WorkloadSelector{MatchLabels: map[string]string{"strict": "yes"}},
					MTLS:     &v1alpha1.MutualTLS{Mode: v1alpha1.MTLSStrict},
				},
			}},
			TrafficPolicies: []v1alpha1.TrafficPolicy{
				tp("greeter-v2", v1alpha1.LoadBalancer{Algorithm: v1alpha1.Maglev, HashOn: &v1alpha1.HashOn{Header: "x-user"}}),
				tp("plain", v1alpha1.LoadBalancer{Algorithm: v1alpha1.Random}),
				{
					ObjectMeta: metav1.ObjectMeta{Namespace: "rpc", Name: "h2"},
					Spec: v1alpha1.TrafficPolicySpec{
						TargetRef: v1alpha1.ServiceReference{Kind: "Service", Name: "h2"},
						Timeout:   &metav1.Duration{Duration: 3 * time.Second},
					},
				},
			},
			HTTPRoutes: []gwv1.HTTPRoute{{
				ObjectMeta: objectMeta("rpc", "plain-timeout", epoch),
				Spec: gwv1.HTTPRouteSpec{
					CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{serviceParent("plain", 9000)}},
					Rules: []gwv1.HTTPRouteRule{{
						Timeouts:    &gwv1.HTTPRouteTimeouts{BackendRequest: ptrTo(gwv1.Duration("2s"))},
						BackendRefs: []gwv1.HTTPBackendRef{backendTo("plain", 9000, 1)},
					}},
				},
			}},
			GRPCRoutes: []gwv1.GRPCRoute{{
				ObjectMeta: objectMeta("rpc", "greeter-split", epoch),
				Spec: gwv1.GRPCRouteSpec{
					CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{serviceParent("greeter", 50051)}},
					Rules: []gwv1.GRPCRouteRule{{
						Matches: []gwv1.GRPCRouteMatch{{Method: &gwv1.GRPCMethodMatch{Service: ptrTo("helloworld.Greeter"), Method: ptrTo("SayHello")}}},
						BackendRefs: []gwv1.GRPCBackendRef{
							{BackendRef: backendTo("greeter-v1", 50051, 80).BackendRef},
							{BackendRef: backendTo("greeter-v2", 50051, 20).BackendRef},
						},
					}},
				},
			}},
		},
	}
	m.Sort()
	return m
}

// trafficMeshProxyless is trafficMesh with a proxyless client in "store",
// so that the GAMMA cases of sidecars are also read by a gRPC client.
func trafficMeshProxyless() *model.Mesh {
	m := trafficMesh()
	m.Workloads = append(m.Workloads, model.Workload{Name: "grpc-client", Namespace: "store", ServiceAccount: "grpc-client", Proxyless: true})
	m.Sort()
	return m
}

// proxylessCases are the golden cases of Proxyless (testdata/proxyless/).
// They are not goldenCases: those feed the sidecar's contract tests.
var proxylessCases = []goldenCase{
	{"proxyless/rpc-client", rpcMesh, model.NamespacedName{Namespace: "rpc", Name: "client"}},
	{"proxyless/dependency-client", rpcMesh, model.NamespacedName{Namespace: "edge", Name: "caller"}},
	{"proxyless/traffic-client", trafficMeshProxyless, model.NamespacedName{Namespace: "store", Name: "grpc-client"}},
}
