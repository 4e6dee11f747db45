package kube_test

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"

	"github.com/weftmesh/weft/controlplane/kube"
	"github.com/weftmesh/weft/controlplane/model"
	"github.com/weftmesh/weft/gateway"
)

// httpsGateway is a Gateway of class in namespace ns with an HTTP
// listener and an HTTPS one serving the Secrets refs.
func httpsGateway(ns, name, class string, refs ...gwv1.SecretObjectReference) gwv1.Gateway {
	return gwv1.Gateway{
		ObjectMeta: meta(ns, name),
		Spec: gwv1.GatewaySpec{GatewayClassName: gwv1.ObjectName(class), Listeners: []gwv1.Listener{
			{Name: "http", Protocol: gwv1.HTTPProtocolType, Port: 80},
			{Name: "https", Protocol: gwv1.HTTPSProtocolType, Port: 443, Hostname: ptr(gwv1.Hostname("shop.example.com")),
				TLS: &gwv1.ListenerTLSConfig{Mode: ptr(gwv1.TLSModeTerminate), CertificateRefs: refs}},
		}},
	}
}

func secretRef(ns, name string) gwv1.SecretObjectReference {
	ref := gwv1.SecretObjectReference{Name: gwv1.ObjectName(name)}
	if ns != "" {
		ref.Namespace = ptr(gwv1.Namespace(ns))
	}
	return ref
}

func tlsSecret(ns, name, cert string) corev1.Secret {
	return corev1.Secret{ObjectMeta: meta(ns, name), Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{corev1.TLSCertKey: []byte(cert), corev1.TLSPrivateKeyKey: []byte("key of " + cert)}}
}

// gatewayPod is a running gateway Pod of Gateway gw: only a weft-proxy
// container, labelled with the Gateway's name.
func gatewayPod(ns, name, gw, ip string) corev1.Pod {
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{gateway.NameLabel: gw}},
		Spec:       corev1.PodSpec{ServiceAccountName: gw + "-weft", Containers: []corev1.Container{{Name: kube.ProxyContainer}}},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip},
	}
}

