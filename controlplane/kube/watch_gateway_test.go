package kube_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"

	"github.com/weftmesh/weft/controlplane/model"
	"github.com/weftmesh/weft/gateway"
)

// selfSigned returns a PEM certificate for host and its PEM key.
func selfSigned(t *testing.T, host string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
}

func servingSecret(t *testing.T, ns, name, host string) *corev1.Secret {
	cert, key := selfSigned(t, host)
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{corev1.TLSCertKey: cert, corev1.TLSPrivateKeyKey: key, "ca.crt": []byte("not kept")}}
}

// listenerOf returns the resolution of listener name of Gateway key.
func listenerOf(t *testing.T, res *gateway.Resolution, key model.NamespacedName, name string) *gateway.Listener {
	t.Helper()
	g := res.Gateway(key)
	if g == nil {
		t.Fatalf("Resolve left Gateway %s out", key)
	}
	for i := range g.Listeners {
		if string(g.Listeners[i].Spec.Name) == name {
			return &g.Listeners[i]
		}
	}
	t.Fatalf("Resolve left listener %s of %s out", name, key)
	return nil
}

func certNames(l *gateway.Listener) []string {
	var out []string
	for _, s := range l.Certificates {
		out = append(out, s.Ref().String())
	}
	return out
}

// TestWatcherFollowsGateways checks the ingress gateway's objects in the
// model built from a real API server: a Gateway of class weft (and not
// one of another class), its HTTPRoute, its gateway Pod, the TLS Secrets
// it names, including one of another namespace, which package gateway
// then refuses until a ReferenceGrant allows it; a Secret's new
// certificate reaches the model.
func TestWatcherFollowsGateways(t *testing.T) {
	env := sharedEnv(t)
	c := newClient(t, env.Config)
	const ns, certs = "edge", "edge-certs"
	create(t, c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: certs}})
	class := &gwv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: gateway.ClassName}, Spec: gwv1.GatewayClassSpec{ControllerName: gateway.ControllerName}}
	if err := c.Create(t.Context(), class); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	w := startWatcher(t, env.Config)

	key := model.NamespacedName{Namespace: ns, Name: "public"}
	gw := &gwv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "public"}, Spec: gwv1.GatewaySpec{
		GatewayClassName: gateway.ClassName,
		Listeners: []gwv1.Listener{
			{Name: "shop", Protocol: gwv1.HTTPSProtocolType, Port: 443, Hostname: ptr(gwv1.Hostname("shop.example.com")),
				TLS: &gwv1.ListenerTLSConfig{CertificateRefs: []gwv1.SecretObjectReference{{Name: "shop"}}}},
			{Name: "wild", Protocol: gwv1.HTTPSProtocolType, Port: 443, Hostname: ptr(gwv1.Hostname("*.example.net")),
				TLS: &gwv1.ListenerTLSConfig{CertificateRefs: []gwv1.SecretObjectReference{{Name: "wildcard", Namespace: ptr(gwv1.Namespace(certs))}}}},
		},
	}}
	shopSecret := servingSecret(t, ns, "shop", "shop.example.com")
	create(t, c, gw,
		&gwv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "theirs"}, Spec: gwv1.GatewaySpec{
			GatewayClassName: "someone-else", Listeners: []gwv1.Listener{{Name: "http", Protocol: gwv1.HTTPProtocolType, Port: 80}},
		}},
		shopSecret,
		servingSecret(t, certs, "wildcard", "*.example.net"),
		servingSecret(t, ns, "unreferenced", "other.example.com"),
		&gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "storefront"}, Spec: gwv1.HTTPRouteSpec{
			CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "public"}}},
			Hostnames:       []gwv1.Hostname{"shop.example.com"},
		}},
	)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "public-weft-1", Labels: map[string]string{gateway.NameLabel: "public"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "weft-proxy", Image: "example.com/weft-proxy"}}},
	}
	create(t, c, pod)
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "192.0.2.50"}
	if err := c.Status().Update(t.Context(), pod); err != nil {
		t.Fatal(err)
	}

	m := w.waitMesh(t, "the gateway, its route, pod and secrets", func(m *model.Mesh) bool {
		wl := m.Workload(model.NamespacedName{Namespace: ns, Name: "public-weft-1"})
		return m.Ingress.Gateway(key) != nil && len(inNamespace(m.Policies.HTTPRoutes, ns)) == 1 && wl != nil && len(m.Ingress.Secrets) == 2
	})
	if got := inNamespace(m.Ingress.Gateways, ns); len(got) != 1 {
		t.Errorf("gateways of %s: %d, want only public (theirs is another controller's)", ns, len(got))
	}
	if wl := m.Workload(model.NamespacedName{Namespace: ns, Name: "public-weft-1"}); wl.Gateway == nil || *wl.Gateway != key {
		t.Errorf("gateway pod's workload serves %v, want %s", wl.Gateway, key)
	}
	if s := m.Ingress.Secret(model.NamespacedName{Namespace: ns, Name: "shop"}); s == nil || !slices.Equal(s.Cert, shopSecret.Data[corev1.TLSCertKey]) ||
		!slices.Equal(s.PrivateKey, shopSecret.Data[corev1.TLSPrivateKeyKey]) {
		t.Errorf("secret edge/shop in the model: %+v, want its certificate and key", s)
	}
	if m.Ingress.Secret(model.NamespacedName{Namespace: certs, Name: "wildcard"}) == nil {
		t.Error("the other namespace's Secret is not in the model: package gateway cannot say why it refuses it")
	}

	// Package gateway refuses the other namespace's Secret without a grant.
	res := gateway.Resolve(m)
	if got := certNames(listenerOf(t, res, key, "shop")); !slices.Equal(got, []string{ns + "/shop"}) {
		t.Errorf("listener shop serves %q, want its own namespace's Secret", got)
	}
	wild := listenerOf(t, res, key, "wild")
	if got := certNames(wild); len(got) != 0 {
		t.Errorf("listener wild serves %q without a ReferenceGrant, want nothing", got)
	}
	if c := apimeta.FindStatusCondition(wild.Status.Conditions, string(gwv1.ListenerConditionResolvedRefs)); c == nil ||
		c.Status != metav1.ConditionFalse || c.Reason != string(gwv1.ListenerReasonRefNotPermitted) {
		t.Errorf("listener wild ResolvedRefs = %+v, want False RefNotPermitted", c)
	}

	// A grant in the Secret's namespace allows it.
	create(t, c, &gwv1beta1.ReferenceGrant{ObjectMeta: metav1.ObjectMeta{Namespace: certs, Name: "edge-gateways"}, Spec: gwv1beta1.ReferenceGrantSpec{
		From: []gwv1beta1.ReferenceGrantFrom{{Group: gwv1.GroupName, Kind: "Gateway", Namespace: ns}},
		To:   []gwv1beta1.ReferenceGrantTo{{Group: "", Kind: "Secret"}},
	}})
	m = w.waitMesh(t, "the grant", func(m *model.Mesh) bool { return len(inNamespace(m.Ingress.ReferenceGrants, certs)) == 1 })
	if got := certNames(listenerOf(t, gateway.Resolve(m), key, "wild")); !slices.Equal(got, []string{certs + "/wildcard"}) {
		t.Errorf("listener wild serves %q with a ReferenceGrant, want %s/wildcard", got, certs)
	}

	// A rotated certificate reaches the model.
	rotated := servingSecret(t, ns, "shop", "shop.example.com")
	shopSecret.Data = rotated.Data
	if err := c.Update(t.Context(), shopSecret); err != nil {
		t.Fatal(err)
	}
	w.waitMesh(t, "the rotated certificate", func(m *model.Mesh) bool {
		s := m.Ingress.Secret(model.NamespacedName{Namespace: ns, Name: "shop"})
		return s != nil && slices.Equal(s.Cert, rotated.Data[corev1.TLSCertKey])
	})

	// A status write on the Gateway is no new mesh; deleting it removes it
	// and its Secrets from the model.
	_, before := w.latest()
	if err := c.Get(t.Context(), client.ObjectKeyFromObject(gw), gw); err != nil {
		t.Fatal(err)
	}
	gw.Status.Addresses = []gwv1.GatewayStatusAddress{{Type: ptr(gwv1.IPAddressType), Value: "192.0.2.240"}}
	if err := c.Status().Update(t.Context(), gw); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // past the Watcher's quiet period: the write alone would build
	if err := c.Delete(t.Context(), gw); err != nil {
		t.Fatal(err)
	}
	w.waitMesh(t, "no gateway", func(m *model.Mesh) bool { return m.Ingress.Gateway(key) == nil && len(m.Ingress.Secrets) == 0 })
	if _, after := w.latest(); after != before+1 {
		t.Errorf("%d meshes delivered for a status write and a deletion, want 1", after-before)
	}
}

