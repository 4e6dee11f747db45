package gateway

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/weftmesh/weft/controlplane/model"
)

// Resolution is what Resolve decided for every Gateway of a mesh.
type Resolution struct {
	// Gateways are the mesh's Gateways, in model.Ingress order.
	Gateways []Gateway
	// Routes is the status of every route that names one of those
	// Gateways as a parent: one RouteParentStatus per such parentRef,
	// with ControllerName set, in parentRefs order.
	Routes map[RouteKey][]gwv1.RouteParentStatus
}

// RouteKey names a route: Kind is HTTPRoute, GRPCRoute, TLSRoute or
// TCPRoute.
type RouteKey struct {
	Kind string
	model.NamespacedName
}

// Gateway is one Gateway and what Resolve decided for it.
type Gateway struct {
	Object *gwv1.Gateway
	// Conditions are Accepted and Programmed as far as configuration
	// goes (ObservedGeneration set); the Kubernetes status writer turns
	// Programmed False (AddressNotAssigned) until the Gateway's Service
	// has an address.
	Conditions []metav1.Condition
	// Listeners follow Object.Spec.Listeners, in order.
	Listeners []Listener
}

// Listener is one listener of a Gateway, its status and what attaches.
type Listener struct {
	Spec   *gwv1.Listener
	Status gwv1.ListenerStatus
	// Certificates are the Secrets an HTTPS (or TLS Terminate) listener
	// serves, in certificateRefs order: only those of the Gateway's
	// namespace or allowed by a ReferenceGrant, holding a valid
	// certificate and key. A listener left with none is not programmed.
	Certificates []*model.TLSSecret
	// The routes attached to this listener, oldest first, then by
	// namespace and name.
	HTTPRoutes []*gwv1.HTTPRoute
	GRPCRoutes []*gwv1.GRPCRoute
	TLSRoutes  []*gwv1.TLSRoute
	TCPRoutes  []*gwv1.TCPRoute
}

// Resolve decides, for every Gateway of m.Ingress, which listeners are
// valid, which routes attach where, and which certificates may be served.
// It is pure: the same mesh gives the same Resolution.
func Resolve(m *model.Mesh) *Resolution {
	return &Resolution{Routes: map[RouteKey][]gwv1.RouteParentStatus{}}
}

// Gateway returns the resolution of the Gateway key, or nil.
func (r *Resolution) Gateway(key model.NamespacedName) *Gateway {
	for i := range r.Gateways {
		if g := &r.Gateways[i]; g.Object.Namespace == key.Namespace && g.Object.Name == key.Name {
			return g
		}
	}
	return nil
}