// TestBuildIngress checks what of the gateway's objects goes into the
// model: only Gateways of a class of Weft's controller, without status;
// only TLS Secrets such Gateways name (another namespace's too: refusing
// it is package gateway's job); routes with Gateway parents; gateway Pods
// as workloads of their Gateway.
func TestBuildIngress(t *testing.T) {
	ours := gwv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "weft"}, Spec: gwv1.GatewayClassSpec{ControllerName: gateway.ControllerName}}
	theirs := gwv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "other"}, Spec: gwv1.GatewayClassSpec{ControllerName: "example.com/gateway"}}
	public := httpsGateway("shop", "public", "weft", secretRef("", "shop-cert"), secretRef("certs", "wildcard"),
		secretRef("", "opaque"), gwv1.SecretObjectReference{Kind: ptr(gwv1.Kind("ConfigMap")), Name: "not-a-secret"})
	public.Generation = 2
	public.ResourceVersion = "7"
	public.Status.Addresses = []gwv1.GatewayStatusAddress{{Value: "192.0.2.240"}}
	foreign := httpsGateway("shop", "foreign", "other", secretRef("", "foreign-cert"))
	unclassed := httpsGateway("shop", "unclassed", "missing", secretRef("", "foreign-cert"))
	gone := httpsGateway("gone", "public", "weft", secretRef("", "gone-cert"))
	opaque := tlsSecret("shop", "opaque", "opaque")
	opaque.Type = corev1.SecretTypeOpaque
	route := gwv1.HTTPRoute{ObjectMeta: meta("shop", "storefront"), Spec: gwv1.HTTPRouteSpec{
		CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "public"}}},
	}}
	grant := gwv1beta1.ReferenceGrant{ObjectMeta: meta("certs", "shop-gateways")}
	tlsRoute := gwv1.TLSRoute{ObjectMeta: meta("shop", "db")}
	tcpRoute := gwv1.TCPRoute{ObjectMeta: meta("shop", "raw")}
	tcpGone := gwv1.TCPRoute{ObjectMeta: meta("gone", "raw")}

	m, problems := kube.Build(td, &kube.Objects{
		Namespaces:      []corev1.Namespace{ns("shop"), ns("certs")},
		GatewayClasses:  []gwv1.GatewayClass{theirs, ours},
		Gateways:        []gwv1.Gateway{foreign, gone, public, unclassed},
		HTTPRoutes:      []gwv1.HTTPRoute{route},
		TLSRoutes:       []gwv1.TLSRoute{tlsRoute},
		TCPRoutes:       []gwv1.TCPRoute{tcpGone, tcpRoute},
		ReferenceGrants: []gwv1beta1.ReferenceGrant{grant},
		Secrets: []corev1.Secret{tlsSecret("shop", "unused", "unused"), tlsSecret("certs", "wildcard", "wildcard"), opaque,
			tlsSecret("shop", "foreign-cert", "foreign"), tlsSecret("shop", "shop-cert", "shop"), tlsSecret("gone", "gone-cert", "gone")},
		Pods: []corev1.Pod{gatewayPod("shop", "public-weft-1", "public", "192.0.2.30"), meshPod("shop", "web-1", "192.0.2.31", 8080)},
	})
	if len(problems) > 0 {
		t.Errorf("problems %v, want none", problems)
	}
	in := m.Ingress
	if len(in.Gateways) != 1 || in.Gateways[0].Name != "public" || in.Gateways[0].Namespace != "shop" {
		t.Fatalf("gateways %+v, want only shop/public (class weft, live namespace)", in.Gateways)
	}
	if g := in.Gateways[0]; g.Generation != 2 || g.ResourceVersion != "" || g.Status.Addresses != nil || len(g.Spec.Listeners) != 2 {
		t.Errorf("gateway kept as %+v; want spec and generation, without status and resource version", g)
	}
	if public.Status.Addresses == nil || public.ResourceVersion != "7" {
		t.Error("Build modified its input")
	}
	var secrets []string
	for _, s := range in.Secrets {
		secrets = append(secrets, s.Ref().String()+"="+string(s.Cert)+"/"+string(s.PrivateKey))
	}
	want := []string{"certs/wildcard=wildcard/key of wildcard", "shop/shop-cert=shop/key of shop"}
	if !reflect.DeepEqual(secrets, want) {
		t.Errorf("secrets %q, want %q (only TLS Secrets public names, whatever their namespace)", secrets, want)
	}
	if len(in.TLSRoutes) != 1 || len(in.TCPRoutes) != 1 || in.TCPRoutes[0].Namespace != "shop" || len(in.ReferenceGrants) != 1 {
		t.Errorf("routes and grants of live namespaces: TLS %d, TCP %+v, grants %d; want 1, shop/raw, 1", len(in.TLSRoutes), in.TCPRoutes, len(in.ReferenceGrants))
	}
	if len(m.Policies.HTTPRoutes) != 1 {
		t.Errorf("the HTTPRoute with a Gateway parent was dropped: %+v", m.Policies.HTTPRoutes)
	}
	gw := m.Workload(model.NamespacedName{Namespace: "shop", Name: "public-weft-1"})
	if gw == nil || gw.Gateway == nil || *gw.Gateway != (model.NamespacedName{Namespace: "shop", Name: "public"}) || !gw.Pod {
		t.Errorf("gateway pod as workload %+v, want Gateway shop/public and Pod", gw)
	}
	if web := m.Workload(model.NamespacedName{Namespace: "shop", Name: "web-1"}); web == nil || web.Gateway != nil {
		t.Errorf("sidecar pod as workload %+v, want no Gateway", web)
	}
}

// TestGatewayLabelWithoutProxy checks that the gateway label alone does
// not make a gateway: a Pod without the weft-proxy container is no
// workload at all.
func TestGatewayLabelWithoutProxy(t *testing.T) {
	pod := gatewayPod("shop", "impostor", "public", "192.0.2.32")
	pod.Spec.Containers[0].Name = "nginx"
	m, _ := kube.Build(td, &kube.Objects{Namespaces: []corev1.Namespace{ns("shop")}, Pods: []corev1.Pod{pod}})
	if len(m.Workloads) != 0 {
		t.Errorf("workloads %+v, want none", m.Workloads)
	}
}

