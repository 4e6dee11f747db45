package status

import (
	"cmp"
	"errors"
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/weftmesh/weft/controlplane/model"
	"github.com/weftmesh/weft/gateway"
)

func cond(typ string, status metav1.ConditionStatus, reason string) metav1.Condition {
	return metav1.Condition{Type: typ, Status: status, Reason: reason, Message: reason}
}

// resolvedGateway is a Resolve result for Gateway shop/public
// (generation 3) with conditions conds and one listener.
func resolvedGateway(conds ...metav1.Condition) *gateway.Gateway {
	gw := &gwv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: shop, Name: "public", Generation: 3},
		Spec: gwv1.GatewaySpec{Listeners: []gwv1.Listener{{Name: "https", Protocol: gwv1.HTTPSProtocolType, Port: 443}}}}
	return &gateway.Gateway{Object: gw, Conditions: conds, Listeners: []gateway.Listener{{
		Spec: &gw.Spec.Listeners[0],
		Status: gwv1.ListenerStatus{Name: "https", AttachedRoutes: 1,
			SupportedKinds: []gwv1.RouteGroupKind{{Kind: "HTTPRoute"}},
			Conditions:     []metav1.Condition{cond("ResolvedRefs", metav1.ConditionFalse, "RefNotPermitted")}},
	}}}
}

func ipAddr(v string) gwv1.GatewayStatusAddress {
	return gwv1.GatewayStatusAddress{Type: ptr(gwv1.IPAddressType), Value: v}
}

// TestGatewayConditions checks the Programmed condition the Writer puts on
// a Gateway: Resolve's, turned False AddressNotAssigned while the
// Service has no address, never turned True by an address.
func TestGatewayConditions(t *testing.T) {
	accepted := cond(ConditionAccepted, metav1.ConditionTrue, "Accepted")
	programmed := cond(ConditionProgrammed, metav1.ConditionTrue, "Programmed")
	invalid := cond(ConditionProgrammed, metav1.ConditionFalse, "Invalid")
	tests := []struct {
		name          string
		resolved      []metav1.Condition
		addresses     []gwv1.GatewayStatusAddress
		invalidParams error
		want          string // Programmed's status and reason
		wantAccepted  string
	}{
		{name: "no address yet", resolved: []metav1.Condition{accepted, programmed}, want: "False AddressNotAssigned"},
		{name: "address", resolved: []metav1.Condition{accepted, programmed}, addresses: []gwv1.GatewayStatusAddress{ipAddr("192.0.2.240")}, want: "True Programmed"},
		{name: "invalid stays invalid", resolved: []metav1.Condition{accepted, invalid}, addresses: []gwv1.GatewayStatusAddress{ipAddr("192.0.2.240")}, want: "False Invalid"},
		{name: "invalid without address", resolved: []metav1.Condition{accepted, invalid}, want: "False Invalid"},
		{name: "no Programmed from Resolve", resolved: []metav1.Condition{accepted}, want: "False AddressNotAssigned"},
		{name: "invalid parameters", resolved: []metav1.Condition{accepted, programmed}, addresses: []gwv1.GatewayStatusAddress{ipAddr("192.0.2.240")},
			invalidParams: errors.New("key replicas: not a number"), want: "False Invalid", wantAccepted: "False InvalidParameters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := resolvedGateway(tt.resolved...)
			got := gatewayConditions(g, infra{addresses: tt.addresses, invalidParams: tt.invalidParams})
			c := apimeta.FindStatusCondition(got, ConditionProgrammed)
			if c == nil || string(c.Status)+" "+c.Reason != tt.want {
				t.Fatalf("Programmed = %+v, want %s", c, tt.want)
			}
			for _, c := range got {
				if c.ObservedGeneration != 3 {
					t.Errorf("%s for generation %d, want the Gateway's 3", c.Type, c.ObservedGeneration)
				}
			}
			wantAccepted := cmp.Or(tt.wantAccepted, "True Accepted")
			if a := apimeta.FindStatusCondition(got, ConditionAccepted); a == nil || string(a.Status)+" "+a.Reason != wantAccepted {
				t.Errorf("Accepted = %+v, want %s", a, wantAccepted)
			}
			if tt.invalidParams != nil && apimeta.FindStatusCondition(got, ConditionAccepted).Message != tt.invalidParams.Error() {
				t.Errorf("Accepted's message is not the deployer's (the parameters' error): they would overwrite each other")
			}
			if len(got) != 2 {
				t.Errorf("conditions %+v, want Accepted and Programmed once each", got)
			}
		})
	}
}

