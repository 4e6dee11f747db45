package configdir

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"math/big"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/weftmesh/weft/controlplane/model"
)

// testCert returns a self-signed certificate for host and its key, in PEM.
func testCert(t *testing.T, host string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: host},
		DNSNames:     []string{host},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
}

// indent indents every line of a PEM text for a YAML block scalar.
func indent(b []byte, by string) string {
	return by + strings.ReplaceAll(strings.TrimSuffix(string(b), "\n"), "\n", "\n"+by) + "\n"
}

const gatewayDir = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: public, namespace: shop}
spec:
  gatewayClassName: weft
  listeners:
  - {name: http, protocol: HTTP, port: 8080}
  - name: https
    protocol: HTTPS
    port: 8443
    hostname: shop.example.com
    tls:
      certificateRefs: [{name: shop-cert}, {name: other-cert, namespace: certs}]
  - name: passthrough
    protocol: TLS
    port: 9443
    tls: {mode: Passthrough}
  - {name: db, protocol: TCP, port: 5432}
---
apiVersion: gateway.networking.k8s.io/v1
kind: TLSRoute
metadata: {name: pass, namespace: shop}
spec:
  parentRefs: [{name: public, sectionName: passthrough}]
  hostnames: [db.example.com]
  rules: [{backendRefs: [{name: tls-backend, port: 443}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: TCPRoute
metadata: {name: db, namespace: shop}
spec:
  parentRefs: [{name: public, sectionName: db}]
  rules: [{backendRefs: [{name: db, port: 5432}]}]
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: shop-gateways, namespace: certs}
spec:
  from: [{group: gateway.networking.k8s.io, kind: Gateway, namespace: shop}]
  to: [{group: "", kind: Secret}]
---
apiVersion: mesh.weft.dev/v1alpha1
kind: Workload
metadata: {name: public-1, namespace: shop}
spec:
  serviceAccount: public-weft
  address: 127.0.0.9
  gateway: public
`

func TestLoadGatewayObjects(t *testing.T) {
	shopCert, shopKey := testCert(t, "shop.example.com")
	otherCert, otherKey := testCert(t, "other.example.com")
	unusedCert, unusedKey := testCert(t, "unused.example.com")
	secrets := `apiVersion: v1
kind: Secret
metadata: {name: shop-cert, namespace: shop}
type: kubernetes.io/tls
data:
  tls.crt: ` + base64.StdEncoding.EncodeToString(shopCert) + `
  tls.key: ` + base64.StdEncoding.EncodeToString(shopKey) + `
---
apiVersion: v1
kind: Secret
metadata: {name: other-cert, namespace: certs}
type: kubernetes.io/tls
stringData:
  tls.crt: |
` + indent(otherCert, "    ") + `  tls.key: |
` + indent(otherKey, "    ") + `---
apiVersion: v1
kind: Secret
metadata: {name: unused, namespace: shop}
type: kubernetes.io/tls
stringData:
  tls.crt: |
` + indent(unusedCert, "    ") + `  tls.key: |
` + indent(unusedKey, "    ")
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "gateway.yaml"), gatewayDir)
	writeFile(t, filepath.Join(dir, "secrets.yaml"), secrets)
	mesh, err := Load(dir, testTD)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	in := &mesh.Ingress

	g := in.Gateway(model.NamespacedName{Namespace: "shop", Name: "public"})
	if g == nil || len(g.Spec.Listeners) != 4 {
		t.Fatalf("Gateway shop/public = %+v, want it with 4 listeners", g)
	}
	for _, l := range g.Spec.Listeners {
		if l.AllowedRoutes == nil || l.AllowedRoutes.Namespaces == nil || deref0(l.AllowedRoutes.Namespaces.From) != gwv1.NamespacesFromSame {
			t.Errorf("listener %s: allowedRoutes = %+v, want the default namespaces.from Same", l.Name, l.AllowedRoutes)
		}
	}
	https := g.Spec.Listeners[1].TLS
	if deref0(https.Mode) != gwv1.TLSModeTerminate {
		t.Errorf("https listener tls.mode = %v, want the default Terminate", deref0(https.Mode))
	}
	for _, ref := range https.CertificateRefs {
		if deref0(ref.Group) != "" || deref0(ref.Kind) != "Secret" {
			t.Errorf("certificateRef %s: group %q kind %q, want the defaults \"\" and Secret", ref.Name, deref0(ref.Group), deref0(ref.Kind))
		}
	}
	if deref0(g.Spec.Listeners[2].TLS.Mode) != gwv1.TLSModePassthrough {
		t.Errorf("passthrough listener tls.mode = %v", deref0(g.Spec.Listeners[2].TLS.Mode))
	}

	if len(in.TLSRoutes) != 1 || len(in.TCPRoutes) != 1 || len(in.ReferenceGrants) != 1 {
		t.Fatalf("routes and grants: %d TLSRoutes, %d TCPRoutes, %d ReferenceGrants; want one of each",
			len(in.TLSRoutes), len(in.TCPRoutes), len(in.ReferenceGrants))
	}
	parent := in.TLSRoutes[0].Spec.ParentRefs[0]
	if deref0(parent.Kind) != "Gateway" || deref0(parent.Group) != gwv1.GroupName {
		t.Errorf("TLSRoute parentRef = %+v, want the defaults group %s kind Gateway", parent, gwv1.GroupName)
	}
	backend := in.TCPRoutes[0].Spec.Rules[0].BackendRefs[0]
	if deref0(backend.Weight) != 1 || deref0(backend.Kind) != "Service" {
		t.Errorf("TCPRoute backendRef = %+v, want the defaults weight 1 kind Service", backend)
	}

	// Only the Secrets a Gateway references, sorted; data and stringData
	// both give the PEM text as written.
	want := []model.TLSSecret{
		{Namespace: "certs", Name: "other-cert", Cert: otherCert, PrivateKey: otherKey},
		{Namespace: "shop", Name: "shop-cert", Cert: shopCert, PrivateKey: shopKey},
	}
	if len(in.Secrets) != len(want) {
		t.Fatalf("Secrets = %d, want %d (the unreferenced shop/unused left out)", len(in.Secrets), len(want))
	}
	for i, w := range want {
		s := in.Secrets[i]
		if s.Namespace != w.Namespace || s.Name != w.Name || !bytes.Equal(s.Cert, w.Cert) || !bytes.Equal(s.PrivateKey, w.PrivateKey) {
			t.Errorf("Secrets[%d] = %s/%s, want %s/%s with the PEM written", i, s.Namespace, s.Name, w.Namespace, w.Name)
		}
	}

	if len(mesh.Workloads) != 1 {
		t.Fatalf("workloads = %d, want 1", len(mesh.Workloads))
	}
	if gw := mesh.Workloads[0].Gateway; gw == nil || *gw != (model.NamespacedName{Namespace: "shop", Name: "public"}) {
		t.Errorf("workload's Gateway = %v, want shop/public", gw)
	}
}

// Documents start with these heads; metadata.name is on line 4 and spec
// (or type, for a Secret) on line 5.
const (
	gwHead    = "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n  name: g\nspec:\n"
	gwWeft    = gwHead + "  gatewayClassName: weft\n  listeners:\n" // listeners from line 8
	tlsrHead  = "apiVersion: gateway.networking.k8s.io/v1\nkind: TLSRoute\nmetadata:\n  name: r\nspec:\n"
	tcprHead  = "apiVersion: gateway.networking.k8s.io/v1\nkind: TCPRoute\nmetadata:\n  name: r\nspec:\n"
	grantHead = "apiVersion: gateway.networking.k8s.io/v1beta1\nkind: ReferenceGrant\nmetadata:\n  name: rg\nspec:\n"
	secHead   = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n"
	nsHead    = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: pay\n"
)

func TestLoadGatewayProblems(t *testing.T) {
	cert, key := testCert(t, "a.example.com")
	_, otherKey := testCert(t, "b.example.com")
	b64 := base64.StdEncoding.EncodeToString
	tlsData := func(crt, k []byte) string {
		return secHead + "type: kubernetes.io/tls\ndata:\n  tls.crt: " + b64(crt) + "\n  tls.key: " + b64(k) + "\n"
	}
	tests := []struct {
		name string
		doc  string
		// want holds one prefix per expected problem, in order.
		want []string
	}{
		{
			name: "Gateway of another class",
			doc:  gwHead + "  gatewayClassName: istio\n  listeners:\n  - {name: http, protocol: HTTP, port: 80}\n",
			want: []string{`g.yaml:6: spec.gatewayClassName: "istio": standalone mode serves only the weft class`},
		},
		{
			name: "Gateway without a class",
			doc:  gwHead + "  listeners:\n  - {name: http, protocol: HTTP, port: 80}\n",
			want: []string{"g.yaml:5: spec.gatewayClassName: is required (standalone mode serves the weft class)"},
		},
		{
			name: "Gateway without spec",
			doc:  "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n  name: g\n",
			want: []string{"g.yaml:1: spec: Required value"},
		},
		{
			name: "Gateway without listeners",
			doc:  gwHead + "  gatewayClassName: weft\n",
			want: []string{"g.yaml:5: spec.listeners: Required value: must have at least 1 item"},
		},
		{
			name: "Gateway unknown listener field",
			doc:  gwWeft + "  - {name: http, protocol: HTTP, port: 80, hostnames: [a.example.com]}\n",
			want: []string{"g.yaml:8: spec.listeners[0].hostnames: unknown field"},
		},
		{
			name: "listener names not unique",
			doc:  gwWeft + "  - {name: web, protocol: HTTP, port: 80}\n  - {name: web, protocol: HTTP, port: 81}\n",
			want: []string{`g.yaml:9: spec.listeners[1].name: Invalid value: "web": Listener name must be unique within the Gateway (also listeners[0])`},
		},
		{
			name: "listener port out of range",
			doc:  gwWeft + "  - name: http\n    protocol: HTTP\n    port: 70000\n",
			want: []string{"g.yaml:10: spec.listeners[0].port: Invalid value: 70000: must be between 1 and 65535"},
		},
		{
			name: "listener protocol malformed",
			doc:  gwWeft + "  - name: http\n    protocol: HT TP\n    port: 80\n",
			want: []string{`g.yaml:9: spec.listeners[0].protocol: Invalid value: "HT TP": must match`},
		},
		{
			name: "listeners share port, protocol and hostname",
			doc:  gwWeft + "  - {name: a, protocol: HTTP, port: 80}\n  - {name: b, protocol: HTTP, port: 80}\n",
			want: []string{`g.yaml:9: spec.listeners[1]: Invalid value: "port 80, protocol HTTP, hostname \"\"": Combination of port, protocol and hostname must be unique`},
		},
		{
			name: "listener hostname not lower case",
			doc:  gwWeft + "  - {name: a, protocol: HTTP, port: 80, hostname: Shop.Example.com}\n",
			want: []string{`g.yaml:8: spec.listeners[0].hostname: Invalid value: "Shop.Example.com": must match`},
		},
		{
			name: "HTTPS without tls",
			doc:  gwWeft + "  - {name: a, protocol: HTTPS, port: 443}\n",
			want: []string{"g.yaml:8: spec.listeners[0].tls: Required value: tls is required for protocol HTTPS"},
		},
		{
			name: "HTTPS passthrough",
			doc:  gwWeft + "  - name: a\n    protocol: HTTPS\n    port: 443\n    tls:\n      mode: Passthrough\n",
			want: []string{`g.yaml:12: spec.listeners[0].tls.mode: Invalid value: "Passthrough": tls mode must be Terminate for protocol HTTPS`},
		},
		{
			name: "HTTPS terminate without certificates",
			doc:  gwWeft + "  - name: a\n    protocol: HTTPS\n    port: 443\n    tls:\n      mode: Terminate\n",
			want: []string{"g.yaml:11: spec.listeners[0].tls.certificateRefs: Required value: certificateRefs or options must be specified when mode is Terminate"},
		},
		{
			name: "certificate from a ConfigMap",
			doc:  gwWeft + "  - name: a\n    protocol: HTTPS\n    port: 443\n    tls:\n      certificateRefs:\n      - {kind: ConfigMap, name: c}\n",
			want: []string{`g.yaml:13: spec.listeners[0].tls.certificateRefs[0].kind: Invalid value: "ConfigMap": standalone mode reads certificates only from Secrets`},
		},
		{
			name: "HTTP with tls",
			doc:  gwWeft + "  - name: a\n    protocol: HTTP\n    port: 80\n    tls:\n      certificateRefs: [{name: c}]\n",
			want: []string{"g.yaml:11: spec.listeners[0].tls: Forbidden: tls must not be specified for protocols ['HTTP', 'TCP', 'UDP']"},
		},
		{
			name: "TLS without tls",
			doc:  gwWeft + "  - {name: a, protocol: TLS, port: 443}\n",
			want: []string{"g.yaml:8: spec.listeners[0].tls.mode: Required value: tls mode must be set for protocol TLS"},
		},
		{
			name: "TCP with a hostname",
			doc:  gwWeft + "  - {name: a, protocol: TCP, port: 5432, hostname: db.example.com}\n",
			want: []string{"g.yaml:8: spec.listeners[0].hostname: Forbidden: hostname must not be specified for protocols ['TCP', 'UDP']"},
		},
		{
			name: "allowedRoutes from an unknown set",
			doc:  gwWeft + "  - name: a\n    protocol: HTTP\n    port: 80\n    allowedRoutes:\n      namespaces: {from: Everywhere}\n",
			want: []string{`g.yaml:12: spec.listeners[0].allowedRoutes.namespaces.from: Unsupported value: "Everywhere"`},
		},
		{
			name: "allowedRoutes selector with an unknown operator",
			doc: gwWeft + "  - name: a\n    protocol: HTTP\n    port: 80\n    allowedRoutes:\n      namespaces:\n        from: Selector\n" +
				"        selector:\n          matchExpressions: [{key: team, operator: Matches, values: [pay]}]\n",
			want: []string{`g.yaml:14: spec.listeners[0].allowedRoutes.namespaces.selector: Invalid value: "Matches" is not a valid label selector operator`},
		},
		{
			name: "allowedRoutes from Selector without a selector",
			doc:  gwWeft + "  - name: a\n    protocol: HTTP\n    port: 80\n    allowedRoutes:\n      namespaces: {from: Selector}\n",
			want: []string{`g.yaml:12: spec.listeners[0].allowedRoutes.namespaces.selector: Required value: a selector is required when from is Selector`},
		},
		{
			name: "address not an IP",
			doc:  gwWeft + "  - {name: a, protocol: HTTP, port: 80}\n  addresses:\n  - value: 192.0.2.300\n",
			want: []string{`g.yaml:10: spec.addresses[0].value: Invalid value: "192.0.2.300": must be an IP address`},
		},
		{
			name: "infrastructure label key",
			doc:  gwWeft + "  - {name: a, protocol: HTTP, port: 80}\n  infrastructure:\n    labels:\n      'bad key': x\n",
			want: []string{`g.yaml:11: spec.infrastructure.labels["bad key"]: Invalid value: "bad key"`},
		},

		// TLSRoute and TCPRoute.
		{
			name: "TLSRoute without parent",
			doc:  tlsrHead + "  hostnames: [db.example.com]\n  rules: [{backendRefs: [{name: db, port: 443}]}]\n",
			want: []string{"g.yaml:5: spec.parentRefs: Required value: a TLSRoute needs a parentRef naming a Gateway"},
		},
		{
			name: "TLSRoute without hostnames",
			doc:  tlsrHead + "  parentRefs: [{name: g}]\n  rules: [{backendRefs: [{name: db, port: 443}]}]\n",
			want: []string{"g.yaml:5: spec.hostnames: Required value: must have at least 1 item"},
		},
		{
			name: "TLSRoute hostname an IP",
			doc:  tlsrHead + "  parentRefs: [{name: g}]\n  hostnames: [192.0.2.1, 'a.*.example.com']\n  rules: [{backendRefs: [{name: db, port: 443}]}]\n",
			want: []string{
				`g.yaml:7: spec.hostnames[0]: Invalid value: "192.0.2.1": Hostnames cannot contain an IP`,
				`g.yaml:7: spec.hostnames[1]: Invalid value: "a.*.example.com": Wildcards on hostnames must be the first label`,
			},
		},
		{
			name: "TLSRoute with two rules",
			doc: tlsrHead + "  parentRefs: [{name: g}]\n  hostnames: [db.example.com]\n  rules:\n" +
				"  - {backendRefs: [{name: db, port: 443}]}\n  - {backendRefs: [{name: db, port: 444}]}\n",
			want: []string{"g.yaml:8: spec.rules: Too many: 2: must have at most 1 item"},
		},
		{
			name: "TCPRoute without rules",
			doc:  tcprHead + "  parentRefs: [{name: g}]\n",
			want: []string{"g.yaml:5: spec.rules: Required value: must have exactly 1 item"},
		},
		{
			name: "TCPRoute rule without backends",
			doc:  tcprHead + "  parentRefs: [{name: g}]\n  rules: [{name: r1}]\n",
			want: []string{"g.yaml:7: spec.rules[0].backendRefs: Required value: must have at least 1 item"},
		},
		{
			name: "TCPRoute backend without port",
			doc:  tcprHead + "  parentRefs: [{name: g}]\n  rules:\n  - backendRefs:\n    - name: db\n",
			want: []string{"g.yaml:9: spec.rules[0].backendRefs[0].port: Required value: Must have port for Service reference"},
		},

		// ReferenceGrant.
		{
			name: "ReferenceGrant without from",
			doc:  grantHead + "  from: []\n  to: [{group: '', kind: Secret}]\n",
			want: []string{"g.yaml:6: spec.from: Required value: must have at least 1 item"},
		},
		{
			name: "ReferenceGrant from without namespace",
			doc:  grantHead + "  from:\n  - {group: gateway.networking.k8s.io, kind: Gateway}\n  to: [{group: '', kind: Secret}]\n",
			want: []string{"g.yaml:7: spec.from[0].namespace: Required value"},
		},
		{
			name: "ReferenceGrant of v1 not read",
			doc:  strings.Replace(grantHead, "v1beta1", "v1", 1) + "  from: []\n  to: []\n",
			want: []string{`g.yaml:2: kind: unsupported kind "gateway.networking.k8s.io/v1 ReferenceGrant"`},
		},

		// Secrets.
		{
			name: "Opaque Secret",
			doc:  secHead + "type: Opaque\nstringData: {password: x}\n",
			want: []string{`g.yaml:5: type: "Opaque" is not supported: standalone mode reads only kubernetes.io/tls Secrets`},
		},
		{
			name: "Secret without type",
			doc:  secHead + "stringData: {password: x}\n",
			want: []string{`g.yaml:1: type: "Opaque" is not supported`},
		},
		{
			name: "TLS Secret without a key",
			doc:  secHead + "type: kubernetes.io/tls\ndata:\n  tls.crt: " + b64(cert) + "\n",
			want: []string{`g.yaml:6: data["tls.key"]: is required in a kubernetes.io/tls Secret: the PEM private key`},
		},
		{
			name: "tls.crt not PEM",
			doc:  tlsData([]byte("not a certificate"), key),
			want: []string{`g.yaml:7: data["tls.crt"]: holds no PEM certificate`},
		},
		{
			name: "tls.crt holds the key",
			doc:  tlsData(key, key),
			want: []string{`g.yaml:7: data["tls.crt"]: PEM block 1 is a "PRIVATE KEY", not a CERTIFICATE`},
		},
		{
			name: "tls.crt a broken certificate",
			doc:  tlsData(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("junk")}), key),
			want: []string{`g.yaml:7: data["tls.crt"]: PEM block 1 is not an X.509 certificate`},
		},
		{
			name: "tls.key not PEM",
			doc:  tlsData(cert, []byte("secret")),
			want: []string{`g.yaml:8: data["tls.key"]: holds no PEM private key`},
		},
		{
			name: "tls.key of another certificate",
			doc:  tlsData(cert, otherKey),
			want: []string{`g.yaml:8: data["tls.key"]: does not match the certificate in tls.crt`},
		},
		{
			name: "tls.key in stringData is the certificate",
			doc:  secHead + "type: kubernetes.io/tls\nstringData:\n  tls.crt: |\n" + indent(cert, "    ") + "  tls.key: |\n" + indent(cert, "    "),
			want: []string{`g.yaml:` + itoa(8+strings.Count(string(cert), "\n")) + `: stringData["tls.key"]: holds a PEM "CERTIFICATE" block, not a private key`},
		},
		{
			name: "data not base64",
			doc:  secHead + "type: kubernetes.io/tls\ndata:\n  tls.crt: '!!!'\n  tls.key: '!!!'\n",
			want: []string{`g.yaml:1: illegal base64 data`},
		},

		// Namespaces.
		{
			name: "Namespace in a namespace",
			doc:  nsHead + "  namespace: shop\n",
			want: []string{"g.yaml:5: metadata.namespace: a Namespace is not in a namespace"},
		},
		{
			name: "Namespace with finalizers",
			doc:  nsHead + "spec:\n  finalizers: [kubernetes]\n",
			want: []string{"g.yaml:6: spec.finalizers: is not supported: standalone mode reads only a Namespace's name and labels"},
		},
		{
			name: "Namespace with an unknown field",
			doc:  nsHead + "  labels: {team: pay}\nspec:\n  team: pay\n",
			want: []string{"g.yaml:7: spec.team: unknown field"},
		},
		{
			name: "Namespace name not a label",
			doc:  strings.Replace(nsHead, "name: pay", "name: pay.example", 1) + "  labels: {'team/': pay}\n",
			want: []string{
				`g.yaml:4: metadata.name: must not contain dots`,
				`g.yaml:5: metadata.labels["team/"]: name part must be non-empty`,
			},
		},
		{
			name: "Namespace twice",
			doc:  nsHead + "---\n" + nsHead,
			want: []string{"g.yaml:9: metadata.name: duplicate Namespace pay (first defined at g.yaml:4)"},
		},

		// The Workload that runs a Gateway.
		{
			name: "Workload gateway not a name",
			doc:  wlBase + "  gateway: Public_Gateway\n",
			want: []string{"g.yaml:8: spec.gateway: Gateway name: a lowercase RFC 1123 subdomain"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "g.yaml"), tt.doc)
			mesh, err := Load(dir, testTD)
			var cfgErr *Error
			if !errors.As(err, &cfgErr) {
				t.Fatalf("Load error = %v (%T), want *Error", err, err)
			}
			if mesh != nil {
				t.Errorf("Load returned a mesh along with its error")
			}
			got := strings.Split(cfgErr.Error(), "\n")
			if len(got) != len(tt.want) {
				t.Fatalf("got %d problems:\n%s\nwant %d:\n%s", len(got), cfgErr, len(tt.want), strings.Join(tt.want, "\n"))
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tt.want[i]) {
					t.Errorf("problem %d:\n got %s\nwant %s...", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func itoa(i int) string { return big.NewInt(int64(i)).String() }

// selectorDir has a Gateway in shop whose listener takes routes of the
// namespaces labelled team=pay, the Namespace pay so labelled, and
// HTTPRoutes in pay and in ops, which has no Namespace document.
const selectorDir = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: public, namespace: shop}
spec:
  gatewayClassName: weft
  listeners:
  - name: http
    protocol: HTTP
    port: 8080
    allowedRoutes:
      namespaces:
        from: Selector
        selector: {matchLabels: {team: pay}}
---
apiVersion: v1
kind: Namespace
metadata:
  name: pay
  labels: {team: pay, kubernetes.io/metadata.name: not-pay}
  annotations: {note: ignored}
status: {phase: Active}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: billing, namespace: pay}
spec:
  parentRefs: [{name: public, namespace: shop}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: status, namespace: ops}
spec:
  parentRefs: [{name: public, namespace: shop}]
`

// TestLoadNamespaceLabels checks that Namespace documents give the labels
// a Selector listener matches, with the kubernetes.io/metadata.name label
// the API server sets, that the namespace of a route without a document
// has that label alone, and that no labels reach the mesh when no
// listener selects namespaces.
func TestLoadNamespaceLabels(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "mesh.yaml"), selectorDir)
	mesh, err := Load(dir, testTD)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := map[string]map[string]string{
		"pay": {"team": "pay", "kubernetes.io/metadata.name": "pay"},
		"ops": {"kubernetes.io/metadata.name": "ops"},
	}
	if got := mesh.Ingress.NamespaceLabels; !reflect.DeepEqual(got, want) {
		t.Errorf("namespace labels %v, want %v", got, want)
	}

	writeFile(t, filepath.Join(dir, "mesh.yaml"), strings.Replace(selectorDir, "from: Selector", "from: All", 1))
	mesh, err = Load(dir, testTD)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got := mesh.Ingress.NamespaceLabels; got != nil {
		t.Errorf("namespace labels %v without a Selector listener, want none", got)
	}
}