// TestWatcherFollowsNamespaceLabels checks, against a real API server,
// that the labels of namespaces (the API server's own
// kubernetes.io/metadata.name too) reach the model while a Gateway selects
// routes by them, and that relabelling a namespace attaches its route.
func TestWatcherFollowsNamespaceLabels(t *testing.T) {
	env := sharedEnv(t)
	c := newClient(t, env.Config)
	const ns, routes = "selecting", "selected"
	routesNS := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: routes}}
	create(t, c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, routesNS)
	class := &gwv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: gateway.ClassName}, Spec: gwv1.GatewayClassSpec{ControllerName: gateway.ControllerName}}
	if err := c.Create(t.Context(), class); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	w := startWatcher(t, env.Config)

	key := model.NamespacedName{Namespace: ns, Name: "public"}
	create(t, c,
		&gwv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "public"}, Spec: gwv1.GatewaySpec{
			GatewayClassName: gateway.ClassName,
			Listeners: []gwv1.Listener{{Name: "http", Protocol: gwv1.HTTPProtocolType, Port: 80, AllowedRoutes: &gwv1.AllowedRoutes{
				Namespaces: &gwv1.RouteNamespaces{From: ptr(gwv1.NamespacesFromSelector),
					Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "pay"}}},
			}}},
		}},
		&gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: routes, Name: "billing"}, Spec: gwv1.HTTPRouteSpec{
			CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "public", Namespace: ptr(gwv1.Namespace(ns))}}},
		}},
	)
	m := w.waitMesh(t, "the gateway, its route and the namespaces' labels", func(m *model.Mesh) bool {
		return m.Ingress.Gateway(key) != nil && len(inNamespace(m.Policies.HTTPRoutes, routes)) == 1 &&
			m.Ingress.NamespaceLabels[routes]["kubernetes.io/metadata.name"] == routes
	})
	if n := listenerOf(t, gateway.Resolve(m), key, "http").Status.AttachedRoutes; n != 0 {
		t.Errorf("routes attached before %s is labelled team=pay: %d, want 0", routes, n)
	}

	if err := c.Get(t.Context(), client.ObjectKeyFromObject(routesNS), routesNS); err != nil {
		t.Fatal(err)
	}
	routesNS.Labels["team"] = "pay"
	if err := c.Update(t.Context(), routesNS); err != nil {
		t.Fatal(err)
	}
	m = w.waitMesh(t, "the new label", func(m *model.Mesh) bool { return m.Ingress.NamespaceLabels[routes]["team"] == "pay" })
	if n := listenerOf(t, gateway.Resolve(m), key, "http").Status.AttachedRoutes; n != 1 {
		t.Errorf("routes attached once %s is labelled team=pay: %d, want 1", routes, n)
	}
}
