package model

import (
	"cmp"
	"slices"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/weftmesh/weft/api/v1alpha1"
)

// Policies are the mesh's policy objects as the user wrote them (validated
// by whoever built the Mesh), each slice sorted by namespace, then name.
type Policies struct {
	PeerAuthentications   []v1alpha1.PeerAuthentication
	AuthorizationPolicies []v1alpha1.AuthorizationPolicy
	TrafficPolicies       []v1alpha1.TrafficPolicy
	// HTTPRoutes and GRPCRoutes are Gateway API routes; those whose
	// parentRef is a Service (the GAMMA pattern) shape how mesh clients
	// call that Service.
	HTTPRoutes []gwv1.HTTPRoute
	GRPCRoutes []gwv1.GRPCRoute
}

// appliesTo reports whether a policy in namespace ns with selector sel
// covers workload w: a policy covers the workloads of its namespace, or of
// every namespace when it lives in v1alpha1.RootNamespace, whose labels
// include the selector's (all of them, without a selector).
func appliesTo(ns string, sel *v1alpha1.WorkloadSelector, w *Workload) bool {
	if ns != w.Namespace && ns != v1alpha1.RootNamespace {
		return false
	}
	if sel == nil {
		return true
	}
	for k, v := range sel.MatchLabels {
		if got, ok := w.Labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// MTLSMode returns the mode of PeerAuthentication in force on workload
// port port of w, never MTLSUnset: DISABLE for a proxyless workload (it has
// no sidecar), else the first of a port-level mode, a
// selecting policy of w's namespace, the namespace's policy without a
// selector, a selecting mesh-wide policy, the mesh-wide policy without a
// selector, and PERMISSIVE. Several policies at the same level: the first
// by name decides (the rest are reported by the translator's checks).
func (m *Mesh) MTLSMode(w *Workload, port uint32) v1alpha1.MTLSMode {
	if w.Proxyless {
		// No sidecar terminates mTLS for it: clients must speak
		// plaintext, whatever the policies say.
		return v1alpha1.MTLSDisable
	}
	// Levels, most specific first.
	const (
		portLevel = iota
		workloadLevel
		namespaceLevel
		meshWorkloadLevel
		meshLevel
		levels
	)
	var found [levels]v1alpha1.MTLSMode
	set := func(level int, mode v1alpha1.MTLSMode) {
		if found[level] == "" && mode != "" && mode != v1alpha1.MTLSUnset {
			found[level] = mode
		}
	}
	for _, i := range m.peerAuthenticationsFor(w) {
		pa := &m.Policies.PeerAuthentications[i]
		if !appliesTo(pa.Namespace, pa.Spec.Selector, w) {
			continue
		}
		root := pa.Namespace == v1alpha1.RootNamespace && w.Namespace != v1alpha1.RootNamespace
		level := namespaceLevel
		switch {
		case root && pa.Spec.Selector != nil:
			level = meshWorkloadLevel
		case root:
			level = meshLevel
		case pa.Spec.Selector != nil:
			level = workloadLevel
		}
		if pa.Spec.Selector != nil {
			for _, p := range pa.Spec.PortLevelMTLS {
				if uint32(p.Port) == port { //nolint:gosec // validated 1-65535
					set(portLevel, p.Mode)
				}
			}
		}
		if pa.Spec.MTLS != nil {
			set(level, pa.Spec.MTLS.Mode)
		}
	}
	for _, mode := range found {
		if mode != "" {
			return mode
		}
	}
	return v1alpha1.MTLSPermissive
}

// peerAuthenticationsFor returns the indexes of the PeerAuthentications
// of w's namespace and of the root namespace, the only ones that can apply
// to w, in the mesh's order: found by binary search (namespaceRange), so
// that the cost follows those namespaces, not the mesh.
func (m *Mesh) peerAuthenticationsFor(w *Workload) []int {
	pas := m.Policies.PeerAuthentications
	namespace := func(pa *v1alpha1.PeerAuthentication) string { return pa.Namespace }
	var out []int
	for _, ns := range []string{min(w.Namespace, v1alpha1.RootNamespace), max(w.Namespace, v1alpha1.RootNamespace)} {
		lo, hi := namespaceRange(pas, ns, namespace)
		for i := lo; i < hi; i++ {
			if len(out) == 0 || i > out[len(out)-1] {
				out = append(out, i)
			}
		}
	}
	return out
}

// AuthorizationPolicies returns the policies that cover w, in the mesh's
// order (namespace, then name).
func (m *Mesh) AuthorizationPolicies(w *Workload) []*v1alpha1.AuthorizationPolicy {
	var out []*v1alpha1.AuthorizationPolicy
	for i := range m.Policies.AuthorizationPolicies {
		ap := &m.Policies.AuthorizationPolicies[i]
		if appliesTo(ap.Namespace, ap.Spec.Selector, w) {
			out = append(out, ap)
		}
	}
	return out
}

// TrafficPolicy returns the TrafficPolicy that targets svc, or nil. When
// several do, the first by name wins (the translator's checks report the
// others).
func (m *Mesh) TrafficPolicy(svc NamespacedName) *v1alpha1.TrafficPolicy {
	lo, hi := namespaceRange(m.Policies.TrafficPolicies, svc.Namespace, func(tp *v1alpha1.TrafficPolicy) string { return tp.Namespace })
	for i := lo; i < hi; i++ {
		tp := &m.Policies.TrafficPolicies[i]
		if tp.Spec.TargetRef.Name == svc.Name {
			return tp
		}
	}
	return nil
}

// HTTPRoutes returns the HTTPRoutes with a parentRef on port port of
// Service svc (a parentRef with neither port nor sectionName covers every
// port), oldest first, then by namespace and name: Gateway API's
// precedence between routes.
func (m *Mesh) HTTPRoutes(svc NamespacedName, port uint32) []*gwv1.HTTPRoute {
	sp := m.servicePort(svc, port)
	var out []*gwv1.HTTPRoute
	for i := range m.Policies.HTTPRoutes {
		r := &m.Policies.HTTPRoutes[i]
		if attachesTo(r.Namespace, r.Spec.ParentRefs, svc, sp) {
			out = append(out, r)
		}
	}
	slices.SortStableFunc(out, func(a, b *gwv1.HTTPRoute) int {
		return a.CreationTimestamp.Compare(b.CreationTimestamp.Time)
	})
	return out
}

// GRPCRoutes is HTTPRoutes for GRPCRoutes.
func (m *Mesh) GRPCRoutes(svc NamespacedName, port uint32) []*gwv1.GRPCRoute {
	sp := m.servicePort(svc, port)
	var out []*gwv1.GRPCRoute
	for i := range m.Policies.GRPCRoutes {
		r := &m.Policies.GRPCRoutes[i]
		if attachesTo(r.Namespace, r.Spec.ParentRefs, svc, sp) {
			out = append(out, r)
		}
	}
	slices.SortStableFunc(out, func(a, b *gwv1.GRPCRoute) int {
		return a.CreationTimestamp.Compare(b.CreationTimestamp.Time)
	})
	return out
}

// servicePort returns port port of Service svc, or one with only that
// number when the mesh has no such port (it then has no name to select).
func (m *Mesh) servicePort(svc NamespacedName, port uint32) ServicePort {
	if s := m.Service(svc); s != nil {
		for _, sp := range s.Ports {
			if sp.Port == port {
				return sp
			}
		}
	}
	return ServicePort{Port: port}
}

// attachesTo reports whether one of refs (of a route in namespace ns)
// names port sp of Service svc.
func attachesTo(ns string, refs []gwv1.ParentReference, svc NamespacedName, sp ServicePort) bool {
	for _, ref := range refs {
		if !IsServiceParent(ref) || string(ref.Name) != svc.Name {
			continue
		}
		refNS := ns
		if ref.Namespace != nil {
			refNS = string(*ref.Namespace)
		}
		if refNS != svc.Namespace {
			continue
		}
		if SelectsServicePort(ref, sp) {
			return true
		}
	}
	return false
}

// SelectsServicePort reports whether a Service parentRef takes port sp:
// its port, when set, is sp's number, and its sectionName, when set, sp's
// name (GAMMA: a Service's sections are its named ports).
func SelectsServicePort(ref gwv1.ParentReference, sp ServicePort) bool {
	if ref.Port != nil && uint32(*ref.Port) != sp.Port { //nolint:gosec // a PortNumber is 1-65535
		return false
	}
	return ref.SectionName == nil || sp.Name != "" && string(*ref.SectionName) == sp.Name
}

// IsServiceParent reports whether a route's parentRef names a Service
// (group "" or "core", kind Service) rather than a Gateway.
func IsServiceParent(ref gwv1.ParentReference) bool {
	group, kind := "", "Gateway"
	if ref.Group != nil {
		group = string(*ref.Group)
	}
	if ref.Kind != nil {
		kind = string(*ref.Kind)
	}
	return (group == "" || group == "core") && kind == "Service"
}

// Sort orders every slice of p as Policies requires.
func (p *Policies) Sort() {
	slices.SortFunc(p.PeerAuthentications, func(a, b v1alpha1.PeerAuthentication) int {
		return compareMeta(a.Namespace, a.Name, b.Namespace, b.Name)
	})
	slices.SortFunc(p.AuthorizationPolicies, func(a, b v1alpha1.AuthorizationPolicy) int {
		return compareMeta(a.Namespace, a.Name, b.Namespace, b.Name)
	})
	slices.SortFunc(p.TrafficPolicies, func(a, b v1alpha1.TrafficPolicy) int { return compareMeta(a.Namespace, a.Name, b.Namespace, b.Name) })
	slices.SortFunc(p.HTTPRoutes, func(a, b gwv1.HTTPRoute) int { return compareMeta(a.Namespace, a.Name, b.Namespace, b.Name) })
	slices.SortFunc(p.GRPCRoutes, func(a, b gwv1.GRPCRoute) int { return compareMeta(a.Namespace, a.Name, b.Namespace, b.Name) })
}

func compareMeta(ans, aname, bns, bname string) int {
	return cmp.Or(cmp.Compare(ans, bns), cmp.Compare(aname, bname))
}
