package status

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"

	"github.com/weftmesh/weft/controlplane/model"
	"github.com/weftmesh/weft/controlplane/translate"
	"github.com/weftmesh/weft/gateway"
)

// tlsSecretFor returns a kubernetes.io/tls Secret with a self-signed
// certificate for host, and its model.
func tlsSecretFor(t *testing.T, ns, name, host string) (*corev1.Secret, model.TLSSecret) {
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
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{corev1.TLSCertKey: certPEM, corev1.TLSPrivateKeyKey: keyPEM}},
		model.TLSSecret{Namespace: ns, Name: name, Cert: certPEM, PrivateKey: keyPEM}
}

// gatewayIs checks the stored status of Gateway gw: its conditions, the
// conditions of listener (when not ""), and its addresses.
func (k *kube) gatewayIs(t *testing.T, gw *gwv1.Gateway, addresses []string, listener string, listenerWants []want, wants ...want) func() error {
	return func() error {
		fresh := &gwv1.Gateway{}
		k.get(t, k.keyed(gw, fresh))
		if err := matches(fresh.Status.Conditions, fresh.Generation, wants...); err != nil {
			return fmt.Errorf("Gateway %s: %w", gw.Name, err)
		}
		var got []string
		for _, a := range fresh.Status.Addresses {
			got = append(got, string(*a.Type)+" "+a.Value)
		}
		if !slices.Equal(got, addresses) {
			return fmt.Errorf("Gateway %s: addresses %q, want %q", gw.Name, got, addresses)
		}
		if listener == "" {
			return nil
		}
		i := slices.IndexFunc(fresh.Status.Listeners, func(l gwv1.ListenerStatus) bool { return string(l.Name) == listener })
		if i < 0 {
			return fmt.Errorf("Gateway %s: no status of listener %s in %+v", gw.Name, listener, fresh.Status.Listeners)
		}
		if err := matches(fresh.Status.Listeners[i].Conditions, fresh.Generation, listenerWants...); err != nil {
			return fmt.Errorf("Gateway %s, listener %s: %w", gw.Name, listener, err)
		}
		return nil
	}
}

// keyed sets into's namespace and name to o's and returns it.
func (k *kube) keyed(o, into *gwv1.Gateway) *gwv1.Gateway {
	into.Namespace, into.Name = o.Namespace, o.Name
	return into
}

// ingressRouteIs checks the ingress gateway's status.parents entry for the
// parentRef to Gateway parent.
func (k *kube) ingressRouteIs(t *testing.T, r *gwv1.HTTPRoute, parent string, wants ...want) func() error {
	return func() error {
		fresh := &gwv1.HTTPRoute{}
		fresh.Namespace, fresh.Name = r.Namespace, r.Name
		k.get(t, fresh)
		i := slices.IndexFunc(fresh.Status.Parents, func(p gwv1.RouteParentStatus) bool {
			return p.ControllerName == gateway.ControllerName && string(p.ParentRef.Name) == parent
		})
		if i < 0 {
			return fmt.Errorf("HTTPRoute %s: no status.parents entry of %s for %s in %+v", r.Name, gateway.ControllerName, parent, fresh.Status.Parents)
		}
		return matches(fresh.Status.Parents[i].Conditions, fresh.Generation, wants...)
	}
}

