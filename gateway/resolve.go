package gateway

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

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

// Programmed reports whether the listener's Programmed condition is True:
// the translator gives the gateway proxy only such listeners.
func (l *Listener) Programmed() bool {
	c := findCondition(l.Status.Conditions, string(gwv1.ListenerConditionProgrammed))
	return c != nil && c.Status == metav1.ConditionTrue
}

// Resolve decides, for every Gateway of m.Ingress, which listeners are
// valid, which routes attach where, and which certificates may be served.
// It is pure: the same mesh gives the same Resolution.
//
// A listener is Accepted when the proxy serves its protocol (HTTP, HTTPS,
// TLS, TCP) on a port of its own (not 15000 or 15020) with TLS settings
// that fit; Conflicted when an earlier listener of the Gateway holds its
// port with another protocol class, as a TCP listener, or with the same
// hostname; ResolvedRefs unless a certificateRef is refused or invalid
// or an allowedRoutes kind does not fit the protocol; Programmed when it
// is accepted, not conflicted, takes some route kind and, terminating
// TLS, has a certificate to serve. The Gateway is Accepted (reason
// ListenersNotValid when some listener is not accepted or conflicted,
// False when none is left) and Programmed when some listener is.
//
// Routes attach to the accepted listeners their parentRefs select that
// take their kind from their namespace (allowedRoutes Same, All, or
// Selector matched against model.Ingress.NamespaceLabels; an invalid
// selector admits no route) and share a hostname with them. A parentRef
// to a Gateway that is not in the mesh (another class's, or none) gets
// no status here.
func Resolve(m *model.Mesh) *Resolution {
	r := &Resolution{Routes: map[RouteKey][]gwv1.RouteParentStatus{}}
	for i := range m.Ingress.Gateways {
		r.Gateways = append(r.Gateways, resolveListeners(m, &m.Ingress.Gateways[i]))
	}
	attached := map[*Listener]map[string]bool{}
	for i := range m.Policies.HTTPRoutes {
		r.resolveRoute(m, httpRouteView(&m.Policies.HTTPRoutes[i]), attached)
	}
	for i := range m.Policies.GRPCRoutes {
		r.resolveRoute(m, grpcRouteView(&m.Policies.GRPCRoutes[i]), attached)
	}
	for i := range m.Ingress.TLSRoutes {
		r.resolveRoute(m, tlsRouteView(&m.Ingress.TLSRoutes[i]), attached)
	}
	for i := range m.Ingress.TCPRoutes {
		r.resolveRoute(m, tcpRouteView(&m.Ingress.TCPRoutes[i]), attached)
	}
	for i := range r.Gateways {
		for j := range r.Gateways[i].Listeners {
			sortRoutes(&r.Gateways[i].Listeners[j])
		}
	}
	return r
}

