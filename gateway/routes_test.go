package gateway

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"

	"github.com/weftmesh/weft/controlplane/model"
)

func parent(name string) gwv1.ParentReference {
	return gwv1.ParentReference{Name: gwv1.ObjectName(name)}
}

func backendRef(ns, name string, port int32) gwv1.BackendObjectReference {
	b := gwv1.BackendObjectReference{Name: gwv1.ObjectName(name)}
	if ns != "" {
		b.Namespace = ptr(gwv1.Namespace(ns))
	}
	if port != 0 {
		b.Port = ptr(port)
	}
	return b
}

func httpRoute(ns, name string, parents []gwv1.ParentReference, hosts []gwv1.Hostname, backends ...gwv1.BackendObjectReference) gwv1.HTTPRoute {
	r := gwv1.HTTPRoute{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Generation: 7},
		Spec:       gwv1.HTTPRouteSpec{CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: parents}, Hostnames: hosts},
	}
	rule := gwv1.HTTPRouteRule{}
	for _, b := range backends {
		rule.BackendRefs = append(rule.BackendRefs, gwv1.HTTPBackendRef{BackendRef: gwv1.BackendRef{BackendObjectReference: b}})
	}
	r.Spec.Rules = []gwv1.HTTPRouteRule{rule}
	return r
}

// routeGateway has an HTTP listener for shop.example.com on 80 (routes of
// its namespace), an HTTP listener on 8080 for every namespace, one on
// 8081 for namespaces labelled team=pay, a TLS passthrough listener on
// 443, a TCP listener on 5432, and an HTTP listener on 8082 whose
// namespace selector is invalid.
func routeGateway() *gwv1.Gateway {
	all := httpListener("all", 8080, "")
	all.AllowedRoutes = &gwv1.AllowedRoutes{Namespaces: &gwv1.RouteNamespaces{From: ptr(gwv1.NamespacesFromAll)}}
	sel := httpListener("selector", 8081, "")
	sel.AllowedRoutes = &gwv1.AllowedRoutes{Namespaces: &gwv1.RouteNamespaces{From: ptr(gwv1.NamespacesFromSelector),
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "pay"}}}}
	badSel := httpListener("bad-selector", 8082, "")
	badSel.AllowedRoutes = &gwv1.AllowedRoutes{Namespaces: &gwv1.RouteNamespaces{From: ptr(gwv1.NamespacesFromSelector),
		Selector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "team", Operator: "Matches", Values: []string{"pay"}}}}}}
	return gateway(
		httpListener("web", 80, "shop.example.com"),
		all,
		sel,
		gwv1.Listener{Name: "pass", Protocol: gwv1.TLSProtocolType, Port: 443, Hostname: ptr(gwv1.Hostname("*.db.example.com")),
			TLS: &gwv1.ListenerTLSConfig{Mode: ptr(gwv1.TLSModePassthrough)}},
		gwv1.Listener{Name: "tcp", Protocol: gwv1.TCPProtocolType, Port: 5432},
		badSel,
	)
}