// TestGatewayStatus writes the status of a Gateway of class weft, its
// GatewayClass and an HTTPRoute attached to it, from a mesh of the real
// objects and gateway.Resolve: Programmed is False (AddressNotAssigned)
// until a load balancer gives the Gateway's Service an address, which the
// Writer notices without a new mesh; a listener's certificate of another
// namespace is refused (RefNotPermitted) until a ReferenceGrant allows it;
// nothing is written again when nothing changed.
func TestGatewayStatus(t *testing.T) {
	k := startKube(t)
	const certs = "edge-certs"
	for _, o := range []*corev1.Namespace{{ObjectMeta: metav1.ObjectMeta{Name: certs}}} {
		if err := k.c.Create(t.Context(), o); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	class := &gwv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: gateway.ClassName}, Spec: gwv1.GatewayClassSpec{ControllerName: gateway.ControllerName}}
	if err := k.c.Create(t.Context(), class); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	theirs := &gwv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "theirs"}, Spec: gwv1.GatewayClassSpec{ControllerName: "example.net/gateway-controller"}}
	backendSvc := webService()
	backendSvc.Name = "edge-web"
	secret, secretModel := tlsSecretFor(t, certs, "shop-example-com", "shop.example.com")
	gw := &gwv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: shop, Name: "edge"}, Spec: gwv1.GatewaySpec{
		GatewayClassName: gateway.ClassName,
		Listeners: []gwv1.Listener{
			{Name: "http", Protocol: gwv1.HTTPProtocolType, Port: 80},
			{Name: "https", Protocol: gwv1.HTTPSProtocolType, Port: 443, Hostname: ptr(gwv1.Hostname("shop.example.com")),
				TLS: &gwv1.ListenerTLSConfig{CertificateRefs: []gwv1.SecretObjectReference{{Name: "shop-example-com", Namespace: ptr(gwv1.Namespace(certs))}}}},
		},
	}}
	route := ptr(httpRoute("edge-storefront", []gwv1.ParentReference{{Name: "edge"}}, backend("edge-web", 80)))
	route.SetGeneration(0)
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: shop, Name: "edge-weft", Labels: map[string]string{gateway.NameLabel: "edge"}},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal,
			Selector: map[string]string{gateway.NameLabel: "edge"},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80}, {Name: "https", Port: 443}}},
	}
	k.create(t, theirs, kubeService(backendSvc), secret, gw, route, svc)
	k.get(t, class)
	k.get(t, gw)
	k.get(t, route)

	grant := &gwv1.ReferenceGrant{ObjectMeta: metav1.ObjectMeta{Namespace: certs, Name: "shop-gateways"}, Spec: gwv1.ReferenceGrantSpec{
		From: []gwv1.ReferenceGrantFrom{{Group: gwv1.GroupName, Kind: "Gateway", Namespace: shop}},
		To:   []gwv1.ReferenceGrantTo{{Group: "", Kind: "Secret"}},
	}}
	meshOf := func(grants ...gwv1beta1.ReferenceGrant) *model.Mesh {
		m := testMesh([]model.Service{backendSvc}, model.Policies{HTTPRoutes: []gwv1.HTTPRoute{*route}})
		m.Ingress = model.Ingress{Gateways: []gwv1.Gateway{*gw}, Secrets: []model.TLSSecret{secretModel}, ReferenceGrants: grants}
		m.Sort()
		return m
	}
	w, _ := k.startWriter(t, "gateways", "gateway-status")
	m := meshOf()
	w.Update(m, translate.Check(m))

	accepted := want{ConditionAccepted, "True", "Accepted"}
	resolved := want{ConditionResolvedRefs, "True", "ResolvedRefs"}
	eventually(t, "GatewayClass weft accepted", func() error {
		fresh := &gwv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: gateway.ClassName}}
		k.get(t, fresh)
		return matches(fresh.Status.Conditions, fresh.Generation, accepted)
	})
	eventually(t, "the Gateway waiting for an address", k.gatewayIs(t, gw, nil,
		"https", []want{{ConditionResolvedRefs, "False", string(gwv1.ListenerReasonRefNotPermitted)}},
		accepted, want{ConditionProgrammed, "False", ReasonAddressNotAssigned}))
	eventually(t, "the route attached to the Gateway", k.ingressRouteIs(t, route, "edge", accepted, resolved))
	k.get(t, theirs)
	if len(theirs.Status.Conditions) != 1 || theirs.Status.Conditions[0].Reason != "Pending" {
		t.Errorf("another controller's GatewayClass got status %+v, want the API server's default (Pending)", theirs.Status.Conditions)
	}

	// A load balancer assigns the Service its address: no new mesh.
	k.get(t, svc)
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "192.0.2.240"}}
	if err := k.c.Status().Update(t.Context(), svc); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the Gateway programmed at the Service's address", k.gatewayIs(t, gw, []string{"IPAddress 192.0.2.240"}, "", nil,
		want{ConditionProgrammed, "True", string(gwv1.GatewayReasonProgrammed)}))

	// A grant in the Secret's namespace lets the listener use it.
	fresh := &gwv1.Gateway{}
	k.get(t, k.keyed(gw, fresh))
	acceptedAt := apimeta.FindStatusCondition(fresh.Status.Conditions, ConditionAccepted).LastTransitionTime
	time.Sleep(1100 * time.Millisecond) // a lastTransitionTime that moved would differ (they have seconds)
	k.create(t, grant)
	m = meshOf(gwv1beta1.ReferenceGrant(*grant))
	w.Update(m, translate.Check(m))
	eventually(t, "the listener's certificate allowed", k.gatewayIs(t, gw, []string{"IPAddress 192.0.2.240"},
		"https", []want{resolved, {ConditionProgrammed, "True", "Programmed"}},
		want{ConditionAccepted, "True", "Accepted"}, want{ConditionProgrammed, "True", "Programmed"}))
	k.get(t, k.keyed(gw, fresh))
	if got := apimeta.FindStatusCondition(fresh.Status.Conditions, ConditionAccepted).LastTransitionTime; !got.Equal(&acceptedAt) {
		t.Errorf("Accepted's lastTransitionTime moved from %v to %v; it stayed True", acceptedAt, got)
	}

	// The same mesh again writes nothing.
	version := fresh.ResourceVersion
	m = meshOf(gwv1beta1.ReferenceGrant(*grant))
	w.Update(m, translate.Check(m))
	time.Sleep(time.Second)
	k.get(t, k.keyed(gw, fresh))
	if fresh.ResourceVersion != version {
		t.Errorf("Gateway edge written again (resourceVersion %s → %s) with the same status: %+v", version, fresh.ResourceVersion, fresh.Status)
	}
	// A parametersRef to a missing ConfigMap: Accepted False with the
	// deployer's reason (gateway/deploy writes the same), until it exists.
	k.get(t, gw)
	gw.Spec.Infrastructure = &gwv1.GatewayInfrastructure{ParametersRef: &gwv1.LocalParametersReference{Group: "", Kind: "ConfigMap", Name: "edge-params"}}
	if err := k.c.Update(t.Context(), gw); err != nil {
		t.Fatal(err)
	}
	m = meshOf(gwv1beta1.ReferenceGrant(*grant))
	w.Update(m, translate.Check(m))
	eventually(t, "the Gateway refused for its parameters", k.gatewayIs(t, gw, []string{"IPAddress 192.0.2.240"}, "", nil,
		want{ConditionAccepted, "False", string(gwv1.GatewayReasonInvalidParameters)}, want{ConditionProgrammed, "False", string(gwv1.GatewayReasonInvalid)}))
	k.create(t, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: shop, Name: "edge-params"}, Data: map[string]string{"replicas": "2"}})
	w.Update(m, translate.Check(m))
	eventually(t, "the Gateway accepted with its parameters", k.gatewayIs(t, gw, []string{"IPAddress 192.0.2.240"}, "", nil,
		accepted, want{ConditionProgrammed, "True", "Programmed"}))
	k.get(t, k.keyed(gw, fresh))
	if got := fresh.Status.Listeners[0]; got.Name != "http" || !slices.ContainsFunc(got.SupportedKinds, func(k gwv1.RouteGroupKind) bool { return k.Kind == "HTTPRoute" }) || got.AttachedRoutes != 1 {
		t.Errorf("listener status %+v, want http supporting HTTPRoute with 1 route attached", got)
	}
}
