package gateway

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"

	"github.com/weftmesh/weft/controlplane/model"
)

// selfSigned returns a PEM certificate for host and its PEM key.
func selfSigned(t *testing.T, host string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

func ptr[T any](v T) *T { return &v }

// baseMesh has Services web and api in shop, billing in pay, a Secret
// shop-cert in shop and pay-cert in pay, and the Gateway gw.
func baseMesh(t *testing.T, gw *gwv1.Gateway) *model.Mesh {
	t.Helper()
	c1, k1 := selfSigned(t, "shop.example.com")
	c2, k2 := selfSigned(t, "pay.example.com")
	_, other := selfSigned(t, "other.example.com")
	m := &model.Mesh{
		TrustDomain: spiffeid.RequireTrustDomainFromString("cluster.local"),
		Services: []model.Service{
			{Name: "web", Namespace: "shop", Ports: []model.ServicePort{{Name: "http", Port: 8080}}},
			{Name: "api", Namespace: "shop", Ports: []model.ServicePort{{Name: "http", Port: 8080}}},
			{Name: "billing", Namespace: "pay", Ports: []model.ServicePort{{Name: "http", Port: 9000}}},
		},
		Ingress: model.Ingress{
			Secrets: []model.TLSSecret{
				{Namespace: "shop", Name: "shop-cert", Cert: c1, PrivateKey: k1},
				{Namespace: "pay", Name: "pay-cert", Cert: c2, PrivateKey: k2},
				{Namespace: "shop", Name: "bad-pem", Cert: []byte("not a certificate"), PrivateKey: k1},
				{Namespace: "shop", Name: "mismatch", Cert: c1, PrivateKey: other},
			},
		},
	}
	if gw != nil {
		m.Ingress.Gateways = []gwv1.Gateway{*gw}
	}
	m.Sort()
	return m
}

func gateway(listeners ...gwv1.Listener) *gwv1.Gateway {
	return &gwv1.Gateway{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "public", Generation: 3},
		Spec:       gwv1.GatewaySpec{GatewayClassName: ClassName, Listeners: listeners},
	}
}

func httpListener(name string, port int32, host string) gwv1.Listener {
	l := gwv1.Listener{Name: gwv1.SectionName(name), Protocol: gwv1.HTTPProtocolType, Port: port}
	if host != "" {
		l.Hostname = ptr(gwv1.Hostname(host))
	}
	return l
}

func httpsListener(name string, port int32, host string, refs ...gwv1.SecretObjectReference) gwv1.Listener {
	l := httpListener(name, port, host)
	l.Protocol = gwv1.HTTPSProtocolType
	l.TLS = &gwv1.ListenerTLSConfig{CertificateRefs: refs}
	return l
}

func secretRef(ns, name string) gwv1.SecretObjectReference {
	r := gwv1.SecretObjectReference{Name: gwv1.ObjectName(name)}
	if ns != "" {
		r.Namespace = ptr(gwv1.Namespace(ns))
	}
	return r
}

func condOf(cs []metav1.Condition, typ string) *metav1.Condition { return findCondition(cs, typ) }

// wantCond fails unless cs has typ with status and reason, and, when
// msg is not empty, a message holding it.
func wantCond(t *testing.T, what string, cs []metav1.Condition, typ string, status metav1.ConditionStatus, reason, msg string) {
	t.Helper()
	c := condOf(cs, typ)
	if c == nil {
		t.Fatalf("%s: no %s condition in %+v", what, typ, cs)
	}
	if c.Status != status || c.Reason != reason {
		t.Errorf("%s: %s=%s %s (%s), want %s %s", what, typ, c.Status, c.Reason, c.Message, status, reason)
	}
	if msg != "" && !strings.Contains(c.Message, msg) {
		t.Errorf("%s: %s message %q lacks %q", what, typ, c.Message, msg)
	}
	if !c.LastTransitionTime.IsZero() {
		t.Errorf("%s: %s has a LastTransitionTime; the status writer sets it", what, typ)
	}
}

