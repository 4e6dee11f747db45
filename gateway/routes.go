package gateway

import (
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/weftmesh/weft/controlplane/model"
)

// routeView is what attachment reads of a route of any kind.
type routeView struct {
	kind      string
	meta      *metav1.ObjectMeta
	parents   []gwv1.ParentReference
	hostnames []gwv1.Hostname // none for TCPRoutes
	backends  []gwv1.BackendObjectReference
	// nsLabels are the labels of the route's namespace, which a listener
	// that selects namespaces matches (model.Ingress.NamespaceLabels).
	nsLabels map[string]string
	// attach adds the route to a listener.
	attach func(*Listener)
}

func httpRouteView(r *gwv1.HTTPRoute) routeView {
	v := routeView{kind: KindHTTPRoute, meta: &r.ObjectMeta, parents: r.Spec.ParentRefs, hostnames: r.Spec.Hostnames,
		attach: func(l *Listener) { l.HTTPRoutes = append(l.HTTPRoutes, r) }}
	for _, rule := range r.Spec.Rules {
		for _, b := range rule.BackendRefs {
			v.backends = append(v.backends, b.BackendObjectReference)
			for _, f := range b.Filters {
				if f.RequestMirror != nil {
					v.backends = append(v.backends, f.RequestMirror.BackendRef)
				}
			}
		}
		for _, f := range rule.Filters {
			if f.RequestMirror != nil {
				v.backends = append(v.backends, f.RequestMirror.BackendRef)
			}
		}
	}
	return v
}

func grpcRouteView(r *gwv1.GRPCRoute) routeView {
	v := routeView{kind: KindGRPCRoute, meta: &r.ObjectMeta, parents: r.Spec.ParentRefs, hostnames: r.Spec.Hostnames,
		attach: func(l *Listener) { l.GRPCRoutes = append(l.GRPCRoutes, r) }}
	for _, rule := range r.Spec.Rules {
		for _, b := range rule.BackendRefs {
			v.backends = append(v.backends, b.BackendObjectReference)
		}
		for _, f := range rule.Filters {
			if f.RequestMirror != nil {
				v.backends = append(v.backends, f.RequestMirror.BackendRef)
			}
		}
	}
	return v
}

func tlsRouteView(r *gwv1.TLSRoute) routeView {
	v := routeView{kind: KindTLSRoute, meta: &r.ObjectMeta, parents: r.Spec.ParentRefs, hostnames: r.Spec.Hostnames,
		attach: func(l *Listener) { l.TLSRoutes = append(l.TLSRoutes, r) }}
	for _, rule := range r.Spec.Rules {
		for _, b := range rule.BackendRefs {
			v.backends = append(v.backends, b.BackendObjectReference)
		}
	}
	return v
}

func tcpRouteView(r *gwv1.TCPRoute) routeView {
	v := routeView{kind: KindTCPRoute, meta: &r.ObjectMeta, parents: r.Spec.ParentRefs,
		attach: func(l *Listener) { l.TCPRoutes = append(l.TCPRoutes, r) }}
	for _, rule := range r.Spec.Rules {
		for _, b := range rule.BackendRefs {
			v.backends = append(v.backends, b.BackendObjectReference)
		}
	}
	return v
}

// IsGatewayParent reports whether a parentRef names a Gateway (group
// gateway.networking.k8s.io and kind Gateway, the defaults).
func IsGatewayParent(ref *gwv1.ParentReference) bool {
	group, kind := groupGateway, kindGateway
	if ref.Group != nil {
		group = string(*ref.Group)
	}
	if ref.Kind != nil {
		kind = string(*ref.Kind)
	}
	return group == groupGateway && kind == kindGateway
}