func TestResolveRoutes(t *testing.T) {
	web := backendRef("", "web", 8080)
	section := func(name string) gwv1.ParentReference {
		p := parent("public")
		p.SectionName = ptr(gwv1.SectionName(name))
		return p
	}
	port := func(n int32) gwv1.ParentReference {
		p := parent("public")
		p.Port = ptr(n)
		return p
	}
	crossNS := parent("public")
	crossNS.Namespace = ptr(gwv1.Namespace("shop"))
	crossSection := func(name string) gwv1.ParentReference {
		p := section(name)
		p.Namespace = ptr(gwv1.Namespace("shop"))
		return p
	}
	payLabelled := map[string]map[string]string{"pay": {"team": "pay"}, "shop": {"team": "shop"}}
	service := gwv1.ParentReference{Group: ptr(gwv1.Group("")), Kind: ptr(gwv1.Kind("Service")), Name: "web"}
	grantServices := gwv1beta1.ReferenceGrant{
		ObjectMeta: metav1.ObjectMeta{Namespace: "pay", Name: "routes-of-shop"},
		Spec: gwv1.ReferenceGrantSpec{
			From: []gwv1.ReferenceGrantFrom{{Group: gwv1.GroupName, Kind: "HTTPRoute", Namespace: "shop"}},
			To:   []gwv1.ReferenceGrantTo{{Group: "", Kind: "Service", Name: ptr(gwv1.ObjectName("billing"))}},
		},
	}
	grantOtherKind := grantServices
	grantOtherKind.Spec.From = []gwv1.ReferenceGrantFrom{{Group: gwv1.GroupName, Kind: "GRPCRoute", Namespace: "shop"}}
	invalidKind := backendRef("", "web", 8080)
	invalidKind.Kind = ptr(gwv1.Kind("Pod"))

	type parentWant struct {
		accepted, acceptedReason string
		resolvedReason           string
		msg                      string
	}
	tests := []struct {
		name     string
		route    gwv1.HTTPRoute
		grants   []gwv1beta1.ReferenceGrant
		nsLabels map[string]map[string]string // model.Ingress.NamespaceLabels
		want     []parentWant
		attached map[string]int32 // listener: attached routes
	}{
		{
			name:     "a route of the Gateway's namespace attaches to every HTTP listener that allows it",
			route:    httpRoute("shop", "r", []gwv1.ParentReference{parent("public")}, nil, web),
			want:     []parentWant{{"True", "Accepted", "ResolvedRefs", ""}},
			attached: map[string]int32{"web": 1, "all": 1, "selector": 0, "pass": 0, "tcp": 0},
		},
		{
			name:     "sectionName picks one listener",
			route:    httpRoute("shop", "r", []gwv1.ParentReference{section("all")}, nil, web),
			want:     []parentWant{{"True", "Accepted", "ResolvedRefs", ""}},
			attached: map[string]int32{"web": 0, "all": 1},
		},
		{
			name:     "port picks the listeners of the port",
			route:    httpRoute("shop", "r", []gwv1.ParentReference{port(80)}, nil, web),
			want:     []parentWant{{"True", "Accepted", "ResolvedRefs", ""}},
			attached: map[string]int32{"web": 1, "all": 0},
		},
		{
			name:     "a route named twice by one Gateway attaches once",
			route:    httpRoute("shop", "r", []gwv1.ParentReference{parent("public"), section("web")}, nil, web),
			want:     []parentWant{{"True", "Accepted", "ResolvedRefs", ""}, {"True", "Accepted", "ResolvedRefs", ""}},
			attached: map[string]int32{"web": 1, "all": 1},
		},
		{
			name:  "a missing sectionName",
			route: httpRoute("shop", "r", []gwv1.ParentReference{section("nope")}, nil, web),
			want:  []parentWant{{"False", "NoMatchingParent", "ResolvedRefs", "Gateway shop/public listener nope has no such listener"}},
		},
		{
			name:  "a port no listener has",
			route: httpRoute("shop", "r", []gwv1.ParentReference{port(9999)}, nil, web),
			want:  []parentWant{{"False", "NoMatchingParent", "ResolvedRefs", "port 9999 has no such listener"}},
		},
		{
			name:  "a route of another namespace on a listener that allows Same",
			route: httpRoute("pay", "r", []gwv1.ParentReference{crossNS, func() gwv1.ParentReference { p := section("web"); p.Namespace = ptr(gwv1.Namespace("shop")); return p }()}, nil, backendRef("", "billing", 9000)),
			want: []parentWant{
				{"True", "Accepted", "ResolvedRefs", ""}, // the "all" listener takes it
				{"False", "NotAllowedByListeners", "ResolvedRefs", "allows routes of namespace shop only"},
			},
			attached: map[string]int32{"web": 0, "all": 1},
		},
		{
			name:     "a route of a namespace the listener's selector matches",
			route:    httpRoute("pay", "r", []gwv1.ParentReference{crossNS}, nil, backendRef("", "billing", 9000)),
			nsLabels: payLabelled,
			want:     []parentWant{{"True", "Accepted", "ResolvedRefs", ""}},
			attached: map[string]int32{"web": 0, "all": 1, "selector": 1, "bad-selector": 0},
		},
		{
			name:     "a route of a namespace the listener's selector does not match",
			route:    httpRoute("shop", "r", []gwv1.ParentReference{section("selector")}, nil, web),
			nsLabels: payLabelled,
			want: []parentWant{{"False", "NotAllowedByListeners", "ResolvedRefs",
				`listener selector: it allows routes of namespaces labelled "team=pay" only (allowedRoutes.namespaces.from Selector), and namespace shop is not`}},
			attached: map[string]int32{"selector": 0},
		},
		{
			name:  "a namespace without labels does not match",
			route: httpRoute("pay", "r", []gwv1.ParentReference{crossSection("selector")}, nil, backendRef("", "billing", 9000)),
			want:  []parentWant{{"False", "NotAllowedByListeners", "ResolvedRefs", "namespace pay is not"}},
		},
		{
			name:     "an invalid selector admits no route",
			route:    httpRoute("pay", "r", []gwv1.ParentReference{crossSection("bad-selector")}, nil, backendRef("", "billing", 9000)),
			nsLabels: payLabelled,
			want: []parentWant{{"False", "NotAllowedByListeners", "ResolvedRefs",
				`listener bad-selector: allowedRoutes.namespaces.selector is invalid: "Matches" is not a valid label selector operator`}},
			attached: map[string]int32{"bad-selector": 0},
		},
		{
			name:  "an HTTPRoute on a TCP listener",
			route: httpRoute("shop", "r", []gwv1.ParentReference{section("tcp")}, nil, web),
			want:  []parentWant{{"False", "NotAllowedByListeners", "ResolvedRefs", "it takes TCPRoute, not HTTPRoute"}},
		},
		{
			name:     "hostnames: only the listener that shares one",
			route:    httpRoute("shop", "r", []gwv1.ParentReference{parent("public")}, []gwv1.Hostname{"pay.example.com"}, web),
			want:     []parentWant{{"True", "Accepted", "ResolvedRefs", ""}},
			attached: map[string]int32{"web": 0, "all": 1},
		},
		{
			name:  "no listener shares a hostname",
			route: httpRoute("shop", "r", []gwv1.ParentReference{section("web")}, []gwv1.Hostname{"pay.example.com"}, web),
			want:  []parentWant{{"False", "NoMatchingListenerHostname", "ResolvedRefs", "pay.example.com"}},
		},
		{
			name:  "a missing Service",
			route: httpRoute("shop", "r", []gwv1.ParentReference{section("web")}, nil, backendRef("", "ghost", 80)),
			want:  []parentWant{{"True", "Accepted", "BackendNotFound", "backendRef shop/ghost: no such Service"}},
		},
		{
			name:  "a port the Service lacks",
			route: httpRoute("shop", "r", []gwv1.ParentReference{section("web")}, nil, backendRef("", "web", 81)),
			want:  []parentWant{{"True", "Accepted", "BackendNotFound", "the Service has no port 81"}},
		},
		{
			name:  "a backend of another kind",
			route: httpRoute("shop", "r", []gwv1.ParentReference{section("web")}, nil, invalidKind),
			want:  []parentWant{{"True", "Accepted", "InvalidKind", "kind Pod"}},
		},
		{
			name:  "a Service of another namespace without a ReferenceGrant",
			route: httpRoute("shop", "r", []gwv1.ParentReference{section("web")}, nil, backendRef("pay", "billing", 9000)),
			want:  []parentWant{{"True", "Accepted", "RefNotPermitted", "backendRef pay/billing: no ReferenceGrant in namespace pay allows HTTPRoutes of shop"}},
		},
		{
			name:   "a ReferenceGrant for another route kind does not count",
			route:  httpRoute("shop", "r", []gwv1.ParentReference{section("web")}, nil, backendRef("pay", "billing", 9000)),
			grants: []gwv1beta1.ReferenceGrant{grantOtherKind},
			want:   []parentWant{{"True", "Accepted", "RefNotPermitted", ""}},
		},
		{
			name:   "a Service of another namespace with a ReferenceGrant",
			route:  httpRoute("shop", "r", []gwv1.ParentReference{section("web")}, nil, backendRef("pay", "billing", 9000)),
			grants: []gwv1beta1.ReferenceGrant{grantServices},
			want:   []parentWant{{"True", "Accepted", "ResolvedRefs", ""}},
		},
		{
			name:  "Service parents and Gateways of other classes get no status here",
			route: httpRoute("shop", "r", []gwv1.ParentReference{service, parent("other-class")}, nil, web),
			want:  nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := baseMesh(t, routeGateway())
			m.Policies.HTTPRoutes = []gwv1.HTTPRoute{tt.route}
			m.Ingress.ReferenceGrants = tt.grants
			m.Ingress.NamespaceLabels = tt.nsLabels
			r := Resolve(m)
			got, ok := r.Routes[RouteKey{Kind: KindHTTPRoute, NamespacedName: model.NamespacedName{Namespace: tt.route.Namespace, Name: "r"}}]
			if tt.want == nil {
				if ok {
					t.Fatalf("status written for parents Weft does not own: %+v", got)
				}
				return
			}
			if len(got) != len(tt.want) {
				t.Fatalf("%d parent statuses, want %d: %+v", len(got), len(tt.want), got)
			}
			for i, w := range tt.want {
				ps := got[i]
				if ps.ControllerName != ControllerName {
					t.Errorf("parent %d: controllerName %q", i, ps.ControllerName)
				}
				if ps.ParentRef.Name != tt.route.Spec.ParentRefs[i].Name {
					t.Errorf("parent %d: parentRef %+v", i, ps.ParentRef)
				}
				msg := w.msg
				if w.accepted == "True" {
					msg = ""
				}
				wantCond(t, "parent", ps.Conditions, "Accepted", metav1.ConditionStatus(w.accepted), w.acceptedReason, msg)
				resolved := "True"
				if w.resolvedReason != "ResolvedRefs" {
					resolved = "False"
				} else {
					msg = ""
				}
				if w.accepted != "True" {
					msg = ""
				}
				wantCond(t, "parent", ps.Conditions, "ResolvedRefs", metav1.ConditionStatus(resolved), w.resolvedReason, msg)
				for _, c := range ps.Conditions {
					if c.ObservedGeneration != 7 {
						t.Errorf("parent %d: %s observedGeneration %d, want the route's 7", i, c.Type, c.ObservedGeneration)
					}
				}
			}
			g := r.Gateway(model.NamespacedName{Namespace: "shop", Name: "public"})
			for _, l := range g.Listeners {
				want, ok := tt.attached[string(l.Spec.Name)]
				if !ok {
					continue
				}
				if l.Status.AttachedRoutes != want || len(l.HTTPRoutes) != int(want) {
					t.Errorf("listener %s: attachedRoutes %d with %d HTTPRoutes, want %d", l.Spec.Name, l.Status.AttachedRoutes, len(l.HTTPRoutes), want)
				}
			}
		})
	}
}