func TestResolveListeners(t *testing.T) {
	grantSecrets := gwv1beta1.ReferenceGrant{
		ObjectMeta: metav1.ObjectMeta{Namespace: "pay", Name: "gateways-of-shop"},
		Spec: gwv1.ReferenceGrantSpec{
			From: []gwv1.ReferenceGrantFrom{{Group: gwv1.GroupName, Kind: "Gateway", Namespace: "shop"}},
			To:   []gwv1.ReferenceGrantTo{{Group: "", Kind: "Secret"}},
		},
	}
	udp := httpListener("dns", 53, "")
	udp.Protocol = gwv1.UDPProtocolType
	httpsNoTLS := httpListener("https", 443, "")
	httpsNoTLS.Protocol = gwv1.HTTPSProtocolType
	wrongKinds := httpListener("http", 80, "")
	wrongKinds.AllowedRoutes = &gwv1.AllowedRoutes{Kinds: []gwv1.RouteGroupKind{{Kind: "TCPRoute"}, {Kind: "HTTPRoute"}}}
	onlyWrongKinds := httpListener("http", 80, "")
	onlyWrongKinds.AllowedRoutes = &gwv1.AllowedRoutes{Kinds: []gwv1.RouteGroupKind{{Kind: "TLSRoute"}}}
	configMapRef := secretRef("", "shop-cert")
	configMapRef.Kind = ptr(gwv1.Kind("ConfigMap"))

	type want struct {
		listener int
		typ      string
		status   metav1.ConditionStatus
		reason   string
		msg      string
	}
	tests := []struct {
		name       string
		gw         *gwv1.Gateway
		grants     []gwv1beta1.ReferenceGrant
		want       []want
		certs      map[int][]string // listener: the Secrets it serves
		programmed metav1.ConditionStatus
		accepted   [2]string // status, reason of the Gateway's Accepted
	}{
		{
			name: "http and https with a certificate of the Gateway's namespace",
			gw:   gateway(httpListener("http", 80, ""), httpsListener("https", 443, "shop.example.com", secretRef("", "shop-cert"))),
			want: []want{
				{0, "Accepted", "True", "Accepted", ""}, {0, "Programmed", "True", "Programmed", ""}, {0, "Conflicted", "False", "NoConflicts", ""},
				{1, "ResolvedRefs", "True", "ResolvedRefs", ""}, {1, "Programmed", "True", "Programmed", ""},
			},
			certs:      map[int][]string{1: {"shop/shop-cert"}},
			programmed: "True", accepted: [2]string{"True", "Accepted"},
		},
		{
			name: "UDP is not supported",
			gw:   gateway(udp, httpListener("http", 80, "")),
			want: []want{
				{0, "Accepted", "False", "UnsupportedProtocol", "protocol UDP is not supported"},
				{0, "Programmed", "False", "Invalid", "not accepted"},
				{1, "Programmed", "True", "Programmed", ""},
			},
			programmed: "True", accepted: [2]string{"True", "ListenersNotValid"},
		},
		{
			name: "the proxy's status port is unavailable",
			gw:   gateway(httpListener("http", 15020, "")),
			want: []want{{0, "Accepted", "False", "PortUnavailable", "port 15020 is the proxy's status port"}},
			// No listener is left.
			programmed: "False", accepted: [2]string{"False", "ListenersNotValid"},
		},
		{
			name:       "HTTPS without tls",
			gw:         gateway(httpsNoTLS),
			want:       []want{{0, "Accepted", "False", "UnsupportedValue", "needs tls"}},
			programmed: "False", accepted: [2]string{"False", "ListenersNotValid"},
		},
		{
			name: "two HTTP listeners with one hostname on one port",
			gw:   gateway(httpListener("a", 80, "shop.example.com"), httpListener("b", 80, "shop.example.com"), httpListener("c", 80, "")),
			want: []want{
				{0, "Conflicted", "False", "NoConflicts", ""},
				{1, "Conflicted", "True", "HostnameConflict", "listener a already has port 80 and hostname shop.example.com"},
				{1, "Programmed", "False", "Invalid", "conflicted"},
				{2, "Conflicted", "False", "NoConflicts", ""},
			},
			programmed: "True", accepted: [2]string{"True", "ListenersNotValid"},
		},
		{
			name: "HTTP and HTTPS on one port",
			gw:   gateway(httpListener("http", 8000, ""), httpsListener("https", 8000, "", secretRef("", "shop-cert"))),
			want: []want{
				{0, "Conflicted", "False", "NoConflicts", ""},
				{1, "Conflicted", "True", "ProtocolConflict", "port 8000 is taken by listener http (HTTP)"},
			},
			programmed: "True", accepted: [2]string{"True", "ListenersNotValid"},
		},
		{
			name: "two TCP listeners on one port",
			gw: gateway(gwv1.Listener{Name: "a", Protocol: gwv1.TCPProtocolType, Port: 5432},
				gwv1.Listener{Name: "b", Protocol: gwv1.TCPProtocolType, Port: 5432}),
			want:       []want{{1, "Conflicted", "True", "ProtocolConflict", "TCP listeners cannot share a port"}},
			programmed: "True", accepted: [2]string{"True", "ListenersNotValid"},
		},
		{
			name: "HTTPS and TLS passthrough share a port by SNI",
			gw: gateway(httpsListener("https", 443, "shop.example.com", secretRef("", "shop-cert")),
				gwv1.Listener{Name: "tls", Protocol: gwv1.TLSProtocolType, Port: 443, Hostname: ptr(gwv1.Hostname("db.example.com")),
					TLS: &gwv1.ListenerTLSConfig{Mode: ptr(gwv1.TLSModePassthrough)}}),
			want:       []want{{1, "Conflicted", "False", "NoConflicts", ""}, {1, "Programmed", "True", "Programmed", ""}},
			programmed: "True", accepted: [2]string{"True", "Accepted"},
		},
		{
			name: "a Secret of another namespace without a ReferenceGrant",
			gw:   gateway(httpsListener("https", 443, "", secretRef("pay", "pay-cert"))),
			want: []want{
				{0, "Accepted", "True", "Accepted", ""},
				{0, "ResolvedRefs", "False", "RefNotPermitted", "certificateRefs[0] pay/pay-cert: no ReferenceGrant in namespace pay"},
				{0, "Programmed", "False", "Invalid", "no certificate"},
			},
			certs:      map[int][]string{0: nil},
			programmed: "False", accepted: [2]string{"True", "Accepted"},
		},
		{
			name:       "a Secret of another namespace with a ReferenceGrant",
			gw:         gateway(httpsListener("https", 443, "", secretRef("pay", "pay-cert"))),
			grants:     []gwv1beta1.ReferenceGrant{grantSecrets},
			want:       []want{{0, "ResolvedRefs", "True", "ResolvedRefs", ""}, {0, "Programmed", "True", "Programmed", ""}},
			certs:      map[int][]string{0: {"pay/pay-cert"}},
			programmed: "True", accepted: [2]string{"True", "Accepted"},
		},
		{
			name: "RefNotPermitted wins over an invalid reference, and a good certificate is still served",
			gw:   gateway(httpsListener("https", 443, "", secretRef("", "missing"), secretRef("pay", "pay-cert"), secretRef("", "shop-cert"))),
			want: []want{
				{0, "ResolvedRefs", "False", "RefNotPermitted", "certificateRefs[0] shop/missing: no such kubernetes.io/tls Secret"},
				{0, "Programmed", "True", "Programmed", ""},
			},
			certs:      map[int][]string{0: {"shop/shop-cert"}},
			programmed: "True", accepted: [2]string{"True", "Accepted"},
		},
		{
			name:       "a missing Secret",
			gw:         gateway(httpsListener("https", 443, "", secretRef("", "missing"))),
			want:       []want{{0, "ResolvedRefs", "False", "InvalidCertificateRef", "no such kubernetes.io/tls Secret"}, {0, "Programmed", "False", "Invalid", ""}},
			programmed: "False", accepted: [2]string{"True", "Accepted"},
		},
		{
			name:       "a Secret that is not PEM",
			gw:         gateway(httpsListener("https", 443, "", secretRef("", "bad-pem"))),
			want:       []want{{0, "ResolvedRefs", "False", "InvalidCertificateRef", "shop/bad-pem: tls.crt and tls.key are not a valid certificate and key"}},
			programmed: "False", accepted: [2]string{"True", "Accepted"},
		},
		{
			name:       "a key that does not match the certificate",
			gw:         gateway(httpsListener("https", 443, "", secretRef("", "mismatch"))),
			want:       []want{{0, "ResolvedRefs", "False", "InvalidCertificateRef", "shop/mismatch: tls.crt and tls.key are not a valid certificate and key"}},
			programmed: "False", accepted: [2]string{"True", "Accepted"},
		},
		{
			name:       "a certificateRef to a ConfigMap",
			gw:         gateway(httpsListener("https", 443, "", configMapRef)),
			want:       []want{{0, "ResolvedRefs", "False", "InvalidCertificateRef", "kind ConfigMap in group \"\" is not a Secret"}},
			programmed: "False", accepted: [2]string{"True", "Accepted"},
		},
		{
			name:       "no certificateRefs",
			gw:         gateway(httpsListener("https", 443, "")),
			want:       []want{{0, "ResolvedRefs", "False", "InvalidCertificateRef", "no certificateRefs"}},
			programmed: "False", accepted: [2]string{"True", "Accepted"},
		},
		{
			name:       "allowedRoutes kinds the protocol does not take",
			gw:         gateway(wrongKinds),
			want:       []want{{0, "ResolvedRefs", "False", "InvalidRouteKinds", "gateway.networking.k8s.io/TCPRoute: a listener of protocol HTTP takes HTTPRoute"}, {0, "Programmed", "True", "Programmed", ""}},
			programmed: "True", accepted: [2]string{"True", "Accepted"},
		},
		{
			name:       "no allowedRoutes kind the protocol takes",
			gw:         gateway(onlyWrongKinds),
			want:       []want{{0, "ResolvedRefs", "False", "InvalidRouteKinds", ""}, {0, "Programmed", "False", "Invalid", "takes no route kind"}},
			programmed: "False", accepted: [2]string{"True", "Accepted"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := baseMesh(t, tt.gw)
			m.Ingress.ReferenceGrants = tt.grants
			r := Resolve(m)
			g := r.Gateway(model.NamespacedName{Namespace: "shop", Name: "public"})
			if g == nil {
				t.Fatal("the Gateway is not in the resolution")
			}
			if len(g.Listeners) != len(tt.gw.Spec.Listeners) {
				t.Fatalf("%d listeners resolved, want %d", len(g.Listeners), len(tt.gw.Spec.Listeners))
			}
			for _, w := range tt.want {
				l := &g.Listeners[w.listener]
				wantCond(t, "listener "+string(l.Spec.Name), l.Status.Conditions, w.typ, w.status, w.reason, w.msg)
				for _, c := range l.Status.Conditions {
					if c.ObservedGeneration != 3 {
						t.Errorf("listener %s: %s has observedGeneration %d, want 3", l.Spec.Name, c.Type, c.ObservedGeneration)
					}
				}
			}
			for i, want := range tt.certs {
				var got []string
				for _, s := range g.Listeners[i].Certificates {
					got = append(got, s.Ref().String())
				}
				if strings.Join(got, ",") != strings.Join(want, ",") {
					t.Errorf("listener %d serves %v, want %v", i, got, want)
				}
			}
			wantCond(t, "gateway", g.Conditions, "Programmed", tt.programmed, map[metav1.ConditionStatus]string{"True": "Programmed", "False": "Invalid"}[tt.programmed], "")
			wantCond(t, "gateway", g.Conditions, "Accepted", metav1.ConditionStatus(tt.accepted[0]), tt.accepted[1], "")
		})
	}
}