// TestAddressesOf checks the addresses a Gateway reports from its
// Service, by Service type.
func TestAddressesOf(t *testing.T) {
	hostname := gwv1.GatewayStatusAddress{Type: ptr(gwv1.HostnameAddressType), Value: "lb.example.com"}
	tests := []struct {
		name string
		svc  corev1.Service
		want []gwv1.GatewayStatusAddress
	}{
		{name: "load balancer pending", svc: corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ClusterIPs: []string{"198.18.0.10"}}}},
		{name: "load balancer IP and hostname", svc: corev1.Service{
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ClusterIPs: []string{"198.18.0.10"}},
			Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{
				{IP: "192.0.2.240"}, {Hostname: "lb.example.com"}, {IP: "192.0.2.240"},
			}}},
		}, want: []gwv1.GatewayStatusAddress{ipAddr("192.0.2.240"), hostname}},
		{name: "cluster IP", svc: corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIPs: []string{"198.18.0.10", "2001:db8::a"}}},
			want: []gwv1.GatewayStatusAddress{ipAddr("198.18.0.10"), ipAddr("2001:db8::a")}},
		{name: "node port", svc: corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, ClusterIPs: []string{"198.18.0.11"}}},
			want: []gwv1.GatewayStatusAddress{ipAddr("198.18.0.11")}},
		{name: "headless", svc: corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIPs: []string{corev1.ClusterIPNone}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := addressesOf(&tt.svc); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("addresses %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestGatewayTargetMerges applies a Gateway target twice: the first
// writes conditions, listeners and addresses; the second, with nothing
// new, changes nothing and keeps lastTransitionTime; a status written for
// a later generation is left alone; an address that goes is removed.
func TestGatewayTargetMerges(t *testing.T) {
	g := resolvedGateway(cond(ConditionAccepted, metav1.ConditionTrue, "Accepted"), cond(ConditionProgrammed, metav1.ConditionTrue, "Programmed"))
	key := model.NamespacedName{Namespace: shop, Name: "public"}
	res := &gateway.Resolution{Gateways: []gateway.Gateway{*g}}
	addrs := map[model.NamespacedName]infra{key: {addresses: []gwv1.GatewayStatusAddress{ipAddr("192.0.2.240")}}}
	ts := gatewayTargets(res, addrs)
	if len(ts) != 1 {
		t.Fatalf("%d targets, want 1", len(ts))
	}
	stored := g.Object.DeepCopy()
	stored.Status.Conditions = []metav1.Condition{{Type: "Accepted", Status: metav1.ConditionUnknown, Reason: "Pending"}, {Type: "Other", Status: metav1.ConditionTrue, Reason: "Theirs"}}
	t0 := metav1.NewTime(time.Now().Add(-time.Hour).Truncate(time.Second))
	if !ts[0].apply(stored, t0) {
		t.Fatal("first apply changed nothing")
	}
	if !reflect.DeepEqual(stored.Status.Addresses, addrs[key].addresses) || len(stored.Status.Listeners) != 1 || stored.Status.Listeners[0].AttachedRoutes != 1 {
		t.Errorf("status %+v, want the address and the listener", stored.Status)
	}
	if c := apimeta.FindStatusCondition(stored.Status.Conditions, "Other"); c == nil {
		t.Error("another writer's condition was removed")
	}
	if ts[0].apply(stored, metav1.NewTime(time.Now())) {
		t.Error("second apply of the same status changed it")
	}
	if c := apimeta.FindStatusCondition(stored.Status.Listeners[0].Conditions, "ResolvedRefs"); c == nil || !c.LastTransitionTime.Equal(&t0) {
		t.Errorf("listener ResolvedRefs %+v, want lastTransitionTime kept at %v", c, t0)
	}

	// The address goes: Programmed False and no addresses.
	gone := gatewayTargets(res, map[model.NamespacedName]infra{key: {}})
	if !gone[0].apply(stored, metav1.NewTime(time.Now())) || stored.Status.Addresses != nil {
		t.Errorf("addresses %+v after the Service lost its address, want none", stored.Status.Addresses)
	}
	if c := apimeta.FindStatusCondition(stored.Status.Conditions, ConditionProgrammed); c.Reason != ReasonAddressNotAssigned {
		t.Errorf("Programmed %+v, want AddressNotAssigned", c)
	}

	// A Gateway whose Service could not be read gets no target.
	if ts := gatewayTargets(res, nil); len(ts) != 0 {
		t.Errorf("%d targets without the Service's addresses, want none", len(ts))
	}
	// Status written for a later generation is left alone.
	newer := stored.DeepCopy()
	newer.Status.Conditions[0].ObservedGeneration = 4
	newer.Status.Addresses = nil
	if ts[0].apply(newer, metav1.NewTime(time.Now())) {
		t.Error("a Gateway status of a later generation was overwritten")
	}
}

// TestRouteTargetsKeepBothControllers applies the target of an HTTPRoute
// with a Service parent and a Gateway parent: the mesh's entry and the
// ingress gateway's are both written, another controller's kept, and an
// ingress entry for a parent Resolve no longer reports removed.
func TestRouteTargetsKeepBothControllers(t *testing.T) {
	gwParent := gwv1.ParentReference{Name: "public"}
	hr := httpRoute("storefront", []gwv1.ParentReference{serviceParent("web", 80), gwParent}, backend("web", 80))
	m := testMesh([]model.Service{webService()}, model.Policies{HTTPRoutes: []gwv1.HTTPRoute{hr}})
	key := gateway.RouteKey{Kind: kindHTTPRoute, NamespacedName: model.NamespacedName{Namespace: shop, Name: "storefront"}}
	ingress := gwv1.RouteParentStatus{ParentRef: gwParent, ControllerName: gateway.ControllerName, Conditions: []metav1.Condition{
		cond(ConditionAccepted, metav1.ConditionTrue, "Accepted"), cond(ConditionResolvedRefs, metav1.ConditionTrue, "ResolvedRefs"),
	}}
	res := &gateway.Resolution{Routes: map[gateway.RouteKey][]gwv1.RouteParentStatus{key: {ingress}}}
	ts := targets(m, nil, res)
	if len(ts) != 1 {
		t.Fatalf("%d targets, want 1", len(ts))
	}
	other := gwv1.RouteParentStatus{ParentRef: gwv1.ParentReference{Name: "theirs"}, ControllerName: "example.net/gateway-controller",
		Conditions: []metav1.Condition{cond(ConditionAccepted, metav1.ConditionTrue, "Accepted")}}
	stored := hr.DeepCopy()
	stored.Status.Parents = []gwv1.RouteParentStatus{other}
	if !ts[0].apply(stored, metav1.NewTime(time.Now())) {
		t.Fatal("apply changed nothing")
	}
	byController := map[gwv1.GatewayController]int{}
	for _, p := range stored.Status.Parents {
		byController[p.ControllerName]++
	}
	want := map[gwv1.GatewayController]int{ControllerName: 1, gateway.ControllerName: 1, other.ControllerName: 1}
	if !reflect.DeepEqual(byController, want) {
		t.Fatalf("status.parents by controller %v, want %v", byController, want)
	}
	for _, p := range stored.Status.Parents {
		if p.ControllerName == gateway.ControllerName && (p.Conditions[0].ObservedGeneration != 1 || p.Conditions[0].LastTransitionTime.IsZero()) {
			t.Errorf("ingress entry %+v, want generation 1 and a transition time", p)
		}
	}
	if ts[0].apply(stored, metav1.NewTime(time.Now())) {
		t.Error("a second apply changed the route again")
	}

	// Resolve no longer reports the Gateway parent: its entry goes.
	for _, tg := range targets(m, nil, &gateway.Resolution{}) {
		if !tg.apply(stored, metav1.NewTime(time.Now())) {
			t.Error("removing the ingress entry changed nothing")
		}
	}
	for _, p := range stored.Status.Parents {
		if p.ControllerName == gateway.ControllerName {
			t.Errorf("ingress entry left after Resolve dropped it: %+v", p)
		}
	}
}

// TestIngressRouteTargets checks TLSRoutes and TCPRoutes get Resolve's
// entries only.
func TestIngressRouteTargets(t *testing.T) {
	tls := gwv1.TLSRoute{ObjectMeta: metav1.ObjectMeta{Namespace: shop, Name: "db", Generation: 2}}
	tcp := gwv1.TCPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: shop, Name: "raw", Generation: 1}}
	m := testMesh(nil, model.Policies{})
	m.Ingress = model.Ingress{TLSRoutes: []gwv1.TLSRoute{tls}, TCPRoutes: []gwv1.TCPRoute{tcp}}
	entry := gwv1.RouteParentStatus{ParentRef: gwv1.ParentReference{Name: "public"}, ControllerName: gateway.ControllerName,
		Conditions: []metav1.Condition{cond(ConditionAccepted, metav1.ConditionFalse, "NotAllowedByListeners")}}
	res := &gateway.Resolution{Routes: map[gateway.RouteKey][]gwv1.RouteParentStatus{
		{Kind: kindTLSRoute, NamespacedName: model.NamespacedName{Namespace: shop, Name: "db"}}: {entry},
	}}
	ts := gatewayRouteTargets(m, res)
	if len(ts) != 2 {
		t.Fatalf("%d targets, want 2", len(ts))
	}
	for _, tg := range ts {
		var obj client.Object
		var parents *[]gwv1.RouteParentStatus
		switch tg.kind {
		case kindTLSRoute:
			r := tls.DeepCopy()
			obj, parents = r, &r.Status.Parents
		case kindTCPRoute:
			r := tcp.DeepCopy()
			obj, parents = r, &r.Status.Parents
		}
		changed := tg.apply(obj, metav1.NewTime(time.Now()))
		switch tg.kind {
		case kindTLSRoute:
			if !changed || len(*parents) != 1 || (*parents)[0].Conditions[0].Reason != "NotAllowedByListeners" || (*parents)[0].Conditions[0].ObservedGeneration != 2 {
				t.Errorf("TLSRoute parents %+v, want Resolve's entry for generation 2", *parents)
			}
		case kindTCPRoute:
			if changed || len(*parents) != 0 {
				t.Errorf("TCPRoute parents %+v (changed %v), want none", *parents, changed)
			}
		}
	}
}
