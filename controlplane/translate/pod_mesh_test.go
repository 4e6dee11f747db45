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

// podMesh is the mesh of the Kubernetes Pod cases, shaped as Kubernetes
// mode builds it (Pod workloads, EndpointSlice endpoints). Built afresh
// for every call.
//
//   - shop/shopper is the Pod under test: its namespace has two Services,
//     cart:80 (http, target port by name; cart-2 is not ready) and web
//     (http:80 and tcp-metrics:9090); it depends on payments/api (grpc,
//     one endpoint a mesh Pod, one a pod outside the mesh) and on every
//     Service of catalog: items (no endpoints) and search (tcp, and
//     catalog runs PeerAuthentication DISABLE: plaintext).
//   - TrafficPolicies on shop/cart and payments/api.
//   - HTTPRoute shop/cart-split sends cart:80 90/10 to web:80 (in
//     shopper's scope) and other/legacy:80 (out of it: its cluster comes
//     only as a route backend).
//   - payments/ledger and other/unrelated are out of shopper's scope.
//   - other/legacy-1 depends on shop/cart and on a Service that does not
//     exist.
func podMesh() *model.Mesh {
	pod := func(name, ns, addr string, deps ...model.NamespacedName) model.Workload {
		return model.Workload{
			Name: name, Namespace: ns, ServiceAccount: name, Pod: true,
			Labels:       map[string]string{"app": name},
			Address:      netip.MustParseAddr(addr),
			Ports:        []model.WorkloadPort{{Name: "http", Port: 8080}},
			Dependencies: deps,
		}
	}
	ready := func(addr, pod, ns string, ports map[string]uint32) model.SliceEndpoint {
		return model.SliceEndpoint{
			Address: netip.MustParseAddr(addr), Ports: ports, Ready: true,
			Pod: &model.NamespacedName{Namespace: ns, Name: pod},
		}
	}
	http80 := model.ServicePort{Name: "http", Port: 80, TargetPort: 8080, AppProtocol: "http"}
	cart2 := ready("192.0.2.12", "cart-2", "shop", map[string]uint32{"http": 8080})
	cart2.Ready = false
	m := &model.Mesh{
		TrustDomain: spiffeid.RequireTrustDomainFromString("cluster.local"),
		Services: []model.Service{
			{
				Name: "cart", Namespace: "shop",
				Ports:      []model.ServicePort{{Name: "http", Port: 80, TargetPortName: "http", AppProtocol: "http"}},
				ClusterIPs: []netip.Addr{netip.MustParseAddr("198.18.0.10")},
				Slices:     []model.SliceEndpoint{ready("192.0.2.11", "cart-1", "shop", map[string]uint32{"http": 8080}), cart2},
			},
			{
				Name: "web", Namespace: "shop",
				Ports: []model.ServicePort{http80, {Name: "tcp-metrics", Port: 9090, TargetPort: 9090}},
				Slices: []model.SliceEndpoint{
					ready("192.0.2.21", "web-1", "shop", map[string]uint32{"http": 8080, "tcp-metrics": 9090}),
				},
			},
			{
				Name: "api", Namespace: "payments",
				Ports: []model.ServicePort{{Name: "grpc", Port: 8443, TargetPort: 8443, AppProtocol: "grpc"}},
				Slices: []model.SliceEndpoint{
					ready("192.0.2.31", "api-1", "payments", map[string]uint32{"grpc": 8443}),
					ready("192.0.2.32", "api-unmeshed", "payments", map[string]uint32{"grpc": 8443}),
				},
			},
			{
				Name: "ledger", Namespace: "payments",
				Ports:  []model.ServicePort{http80},
				Slices: []model.SliceEndpoint{ready("192.0.2.33", "ledger-1", "payments", map[string]uint32{"http": 8080})},
			},
			{Name: "items", Namespace: "catalog", Ports: []model.ServicePort{http80}, Slices: []model.SliceEndpoint{}},
			{
				Name: "search", Namespace: "catalog",
				Ports:  []model.ServicePort{{Name: "tcp", Port: 9200, TargetPort: 9200}},
				Slices: []model.SliceEndpoint{ready("192.0.2.41", "search-1", "catalog", map[string]uint32{"tcp": 9200})},
			},
			{
				Name: "legacy", Namespace: "other", Ports: []model.ServicePort{http80},
				Slices: []model.SliceEndpoint{ready("192.0.2.51", "legacy-1", "other", map[string]uint32{"http": 8080})},
			},
			{
				Name: "unrelated", Namespace: "other", Ports: []model.ServicePort{http80},
				Slices: []model.SliceEndpoint{ready("192.0.2.52", "unrelated-1", "other", map[string]uint32{"http": 8080})},
			},
		},
		Workloads: []model.Workload{
			pod("shopper", "shop", "192.0.2.2",
				model.NamespacedName{Namespace: "payments", Name: "api"}, model.NamespacedName{Namespace: "catalog", Name: "*"}),
			pod("cart-1", "shop", "192.0.2.11"),
			pod("cart-2", "shop", "192.0.2.12"),
			pod("web-1", "shop", "192.0.2.21"),
			pod("api-1", "payments", "192.0.2.31"),
			pod("ledger-1", "payments", "192.0.2.33"),
			pod("search-1", "catalog", "192.0.2.41"),
			pod("legacy-1", "other", "192.0.2.51",
				model.NamespacedName{Namespace: "shop", Name: "cart"}, model.NamespacedName{Namespace: "payments", Name: "gone"}),
			pod("unrelated-1", "other", "192.0.2.52"),
		},
		Policies: model.Policies{
			PeerAuthentications: []v1alpha1.PeerAuthentication{{
				ObjectMeta: metav1.ObjectMeta{Namespace: "catalog", Name: "default"},
				Spec:       v1alpha1.PeerAuthenticationSpec{MTLS: &v1alpha1.MutualTLS{Mode: v1alpha1.MTLSDisable}},
			}},
			TrafficPolicies: []v1alpha1.TrafficPolicy{
				{
					ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "cart"},
					Spec: v1alpha1.TrafficPolicySpec{
						TargetRef:        v1alpha1.ServiceReference{Kind: "Service", Name: "cart"},
						LoadBalancer:     &v1alpha1.LoadBalancer{Algorithm: v1alpha1.LeastRequest},
						OutlierDetection: &v1alpha1.OutlierDetection{Consecutive5xxErrors: ptrTo[int32](3)},
						Timeout:          durOf(5 * time.Second),
					},
				},
				{
					ObjectMeta: metav1.ObjectMeta{Namespace: "payments", Name: "api"},
					Spec: v1alpha1.TrafficPolicySpec{
						TargetRef:      v1alpha1.ServiceReference{Kind: "Service", Name: "api"},
						ConnectionPool: &v1alpha1.ConnectionPool{MaxConnections: ptrTo[int32](64), ConnectTimeout: durOf(2 * time.Second)},
					},
				},
			},
			HTTPRoutes: []gwv1.HTTPRoute{cartSplitRoute()},
		},
	}
	m.Sort()
	return m
}

// cartSplitRoute sends shop/cart:80 90/10 to shop/web:80 and
// other/legacy:80.
func cartSplitRoute() gwv1.HTTPRoute {
	legacy := backendTo("legacy", 80, 10)
	legacy.Namespace = ptrTo(gwv1.Namespace("other"))
	return gwv1.HTTPRoute{
		ObjectMeta: objectMeta("shop", "cart-split", epoch),
		Spec: gwv1.HTTPRouteSpec{
			CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{serviceParent("cart", 80)}},
			Rules:           []gwv1.HTTPRouteRule{{BackendRefs: []gwv1.HTTPBackendRef{backendTo("web", 80, 90), legacy}}},
		},
	}
}