func TestSupportedKindsByProtocol(t *testing.T) {
	tests := []struct {
		listener gwv1.Listener
		want     string
	}{
		{httpListener("http", 80, ""), "HTTPRoute and GRPCRoute"},
		{httpsListener("https", 443, "", secretRef("", "shop-cert")), "HTTPRoute and GRPCRoute"},
		{gwv1.Listener{Name: "pass", Protocol: gwv1.TLSProtocolType, Port: 443, TLS: &gwv1.ListenerTLSConfig{Mode: ptr(gwv1.TLSModePassthrough)}}, "TLSRoute"},
		{gwv1.Listener{Name: "term", Protocol: gwv1.TLSProtocolType, Port: 443, TLS: &gwv1.ListenerTLSConfig{CertificateRefs: []gwv1.SecretObjectReference{secretRef("", "shop-cert")}}}, "TCPRoute"},
		{gwv1.Listener{Name: "tcp", Protocol: gwv1.TCPProtocolType, Port: 5432}, "TCPRoute"},
	}
	for _, tt := range tests {
		t.Run(string(tt.listener.Name), func(t *testing.T) {
			g := Resolve(baseMesh(t, gateway(tt.listener))).Gateways[0]
			kinds := g.Listeners[0].Status.SupportedKinds
			if got := kindNames(kinds); got != tt.want {
				t.Errorf("supported kinds %s, want %s", got, tt.want)
			}
			for _, k := range kinds {
				if k.Group == nil || *k.Group != gwv1.GroupName {
					t.Errorf("kind %s without group %s", k.Kind, gwv1.GroupName)
				}
			}
			if !g.Listeners[0].Programmed() {
				t.Errorf("listener not programmed: %+v", g.Listeners[0].Status.Conditions)
			}
		})
	}
}