// selectorGateway is a Gateway of class weft in namespace ns whose HTTP
// listener takes routes of the namespaces labelled team=pay.
func selectorGateway(ns string) gwv1.Gateway {
	from := gwv1.NamespacesFromSelector
	return gwv1.Gateway{ObjectMeta: meta(ns, "public"), Spec: gwv1.GatewaySpec{GatewayClassName: "weft", Listeners: []gwv1.Listener{{
		Name: "http", Protocol: gwv1.HTTPProtocolType, Port: 80,
		AllowedRoutes: &gwv1.AllowedRoutes{Namespaces: &gwv1.RouteNamespaces{From: &from,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "pay"}}}},
	}}}}
}

// TestBuildNamespaceLabels checks that the labels of live namespaces
// reach the model when, and only when, a listener selects routes by them.
func TestBuildNamespaceLabels(t *testing.T) {
	ours := gwv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "weft"}, Spec: gwv1.GatewayClassSpec{ControllerName: gateway.ControllerName}}
	pay := ns("pay")
	pay.Labels = map[string]string{"team": "pay"}
	dying := ns("dying")
	dying.Labels = map[string]string{"team": "pay"}
	dying.Status.Phase = corev1.NamespaceTerminating
	namespaces := []corev1.Namespace{ns("shop"), pay, dying}
	same := httpsGateway("shop", "public", "weft")

	tests := []struct {
		name    string
		gateway gwv1.Gateway
		want    map[string]map[string]string
	}{
		{name: "a listener from Selector", gateway: selectorGateway("shop"),
			want: map[string]map[string]string{"shop": nil, "pay": {"team": "pay"}}},
		{name: "no listener from Selector", gateway: same, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := kube.Build(td, &kube.Objects{Namespaces: namespaces, GatewayClasses: []gwv1.GatewayClass{ours}, Gateways: []gwv1.Gateway{tt.gateway}})
			if len(m.Ingress.Gateways) != 1 {
				t.Fatalf("gateways %+v, want the one", m.Ingress.Gateways)
			}
			if got := m.Ingress.NamespaceLabels; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("namespace labels %v, want %v (live namespaces only)", got, tt.want)
			}
		})
	}
}

// TestIndexFollowsNamespaceLabels checks that relabelling a namespace
// makes a new mesh while a Gateway selects routes by namespace labels,
// in which the route of the namespace attaches or not, and no new mesh
// otherwise.
func TestIndexFollowsNamespaceLabels(t *testing.T) {
	x := kube.NewIndex(td)
	x.Set(&gwv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "weft"}, Spec: gwv1.GatewayClassSpec{ControllerName: gateway.ControllerName}})
	x.Set(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}})
	x.Set(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "pay", Labels: map[string]string{"team": "shop"}}})
	gw := selectorGateway("shop")
	x.Set(&gw)
	x.Set(&gwv1.HTTPRoute{ObjectMeta: meta("pay", "billing"), Spec: gwv1.HTTPRouteSpec{CommonRouteSpec: gwv1.CommonRouteSpec{
		ParentRefs: []gwv1.ParentReference{{Name: "public", Namespace: ptr(gwv1.Namespace("shop"))}},
	}}})
	attached := func(m *model.Mesh) int32 {
		return gateway.Resolve(m).Gateway(model.NamespacedName{Namespace: "shop", Name: "public"}).Listeners[0].Status.AttachedRoutes
	}
	m, _, _ := x.Build()
	if n := attached(m); n != 0 {
		t.Fatalf("routes attached while pay is labelled team=shop: %d, want 0", n)
	}

	x.Set(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "pay", Labels: map[string]string{"team": "pay"}}})
	m, _, changed := x.Build()
	if !changed || m.Ingress.NamespaceLabels["pay"]["team"] != "pay" {
		t.Fatalf("relabelled pay: changed=%v, labels %v; want a new mesh with team=pay", changed, m.Ingress.NamespaceLabels)
	}
	if n := attached(m); n != 1 {
		t.Errorf("routes attached once pay is labelled team=pay: %d, want 1", n)
	}

	same := httpsGateway("shop", "public", "weft")
	x.Set(&same)
	if m, _, _ := x.Build(); m.Ingress.NamespaceLabels != nil {
		t.Fatalf("namespace labels %v without a Selector listener, want none", m.Ingress.NamespaceLabels)
	}
	x.Set(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "pay", Labels: map[string]string{"team": "other"}}})
	if _, _, changed := x.Build(); changed {
		t.Error("relabelling a namespace made a new mesh though no listener selects namespaces")
	}
}
