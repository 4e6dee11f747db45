package model

import (
	"slices"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"
)

// Ingress is the north-south part of the mesh (docs/gateway.md): the
// Gateways of Weft's GatewayClass, the routes only a Gateway can take
// (TLSRoute, TCPRoute; HTTPRoutes and GRPCRoutes with a Gateway parent
// are in Policies with the others), the ReferenceGrants that allow
// references across namespaces, the TLS Secrets Gateways reference, and
// the namespaces' labels when a listener selects routes by them.
// Builders put here only Gateways whose class is handled by
// gateway.ControllerName; everything else is as the API server has it.
type Ingress struct {
	Gateways        []gwv1.Gateway
	TLSRoutes       []gwv1.TLSRoute
	TCPRoutes       []gwv1.TCPRoute
	ReferenceGrants []gwv1beta1.ReferenceGrant
	// Secrets are the kubernetes.io/tls Secrets some Gateway's
	// certificateRefs name, whether or not a grant allows the reference:
	// the gateway package decides what may be served.
	Secrets []TLSSecret
	// NamespaceLabels are the labels of the namespaces routes may come
	// from, by name (nil labels for a namespace without any). Builders
	// fill it only when some listener selects namespaces by label
	// (SelectsNamespaces), so that relabelling a namespace makes no new
	// mesh unless it can change which routes attach.
	NamespaceLabels map[string]map[string]string
}

// SelectsNamespaces reports whether some listener of the Gateways takes
// routes by their namespace's labels (allowedRoutes.namespaces.from
// Selector), which only NamespaceLabels can answer.
func (in *Ingress) SelectsNamespaces() bool {
	for i := range in.Gateways {
		for _, l := range in.Gateways[i].Spec.Listeners {
			if ar := l.AllowedRoutes; ar != nil && ar.Namespaces != nil && ar.Namespaces.From != nil &&
				*ar.Namespaces.From == gwv1.NamespacesFromSelector {
				return true
			}
		}
	}
	return false
}

// TLSSecret is a kubernetes.io/tls Secret: a PEM certificate chain and
// its PEM private key (tls.crt and tls.key).
type TLSSecret struct {
	Namespace  string
	Name       string
	Cert       []byte
	PrivateKey []byte
}

// Ref returns the Secret's namespace and name.
func (s *TLSSecret) Ref() NamespacedName {
	return NamespacedName{Namespace: s.Namespace, Name: s.Name}
}

// Sort orders every list by namespace, then name. Mesh.Sort calls it.
func (in *Ingress) Sort() {
	slices.SortFunc(in.Gateways, func(a, b gwv1.Gateway) int { return compareMeta(a.Namespace, a.Name, b.Namespace, b.Name) })
	slices.SortFunc(in.TLSRoutes, func(a, b gwv1.TLSRoute) int { return compareMeta(a.Namespace, a.Name, b.Namespace, b.Name) })
	slices.SortFunc(in.TCPRoutes, func(a, b gwv1.TCPRoute) int { return compareMeta(a.Namespace, a.Name, b.Namespace, b.Name) })
	slices.SortFunc(in.ReferenceGrants, func(a, b gwv1beta1.ReferenceGrant) int {
		return compareMeta(a.Namespace, a.Name, b.Namespace, b.Name)
	})
	slices.SortFunc(in.Secrets, func(a, b TLSSecret) int { return compareMeta(a.Namespace, a.Name, b.Namespace, b.Name) })
}

// Gateway returns the Gateway with the given key, or nil.
func (in *Ingress) Gateway(key NamespacedName) *gwv1.Gateway {
	i, ok := slices.BinarySearchFunc(in.Gateways, key, func(g gwv1.Gateway, k NamespacedName) int {
		return compareMeta(g.Namespace, g.Name, k.Namespace, k.Name)
	})
	if !ok {
		return nil
	}
	return &in.Gateways[i]
}

// Secret returns the TLS Secret with the given key, or nil.
func (in *Ingress) Secret(key NamespacedName) *TLSSecret {
	i, ok := slices.BinarySearchFunc(in.Secrets, key, func(s TLSSecret, k NamespacedName) int {
		return compareMeta(s.Namespace, s.Name, k.Namespace, k.Name)
	})
	if !ok {
		return nil
	}
	return &in.Secrets[i]
}