func TestHostnames(t *testing.T) {
	tests := []struct {
		name     string
		listener string
		route    []gwv1.Hostname
		want     string
		ok       bool
	}{
		{"neither names one", "", nil, "", true},
		{"listener only", "shop.example.com", nil, "shop.example.com", true},
		{"route only", "", []gwv1.Hostname{"a.example.com", "b.example.com"}, "a.example.com,b.example.com", true},
		{"equal", "shop.example.com", []gwv1.Hostname{"shop.example.com"}, "shop.example.com", true},
		{"case does not matter", "Shop.Example.com", []gwv1.Hostname{"shop.EXAMPLE.com"}, "shop.example.com", true},
		{"listener wildcard keeps the route's names", "*.example.com", []gwv1.Hostname{"a.example.com", "a.b.example.com", "example.com", "a.other.com"}, "a.example.com,a.b.example.com", true},
		{"route wildcard gives the listener's name", "shop.example.com", []gwv1.Hostname{"*.example.com"}, "shop.example.com", true},
		{"two wildcards: the narrower", "*.example.com", []gwv1.Hostname{"*.shop.example.com"}, "*.shop.example.com", true},
		{"nothing shared", "shop.example.com", []gwv1.Hostname{"pay.example.com"}, "", false},
		{"a wildcard does not cover its own suffix", "*.example.com", []gwv1.Hostname{"example.com"}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var l *gwv1.Hostname
			if tt.listener != "" {
				l = ptr(gwv1.Hostname(tt.listener))
			}
			got, ok := Hostnames(l, tt.route)
			if strings.Join(got, ",") != tt.want || ok != tt.ok {
				t.Errorf("Hostnames(%q, %v) = %v, %v; want %q, %v", tt.listener, tt.route, got, ok, tt.want, tt.ok)
			}
		})
	}
}