// TestWatcherSecretRotation: a new certificate in a Secret's file reaches
// the mesh; a broken one is refused and the previous certificate stays.
func TestWatcherSecretRotation(t *testing.T) {
	secret := func(cert, key []byte) string {
		return "apiVersion: v1\nkind: Secret\nmetadata: {name: shop-cert, namespace: shop}\ntype: kubernetes.io/tls\ndata:\n" +
			"  tls.crt: " + base64.StdEncoding.EncodeToString(cert) + "\n  tls.key: " + base64.StdEncoding.EncodeToString(key) + "\n"
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "gateway.yaml"), gatewayDir)
	path := filepath.Join(dir, "secret.yaml")
	cert1, key1 := testCert(t, "shop.example.com")
	writeFile(t, path, secret(cert1, key1))
	r := startWatcher(t, dir)
	shopCert := func(m *model.Mesh) []byte {
		s := m.Ingress.Secret(model.NamespacedName{Namespace: "shop", Name: "shop-cert"})
		if s == nil {
			t.Fatal("no Secret shop/shop-cert in the mesh")
		}
		return s.Cert
	}
	if got := shopCert(r.next()); !bytes.Equal(got, cert1) {
		t.Fatal("first mesh: shop-cert is not the certificate written")
	}

	cert2, key2 := testCert(t, "shop.example.com")
	writeFile(t, path, secret(cert2, key2))
	if got := shopCert(r.next()); !bytes.Equal(got, cert2) {
		t.Fatal("after rotation: shop-cert is not the new certificate")
	}

	_, key3 := testCert(t, "shop.example.com")
	writeFile(t, path, secret(cert1, key3)) // a key that is not the certificate's
	r.waitReloadErrors(1)
	r.quiet() // no mesh with the broken pair was handed on
	if want := `field="data[\"tls.key\"]" reason="does not match the certificate in tls.crt`; !strings.Contains(r.logs.String(), want) {
		t.Errorf("log lacks %s:\n%s", want, r.logs)
	}
	r.stop()
}