func TestResolveTLSAndTCPRoutesAndOrder(t *testing.T) {
	m := baseMesh(t, routeGateway())
	m.Services = append(m.Services, model.Service{Name: "db", Namespace: "shop", Ports: []model.ServicePort{{Name: "tls", Port: 5432}}})
	older := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	newer := metav1.NewTime(older.Add(time.Hour))
	tlsRoute := func(name string, created metav1.Time, hosts ...gwv1.Hostname) gwv1.TLSRoute {
		return gwv1.TLSRoute{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, CreationTimestamp: created},
			Spec: gwv1.TLSRouteSpec{
				CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{parent("public")}},
				Hostnames:       hosts,
				Rules:           []gwv1.TLSRouteRule{{BackendRefs: []gwv1.BackendRef{{BackendObjectReference: backendRef("", "db", 5432)}}}},
			},
		}
	}
	m.Ingress.TLSRoutes = []gwv1.TLSRoute{
		tlsRoute("a-newer", newer, "pg.db.example.com"),
		tlsRoute("b-older", older, "*.db.example.com"),
		tlsRoute("c-elsewhere", older, "pg.example.org"),
	}
	m.Ingress.TCPRoutes = []gwv1.TCPRoute{{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "pg"},
		Spec: gwv1.TCPRouteSpec{
			CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{parent("public")}},
			Rules:           []gwv1.TCPRouteRule{{BackendRefs: []gwv1.BackendRef{{BackendObjectReference: backendRef("", "db", 5432)}}}},
		},
	}}
	m.Sort()
	r := Resolve(m)
	g := r.Gateway(model.NamespacedName{Namespace: "shop", Name: "public"})
	pass, tcp := &g.Listeners[3], &g.Listeners[4]
	if len(pass.TLSRoutes) != 2 || pass.TLSRoutes[0].Name != "b-older" || pass.TLSRoutes[1].Name != "a-newer" {
		t.Errorf("passthrough listener routes %v, want b-older then a-newer (oldest first)", routeNames(pass.TLSRoutes))
	}
	if pass.Status.AttachedRoutes != 2 || tcp.Status.AttachedRoutes != 1 || len(tcp.TCPRoutes) != 1 {
		t.Errorf("attachedRoutes: passthrough %d, tcp %d", pass.Status.AttachedRoutes, tcp.Status.AttachedRoutes)
	}
	st := r.Routes[RouteKey{Kind: KindTLSRoute, NamespacedName: model.NamespacedName{Namespace: "shop", Name: "c-elsewhere"}}]
	if len(st) != 1 {
		t.Fatalf("c-elsewhere: %d parent statuses", len(st))
	}
	wantCond(t, "c-elsewhere", st[0].Conditions, "Accepted", "False", "NoMatchingListenerHostname", "")
	st = r.Routes[RouteKey{Kind: KindTCPRoute, NamespacedName: model.NamespacedName{Namespace: "shop", Name: "pg"}}]
	if len(st) != 1 {
		t.Fatalf("TCPRoute: %d parent statuses", len(st))
	}
	wantCond(t, "TCPRoute", st[0].Conditions, "Accepted", "True", "Accepted", "")
	wantCond(t, "TCPRoute", st[0].Conditions, "ResolvedRefs", "True", "ResolvedRefs", "")
}

func routeNames(rs []*gwv1.TLSRoute) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Name)
	}
	return out
}

func TestResolveIsPure(t *testing.T) {
	m := baseMesh(t, routeGateway())
	m.Policies.HTTPRoutes = []gwv1.HTTPRoute{httpRoute("shop", "r", []gwv1.ParentReference{parent("public")}, nil, backendRef("", "web", 8080))}
	a, b := Resolve(m), Resolve(m)
	if len(a.Gateways) != 1 || len(a.Routes) != 1 {
		t.Fatalf("resolution: %d gateways, %d routes", len(a.Gateways), len(a.Routes))
	}
	for i := range a.Gateways[0].Listeners {
		la, lb := a.Gateways[0].Listeners[i], b.Gateways[0].Listeners[i]
		if la.Status.AttachedRoutes != lb.Status.AttachedRoutes || len(la.Status.Conditions) != len(lb.Status.Conditions) {
			t.Errorf("listener %d differs between two resolutions", i)
		}
	}
	if m.Ingress.Gateways[0].Status.Listeners != nil || m.Policies.HTTPRoutes[0].Status.Parents != nil {
		t.Error("Resolve wrote to the mesh's objects")
	}
}
