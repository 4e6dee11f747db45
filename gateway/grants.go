package gateway

import (
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/weftmesh/weft/controlplane/model"
)

// Groups and kinds references name.
const (
	groupGateway = gwv1.GroupName
	groupCore    = ""
	kindGateway  = "Gateway"
	kindSecret   = "Secret"
	kindService  = "Service"
)

// reference is one reference across namespaces: from an object of group
// and kind in namespace fromNS to the object toKind/to.
type reference struct {
	fromGroup, fromKind, fromNS string
	toGroup, toKind             string
	to                          model.NamespacedName
}

// allowed reports whether a reference may be followed: always within a
// namespace, across namespaces only where a ReferenceGrant of the target's
// namespace lets objects of the source's group, kind and namespace refer
// to objects of the target's group and kind (of that name, when the grant
// names one).
func allowed(m *model.Mesh, r reference) bool {
	if r.fromNS == r.to.Namespace {
		return true
	}
	for i := range m.Ingress.ReferenceGrants {
		g := &m.Ingress.ReferenceGrants[i]
		if g.Namespace != r.to.Namespace {
			continue
		}
		from := false
		for _, f := range g.Spec.From {
			if string(f.Group) == r.fromGroup && string(f.Kind) == r.fromKind && string(f.Namespace) == r.fromNS {
				from = true
				break
			}
		}
		if !from {
			continue
		}
		for _, t := range g.Spec.To {
			if normalGroup(string(t.Group)) == r.toGroup && string(t.Kind) == r.toKind && (t.Name == nil || string(*t.Name) == r.to.Name) {
				return true
			}
		}
	}
	return false
}

// normalGroup is the core group spelled "" ("core" is accepted too).
func normalGroup(g string) string {
	if g == "core" {
		return groupCore
	}
	return g
}

// BackendAllowed reports whether a route of kind routeKind (HTTPRoute,
// GRPCRoute, TLSRoute, TCPRoute) in namespace routeNS may send to the
// backend ref: a Service of its own namespace, or of another where a
// ReferenceGrant allows it. Refs to other kinds are allowed here (they
// are refused as InvalidKind elsewhere).
func BackendAllowed(m *model.Mesh, routeKind, routeNS string, ref *gwv1.BackendObjectReference) bool {
	ns := routeNS
	if ref.Namespace != nil {
		ns = string(*ref.Namespace)
	}
	group, kind := groupCore, kindService
	if ref.Group != nil {
		group = normalGroup(string(*ref.Group))
	}
	if ref.Kind != nil {
		kind = string(*ref.Kind)
	}
	return allowed(m, reference{
		fromGroup: groupGateway, fromKind: routeKind, fromNS: routeNS,
		toGroup: group, toKind: kind, to: model.NamespacedName{Namespace: ns, Name: string(ref.Name)},
	})
}