// resolveRoute attaches v to the listeners of the mesh's Gateways its
// parentRefs allow, and records one RouteParentStatus per parentRef that
// names one of them. attached holds, per listener, the routes already
// attached (a route named twice attaches once).
func (r *Resolution) resolveRoute(m *model.Mesh, v routeView, attached map[*Listener]map[string]bool) {
	v.nsLabels = m.Ingress.NamespaceLabels[v.meta.Namespace]
	var statuses []gwv1.RouteParentStatus
	var resolved *metav1.Condition
	for _, ref := range v.parents {
		if !IsGatewayParent(&ref) {
			continue
		}
		key := model.NamespacedName{Namespace: v.meta.Namespace, Name: string(ref.Name)}
		if ref.Namespace != nil {
			key.Namespace = string(*ref.Namespace)
		}
		g := r.Gateway(key)
		if g == nil {
			// Not a Gateway of Weft's class (or none at all): its
			// controller, if any, writes this parent's status.
			continue
		}
		if resolved == nil {
			c := backendRefs(m, v)
			resolved = &c
		}
		accepted := r.attachRoute(g, &ref, v, attached)
		statuses = append(statuses, gwv1.RouteParentStatus{
			ParentRef:      *ref.DeepCopy(),
			ControllerName: ControllerName,
			Conditions:     []metav1.Condition{accepted, *resolved},
		})
	}
	if len(statuses) > 0 {
		r.Routes[RouteKey{Kind: v.kind, NamespacedName: model.NamespacedName{Namespace: v.meta.Namespace, Name: v.meta.Name}}] = statuses
	}
}

// attachRoute attaches v to the listeners of g that ref selects and
// returns the parent's Accepted condition: NoMatchingParent when
// sectionName or port selects no accepted listener, NotAllowedByListeners
// when none of them takes the route's kind from its namespace,
// NoMatchingListenerHostname when none shares a hostname with it.
func (r *Resolution) attachRoute(g *Gateway, ref *gwv1.ParentReference, v routeView, attached map[*Listener]map[string]bool) metav1.Condition {
	gen := v.meta.Generation
	var candidates []*Listener
	for i := range g.Listeners {
		l := &g.Listeners[i]
		if ref.SectionName != nil && *ref.SectionName != l.Spec.Name || ref.Port != nil && *ref.Port != l.Spec.Port {
			continue
		}
		candidates = append(candidates, l)
	}
	where := fmt.Sprintf("Gateway %s/%s", g.Object.Namespace, g.Object.Name)
	if ref.SectionName != nil {
		where += " listener " + string(*ref.SectionName)
	}
	if ref.Port != nil {
		where += fmt.Sprintf(" port %d", *ref.Port)
	}
	if len(candidates) == 0 {
		return cond(string(gwv1.RouteConditionAccepted), false, string(gwv1.RouteReasonNoMatchingParent), gen, where+" has no such listener")
	}
	var allowedHere []*Listener
	var why []string
	for _, l := range candidates {
		if ok, msg := admits(g, l, v); ok {
			allowedHere = append(allowedHere, l)
		} else {
			why = append(why, fmt.Sprintf("listener %s: %s", l.Spec.Name, msg))
		}
	}
	if len(allowedHere) == 0 {
		return cond(string(gwv1.RouteConditionAccepted), false, string(gwv1.RouteReasonNotAllowedByListeners), gen,
			where+" does not allow this route: "+strings.Join(why, "; "))
	}
	n := 0
	for _, l := range allowedHere {
		if v.kind != KindTCPRoute && l.Spec.Protocol != gwv1.TCPProtocolType {
			if _, ok := Hostnames(l.Spec.Hostname, v.hostnames); !ok {
				continue
			}
		}
		n++
		seen := attached[l]
		if seen == nil {
			seen = map[string]bool{}
			attached[l] = seen
		}
		id := v.kind + "/" + v.meta.Namespace + "/" + v.meta.Name
		if !seen[id] {
			seen[id] = true
			v.attach(l)
			l.Status.AttachedRoutes++
		}
	}
	if n == 0 {
		return cond(string(gwv1.RouteConditionAccepted), false, string(gwv1.RouteReasonNoMatchingListenerHostname), gen,
			fmt.Sprintf("%s: no listener's hostname matches the route's hostnames %v", where, v.hostnames))
	}
	return cond(string(gwv1.RouteConditionAccepted), true, string(gwv1.RouteReasonAccepted), gen,
		fmt.Sprintf("attached to %d listener(s) of %s", n, where))
}

