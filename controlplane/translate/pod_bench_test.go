package translate

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/controlplane/model"
)

// scaleMesh builds a Kubernetes-shaped mesh of namespaces namespaces, each
// with 10 Services and 10 Pods: every Service has one HTTP port and the
// 10 Pods of its namespace as EndpointSlice endpoints (10 endpoints per
// Service), a ClusterIP, a TrafficPolicy, and each namespace a PeerAuthentication and
// an HTTPRoute splitting its first Service over the next two. Each Pod
// depends on one Service of the next namespace and on every Service of the
// one after: a scope of 21 Services whatever the size of the mesh, and
// two route backends out of it.
func scaleMesh(namespaces int) *model.Mesh {
	const perNamespace = 10
	nsName := func(i int) string { return fmt.Sprintf("ns-%03d", i%namespaces) }
	m := &model.Mesh{TrustDomain: spiffeid.RequireTrustDomainFromString("cluster.local")}
	for n := range namespaces {
		ns := nsName(n)
		var slice []model.SliceEndpoint
		for p := range perNamespace {
			name := fmt.Sprintf("pod-%d", p)
			addr := netip.AddrFrom4([4]byte{198, 18, byte(n), byte(p + 1)})
			m.Workloads = append(m.Workloads, model.Workload{
				Name: name, Namespace: ns, ServiceAccount: fmt.Sprintf("sa-%d", p%3), Pod: true,
				Labels:  map[string]string{"app": name},
				Address: addr,
				Ports:   []model.WorkloadPort{{Name: "http", Port: 8080}},
				Dependencies: []model.NamespacedName{
					{Namespace: nsName(n + 1), Name: "svc-0"},
					{Namespace: nsName(n + 2), Name: "*"},
				},
			})
			slice = append(slice, model.SliceEndpoint{
				Address: addr, Ports: map[string]uint32{"http": 8080}, Ready: true,
				Pod: &model.NamespacedName{Namespace: ns, Name: name},
			})
		}
		for s := range perNamespace {
			name := fmt.Sprintf("svc-%d", s)
			m.Services = append(m.Services, model.Service{
				Name: name, Namespace: ns,
				Ports:      []model.ServicePort{{Name: "http", Port: 80, TargetPort: 8080, AppProtocol: "http"}},
				ClusterIPs: []netip.Addr{netip.AddrFrom4([4]byte{198, 19, byte(n), byte(s + 1)})},
				Slices:     slice,
			})
			m.Policies.TrafficPolicies = append(m.Policies.TrafficPolicies, v1alpha1.TrafficPolicy{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
				Spec: v1alpha1.TrafficPolicySpec{
					TargetRef:    v1alpha1.ServiceReference{Kind: "Service", Name: name},
					LoadBalancer: &v1alpha1.LoadBalancer{Algorithm: v1alpha1.LeastRequest},
				},
			})
		}
		m.Policies.PeerAuthentications = append(m.Policies.PeerAuthentications, v1alpha1.PeerAuthentication{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "default"},
			Spec:       v1alpha1.PeerAuthenticationSpec{MTLS: &v1alpha1.MutualTLS{Mode: v1alpha1.MTLSStrict}},
		})
		m.Policies.HTTPRoutes = append(m.Policies.HTTPRoutes, gwv1.HTTPRoute{
			ObjectMeta: objectMeta(ns, "split", epoch),
			Spec: gwv1.HTTPRouteSpec{
				CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{serviceParent("svc-0", 80)}},
				Rules: []gwv1.HTTPRouteRule{{BackendRefs: []gwv1.HTTPBackendRef{
					backendTo("svc-1", 80, 90), backendTo("svc-2", 80, 10),
				}}},
			},
		})
	}
	m.Sort()
	return m
}

// BenchmarkPodTranslation translates one Pod per iteration, every Pod in
// turn. The Pods' scope is the same at every size, so the time per Pod
// must stay flat from 10 to 100 namespaces (1,000 Pods, 1,000 Services,
// 10,000 endpoints): translation follows the scope, not the mesh.
func BenchmarkPodTranslation(b *testing.B) {
	for _, namespaces := range []int{10, 100} {
		b.Run(fmt.Sprintf("namespaces=%d", namespaces), func(b *testing.B) {
			m := scaleMesh(namespaces)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				w := &m.Workloads[i%len(m.Workloads)]
				i++
				res, err := Proxy(m, w)
				if err != nil {
					b.Fatal(err)
				}
				// 21 Services in scope, the two route backends of the next
				// namespace's svc-0, the Pod's inbound|8080 and the three
				// catch-all clusters of the capture listeners.
				if len(res[resource.ClusterType]) != 27 {
					b.Fatalf("%d clusters, want 27", len(res[resource.ClusterType]))
				}
				// A listener and a route per Service in scope, and the two
				// capture listeners.
				if len(res[resource.ListenerType]) != 23 || len(res[resource.RouteType]) != 21 {
					b.Fatalf("%d listeners and %d routes, want 23 and 21", len(res[resource.ListenerType]), len(res[resource.RouteType]))
				}
			}
		})
	}
}