// resolveListeners decides everything about g that does not depend on
// routes: the Gateway's conditions and each listener's.
func resolveListeners(m *model.Mesh, gw *gwv1.Gateway) Gateway {
	g := Gateway{Object: gw}
	gen := gw.Generation
	st := make([]listenerState, len(gw.Spec.Listeners))
	for i := range gw.Spec.Listeners {
		l := &gw.Spec.Listeners[i]
		s := &st[i]
		s.accepted, s.acceptReason, s.acceptMsg = acceptListener(l)
		if !s.accepted {
			continue
		}
		s.kinds, s.invalidKinds = supportedKinds(l)
		if terminates(l) {
			certificates(m, gw, l, s)
		}
	}
	conflicts(gw.Spec.Listeners, st)

	var invalid []string
	programmed := 0
	for i := range gw.Spec.Listeners {
		l := &gw.Spec.Listeners[i]
		s := &st[i]
		gl := Listener{Spec: l, Certificates: s.certs}
		gl.Status = gwv1.ListenerStatus{Name: l.Name, SupportedKinds: s.kinds}
		if gl.Status.SupportedKinds == nil {
			gl.Status.SupportedKinds = []gwv1.RouteGroupKind{}
		}
		conds := []metav1.Condition{
			cond(string(gwv1.ListenerConditionAccepted), s.accepted, string(s.acceptReason), gen, s.acceptMsg),
		}
		if s.conflictReason != "" {
			conds = append(conds, condStatus(string(gwv1.ListenerConditionConflicted), metav1.ConditionTrue, string(s.conflictReason), gen, s.conflictMsg))
		} else {
			conds = append(conds, cond(string(gwv1.ListenerConditionConflicted), false, string(gwv1.ListenerReasonNoConflicts), gen, "no conflicts"))
		}
		switch {
		case s.refReason != "":
			conds = append(conds, cond(string(gwv1.ListenerConditionResolvedRefs), false, string(s.refReason), gen, strings.Join(s.refMsgs, "; ")))
		case len(s.invalidKinds) > 0:
			conds = append(conds, cond(string(gwv1.ListenerConditionResolvedRefs), false, string(gwv1.ListenerReasonInvalidRouteKinds), gen,
				fmt.Sprintf("allowedRoutes.kinds %s: a listener of protocol %s takes %s", strings.Join(s.invalidKinds, ", "), l.Protocol, kindNames(s.kinds))))
		default:
			conds = append(conds, cond(string(gwv1.ListenerConditionResolvedRefs), true, string(gwv1.ListenerReasonResolvedRefs), gen, "all references resolved"))
		}
		var why string
		switch {
		case !s.accepted:
			why = "the listener is not accepted: " + s.acceptMsg
		case s.conflictReason != "":
			why = "the listener is conflicted: " + s.conflictMsg
		case len(s.kinds) == 0:
			why = "the listener takes no route kind"
		case terminates(l) && len(s.certs) == 0:
			why = "the listener has no certificate to serve"
		}
		if why == "" {
			programmed++
			conds = append(conds, cond(string(gwv1.ListenerConditionProgrammed), true, string(gwv1.ListenerReasonProgrammed), gen, "listener programmed"))
		} else {
			conds = append(conds, cond(string(gwv1.ListenerConditionProgrammed), false, string(gwv1.ListenerReasonInvalid), gen, why))
		}
		if !s.accepted || s.conflictReason != "" {
			invalid = append(invalid, string(l.Name))
		}
		gl.Status.Conditions = conds
		g.Listeners = append(g.Listeners, gl)
	}

	n := len(gw.Spec.Listeners)
	switch {
	case n > 0 && len(invalid) == n:
		g.Conditions = append(g.Conditions, cond(string(gwv1.GatewayConditionAccepted), false, string(gwv1.GatewayReasonListenersNotValid), gen,
			"no listener is valid: "+strings.Join(invalid, ", ")))
	case len(invalid) > 0:
		g.Conditions = append(g.Conditions, cond(string(gwv1.GatewayConditionAccepted), true, string(gwv1.GatewayReasonListenersNotValid), gen,
			"some listeners are not valid: "+strings.Join(invalid, ", ")))
	default:
		g.Conditions = append(g.Conditions, cond(string(gwv1.GatewayConditionAccepted), true, string(gwv1.GatewayReasonAccepted), gen, "gateway accepted"))
	}
	if programmed > 0 {
		g.Conditions = append(g.Conditions, cond(string(gwv1.GatewayConditionProgrammed), true, string(gwv1.GatewayReasonProgrammed), gen,
			fmt.Sprintf("%d of %d listeners programmed", programmed, n)))
	} else {
		g.Conditions = append(g.Conditions, cond(string(gwv1.GatewayConditionProgrammed), false, string(gwv1.GatewayReasonInvalid), gen,
			"no listener is programmed"))
	}
	return g
}

// sortRoutes orders a listener's routes oldest first, then by namespace
// and name (Gateway API's precedence between routes).
func sortRoutes(l *Listener) {
	byAge := func(a, b *metav1.ObjectMeta) int {
		return cmp.Or(a.CreationTimestamp.Compare(b.CreationTimestamp.Time), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	}
	slices.SortStableFunc(l.HTTPRoutes, func(a, b *gwv1.HTTPRoute) int { return byAge(&a.ObjectMeta, &b.ObjectMeta) })
	slices.SortStableFunc(l.GRPCRoutes, func(a, b *gwv1.GRPCRoute) int { return byAge(&a.ObjectMeta, &b.ObjectMeta) })
	slices.SortStableFunc(l.TLSRoutes, func(a, b *gwv1.TLSRoute) int { return byAge(&a.ObjectMeta, &b.ObjectMeta) })
	slices.SortStableFunc(l.TCPRoutes, func(a, b *gwv1.TCPRoute) int { return byAge(&a.ObjectMeta, &b.ObjectMeta) })
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

// cond is a condition True when ok, False otherwise; LastTransitionTime
// is left zero for the status writer.
func cond(typ string, ok bool, reason string, gen int64, msg string) metav1.Condition {
	st := metav1.ConditionFalse
	if ok {
		st = metav1.ConditionTrue
	}
	return condStatus(typ, st, reason, gen, msg)
}

func condStatus(typ string, st metav1.ConditionStatus, reason string, gen int64, msg string) metav1.Condition {
	return metav1.Condition{Type: typ, Status: st, Reason: reason, Message: msg, ObservedGeneration: gen}
}

// findCondition returns the condition of type typ, or nil.
func findCondition(cs []metav1.Condition, typ string) *metav1.Condition {
	for i := range cs {
		if cs[i].Type == typ {
			return &cs[i]
		}
	}
	return nil
}

// Healthy reports whether a condition is as it should be: True, except
// Conflicted, which should be False, and not the Gateway's Accepted with
// reason ListenersNotValid. Check reports the others.
func Healthy(c *metav1.Condition) bool {
	if c.Type == string(gwv1.ListenerConditionConflicted) {
		return c.Status == metav1.ConditionFalse
	}
	return c.Status == metav1.ConditionTrue && c.Reason != string(gwv1.GatewayReasonListenersNotValid)
}
