package status

import (
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/controlplane/model"
)

// Test fixtures: namespace shop with Services web (HTTP on 80) and db (TCP
// on 5432).

const shop = "shop"

func webService() model.Service {
	return model.Service{Name: "web", Namespace: shop, Selector: map[string]string{"app": "web"},
		Ports: []model.ServicePort{{Name: "http", Port: 80, TargetPort: 8080}}}
}

func dbService() model.Service {
	return model.Service{Name: "db", Namespace: shop, Selector: map[string]string{"app": "db"},
		Ports: []model.ServicePort{{Name: "tcp", Port: 5432, TargetPort: 5432}}}
}

func testMesh(svcs []model.Service, p model.Policies) *model.Mesh {
	m := &model.Mesh{TrustDomain: spiffeid.RequireTrustDomainFromString("cluster.local"), Services: svcs, Policies: p}
	m.Sort()
	return m
}

func ptr[T any](v T) *T { return &v }

// serviceParent is a parentRef to port port (0: every port) of Service name.
func serviceParent(name string, port int32) gwv1.ParentReference {
	ref := gwv1.ParentReference{Group: ptr(gwv1.Group("")), Kind: ptr(gwv1.Kind("Service")), Name: gwv1.ObjectName(name)}
	if port != 0 {
		ref.Port = ptr(port)
	}
	return ref
}

func backend(name string, port int32) gwv1.HTTPBackendRef {
	return gwv1.HTTPBackendRef{BackendRef: gwv1.BackendRef{BackendObjectReference: gwv1.BackendObjectReference{
		Name: gwv1.ObjectName(name), Port: ptr(port),
	}}}
}

// httpRoute is an HTTPRoute with parents and one rule per backend.
func httpRoute(name string, parents []gwv1.ParentReference, backends ...gwv1.HTTPBackendRef) gwv1.HTTPRoute {
	r := gwv1.HTTPRoute{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: shop, Generation: 1},
		Spec:       gwv1.HTTPRouteSpec{CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: parents}},
	}
	for _, b := range backends {
		r.Spec.Rules = append(r.Spec.Rules, gwv1.HTTPRouteRule{BackendRefs: []gwv1.HTTPBackendRef{b}})
	}
	return r
}

func grpcRoute(name string, parents []gwv1.ParentReference, svc string, port int32) gwv1.GRPCRoute {
	return gwv1.GRPCRoute{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: shop, Generation: 1},
		Spec: gwv1.GRPCRouteSpec{
			CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: parents},
			Rules: []gwv1.GRPCRouteRule{{BackendRefs: []gwv1.GRPCBackendRef{{BackendRef: gwv1.BackendRef{
				BackendObjectReference: gwv1.BackendObjectReference{Name: gwv1.ObjectName(svc), Port: ptr(port)},
			}}}}},
		},
	}
}

// unsupported makes rule j of r unsupported: an ExtensionRef filter,
// which Weft's proxies do not run (RequestMirror, used here before, is
// supported since the ingress gateway issue).
func unsupported(r gwv1.HTTPRoute, j int) gwv1.HTTPRoute {
	r.Spec.Rules[j].Filters = append(r.Spec.Rules[j].Filters, gwv1.HTTPRouteFilter{
		Type:         gwv1.HTTPRouteFilterExtensionRef,
		ExtensionRef: &gwv1.LocalObjectReference{Group: "example.com", Kind: "Filter", Name: "f"},
	})
	return r
}

func trafficPolicy(name, target string) v1alpha1.TrafficPolicy {
	return v1alpha1.TrafficPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: shop, Generation: 1},
		Spec:       v1alpha1.TrafficPolicySpec{TargetRef: v1alpha1.ServiceReference{Kind: "Service", Name: target}},
	}
}