// admits reports whether listener l of g takes a route like v: the
// listener is accepted, takes v's kind, and allows v's namespace.
func admits(g *Gateway, l *Listener, v routeView) (bool, string) {
	if c := findCondition(l.Status.Conditions, string(gwv1.ListenerConditionAccepted)); c == nil || c.Status != metav1.ConditionTrue {
		return false, "the listener is not accepted"
	}
	if !containsKind(l.Status.SupportedKinds, v.kind) {
		return false, fmt.Sprintf("it takes %s, not %s", kindNames(l.Status.SupportedKinds), v.kind)
	}
	from := gwv1.NamespacesFromSame
	var selector *metav1.LabelSelector
	if ar := l.Spec.AllowedRoutes; ar != nil && ar.Namespaces != nil && ar.Namespaces.From != nil {
		from, selector = *ar.Namespaces.From, ar.Namespaces.Selector
	}
	switch from {
	case gwv1.NamespacesFromAll:
		return true, ""
	case gwv1.NamespacesFromSame:
		if v.meta.Namespace == g.Object.Namespace {
			return true, ""
		}
		return false, fmt.Sprintf("it allows routes of namespace %s only (allowedRoutes.namespaces.from Same)", g.Object.Namespace)
	case gwv1.NamespacesFromSelector:
		return selects(selector, v)
	default:
		return false, fmt.Sprintf("allowedRoutes.namespaces.from is %s", from)
	}
}

// selects reports whether a listener's allowedRoutes.namespaces.selector
// matches the labels of v's namespace. A missing or invalid selector
// admits nothing: the API server does not check its operators.
func selects(selector *metav1.LabelSelector, v routeView) (bool, string) {
	if selector == nil {
		return false, "allowedRoutes.namespaces.from is Selector but allowedRoutes.namespaces.selector is not set"
	}
	sel, err := metav1.LabelSelectorAsSelector(selector)
	if err != nil {
		return false, fmt.Sprintf("allowedRoutes.namespaces.selector is invalid: %v", err)
	}
	if sel.Matches(labels.Set(v.nsLabels)) {
		return true, ""
	}
	return false, fmt.Sprintf("it allows routes of namespaces labelled %q only (allowedRoutes.namespaces.from Selector), and namespace %s is not", sel, v.meta.Namespace)
}

func kindNames(kinds []gwv1.RouteGroupKind) string {
	names := make([]string, 0, len(kinds))
	for _, k := range kinds {
		names = append(names, string(k.Kind))
	}
	if len(names) == 0 {
		return "no route kinds"
	}
	return strings.Join(names, " and ")
}

// backendRefs is a route's ResolvedRefs condition: every backendRef (and
// mirror backend) is a Service of the mesh with that port, in the route's
// namespace or allowed by a ReferenceGrant. The first failing reference
// gives the reason (InvalidKind, RefNotPermitted, BackendNotFound), and
// the message lists them all.
func backendRefs(m *model.Mesh, v routeView) metav1.Condition {
	var reason string
	var msgs []string
	fail := func(rs gwv1.RouteConditionReason, format string, args ...any) {
		if reason == "" {
			reason = string(rs)
		}
		msgs = append(msgs, fmt.Sprintf(format, args...))
	}
	for _, b := range v.backends {
		group, kind := groupCore, kindService
		if b.Group != nil {
			group = normalGroup(string(*b.Group))
		}
		if b.Kind != nil {
			kind = string(*b.Kind)
		}
		key := model.NamespacedName{Namespace: v.meta.Namespace, Name: string(b.Name)}
		if b.Namespace != nil {
			key.Namespace = string(*b.Namespace)
		}
		switch {
		case group != groupCore || kind != kindService:
			fail(gwv1.RouteReasonInvalidKind, "backendRef %s: kind %s in group %q is not a Service", key, kind, group)
		case !BackendAllowed(m, v.kind, v.meta.Namespace, &b):
			fail(gwv1.RouteReasonRefNotPermitted, "backendRef %s: no ReferenceGrant in namespace %s allows %ss of %s to use it",
				key, key.Namespace, v.kind, v.meta.Namespace)
		case m.Service(key) == nil:
			fail(gwv1.RouteReasonBackendNotFound, "backendRef %s: no such Service", key)
		case b.Port == nil:
			fail(gwv1.RouteReasonBackendNotFound, "backendRef %s: a Service backend needs a port", key)
		case !slices.ContainsFunc(m.Service(key).Ports, func(p model.ServicePort) bool { return p.Port == uint32(*b.Port) }): //nolint:gosec // a PortNumber is 1-65535
			fail(gwv1.RouteReasonBackendNotFound, "backendRef %s: the Service has no port %d", key, *b.Port)
		}
	}
	if reason == "" {
		return cond(string(gwv1.RouteConditionResolvedRefs), true, string(gwv1.RouteReasonResolvedRefs), v.meta.Generation, "all backendRefs resolved")
	}
	return cond(string(gwv1.RouteConditionResolvedRefs), false, reason, v.meta.Generation, strings.Join(msgs, "; "))
}
