package translate

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxy "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/encoding/protojson"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"

	"github.com/weftmesh/weft/controlplane/model"
	"github.com/weftmesh/weft/gateway"
)

// gatewayGoldenCases are the gateway proxies whose resources
// testdata/gateway pins; the proxy's contract test
// (proxy/dataplane.TestTranslatorGoldenFilesAreAccepted) validates the
// same files.
var gatewayGoldenCases = []struct {
	file     string
	workload model.NamespacedName
}{
	{"gateway/public", publicGateway},
	{"gateway/edge-pod", edgeGateway},
	{"gateway/missing-gateway", lostGateway},
}

func translateGateway(t *testing.T, key model.NamespacedName) Resources {
	t.Helper()
	m := gatewayMesh(t)
	w := m.Workload(key)
	if w == nil {
		t.Fatalf("no workload %s in the gateway mesh", key)
	}
	res, err := Proxy(m, w)
	if err != nil {
		t.Fatalf("Proxy: %v", err)
	}
	return res
}

// renderGateway is render plus the secrets.
func renderGateway(t *testing.T, res Resources) []byte {
	t.Helper()
	out := render(t, res)
	opts := protojson.MarshalOptions{Multiline: true, Indent: "  ", UseProtoNames: true}
	items := []json.RawMessage{}
	for _, r := range res[resource.SecretType] {
		b, err := opts.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, b)
	}
	j, err := json.Marshal(map[string][]json.RawMessage{"secrets": items})
	if err != nil {
		t.Fatal(err)
	}
	y, err := yaml.JSONToYAML(j)
	if err != nil {
		t.Fatal(err)
	}
	return append(out, y...)
}

func TestGatewayGolden(t *testing.T) {
	for _, tc := range gatewayGoldenCases {
		t.Run(tc.file, func(t *testing.T) {
			got := renderGateway(t, translateGateway(t, tc.workload))
			path := filepath.Join("testdata", filepath.FromSlash(tc.file)+".golden.yaml")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./controlplane/translate -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output differs from %s (rerun with -update and review the diff):\n%s", path, got)
			}
		})
	}
}

func TestGatewaySnapshotConsistent(t *testing.T) {
	for _, tc := range gatewayGoldenCases {
		t.Run(tc.file, func(t *testing.T) {
			res := translateGateway(t, tc.workload)
			if len(res) != 5 {
				t.Errorf("a gateway's resources hold %d types, want 5 (the sidecar's and secrets)", len(res))
			}
			snap, err := cache.NewSnapshot("1", res)
			if err != nil {
				t.Fatal(err)
			}
			if err := Consistent(snap); err != nil {
				t.Errorf("Consistent: %v", err)
			}
			// Every secret a listener names is in the snapshot, and no other.
			named := map[string]bool{}
			for _, r := range res[resource.ListenerType] {
				for _, fc := range r.(*listener.Listener).GetFilterChains() {
					if ts := fc.GetTransportSocket(); ts != nil {
						for _, s := range unpack[*tlsv3.DownstreamTlsContext](t, ts.GetTypedConfig()).GetCommonTlsContext().GetTlsCertificateSdsSecretConfigs() {
							named[s.GetName()] = true
						}
					}
				}
			}
			for _, s := range names(res[resource.SecretType]) {
				if !named[s] {
					t.Errorf("secret %s is sent but no listener names it", s)
				}
				delete(named, s)
			}
			if len(named) > 0 {
				t.Errorf("listeners name secrets that are not sent: %v", named)
			}
		})
	}
}

// TestGatewayContract checks the facts of docs/gateway.md ("What the
// control plane sends a gateway proxy") on the public gateway.
func TestGatewayContract(t *testing.T) {
	res := translateGateway(t, publicGateway)
	wantNames := func(typ resource.Type, want ...string) {
		t.Helper()
		if got := names(res[typ]); !slices.Equal(got, want) {
			t.Errorf("%s: got %q, want %q", typeName(typ), got, want)
		}
	}
	wantNames(resource.ListenerType, "gateway|443", "gateway|5432", "gateway|80", "gateway|8443")
	wantNames(resource.RouteType, "gateway|shop|public|http", "gateway|shop|public|https-api", "gateway|shop|public|https-shop")
	wantNames(resource.SecretType, "kubernetes://shop/api-example-com", "kubernetes://shop/secure-example-com", "kubernetes://shop/shop-example-com")
	wantNames(resource.ClusterType,
		"outbound|5432||pg-replica.shop.svc.cluster.local", "outbound|5432||pg.shop.svc.cluster.local",
		"outbound|8080||api.shop.svc.cluster.local", "outbound|8080||shadow.shop.svc.cluster.local",
		"outbound|8080||web.shop.svc.cluster.local", "outbound|9000||billing.pay.svc.cluster.local",
		"outbound|9090||ledger.shop.svc.cluster.local")

	l443 := find[*listener.Listener](t, res[resource.ListenerType], "gateway|443")
	wantAddr(t, l443.GetAddress(), "192.0.2.100", 443)
	if l443.GetTrafficDirection() != core.TrafficDirection_INBOUND {
		t.Errorf("traffic_direction %v", l443.GetTrafficDirection())
	}
	if lf := l443.GetListenerFilters(); len(lf) != 1 || lf[0].GetName() != wellknown.TLSInspector {
		t.Errorf("listener filters of a TLS port: %v, want the TLS inspector only", lf)
	}
	chains := map[string]*listener.FilterChain{}
	for _, fc := range l443.GetFilterChains() {
		chains[fc.GetName()] = fc
	}
	for name, sni := range map[string]string{"shop/public/https-shop": "shop.example.com", "shop/public/https-api": "api.example.com"} {
		fc := chains[name]
		if fc == nil {
			t.Fatalf("no chain %s in %v", name, chains)
		}
		if m := fc.GetFilterChainMatch(); !slices.Equal(m.GetServerNames(), []string{sni}) || m.GetTransportProtocol() != "tls" {
			t.Errorf("%s: match %v, want server_names [%s] over tls", name, m, sni)
		}
		dtc := unpack[*tlsv3.DownstreamTlsContext](t, fc.GetTransportSocket().GetTypedConfig())
		ctc := dtc.GetCommonTlsContext()
		if dtc.GetRequireClientCertificate().GetValue() || ctc.GetValidationContextType() != nil {
			t.Errorf("%s: an edge listener must not ask for client certificates: %v", name, dtc)
		}
		if !slices.Equal(ctc.GetAlpnProtocols(), []string{"h2", "http/1.1"}) || ctc.GetTlsParams().GetTlsMinimumProtocolVersion() != tlsv3.TlsParameters_TLSv1_2 {
			t.Errorf("%s: alpn %v, minimum %v", name, ctc.GetAlpnProtocols(), ctc.GetTlsParams().GetTlsMinimumProtocolVersion())
		}
		sds := ctc.GetTlsCertificateSdsSecretConfigs()
		if len(sds) != 1 || sds[0].GetName() != "kubernetes://shop/"+strings.ReplaceAll(sni, ".", "-") || sds[0].GetSdsConfig().GetAds() == nil {
			t.Errorf("%s: certificates %v, want the Secret of %s over ADS", name, sds, sni)
		}
		m := unpack[*hcm.HttpConnectionManager](t, fc.GetFilters()[0].GetTypedConfig())
		if !m.GetUseRemoteAddress().GetValue() || m.GetXffNumTrustedHops() != 1 || m.GetForwardClientCertDetails() != hcm.HttpConnectionManager_SANITIZE ||
			!m.GetGenerateRequestId().GetValue() || !m.GetPreserveExternalRequestId() || len(m.GetAccessLog()) != 1 {
			t.Errorf("%s: edge HTTP connection manager %v", name, m)
		}
		if got := m.GetRds().GetRouteConfigName(); got != "gateway|shop|public|"+strings.TrimPrefix(name, "shop/public/") {
			t.Errorf("%s: rds %q", name, got)
		}
	}
	var pass *listener.FilterChain
	for _, fc := range l443.GetFilterChains() {
		if strings.HasPrefix(fc.GetName(), "shop/public/tls-pass") {
			pass = fc
		}
	}
	if pass == nil || !slices.Equal(pass.GetFilterChainMatch().GetServerNames(), []string{"pg.db.example.com"}) || pass.GetTransportSocket() != nil {
		t.Fatalf("passthrough chain %v: want server_names [pg.db.example.com] and no transport socket", pass)
	}
	if c := unpack[*tcpproxy.TcpProxy](t, pass.GetFilters()[0].GetTypedConfig()).GetCluster(); c != "outbound|5432||pg.shop.svc.cluster.local" {
		t.Errorf("passthrough to %q", c)
	}

	// TLS Terminate and TCP: a weighted tcp_proxy; terminate without ALPN.
	for _, port := range []string{"gateway|8443", "gateway|5432"} {
		l := find[*listener.Listener](t, res[resource.ListenerType], port)
		fc := l.GetFilterChains()[0]
		wc := unpack[*tcpproxy.TcpProxy](t, fc.GetFilters()[0].GetTypedConfig()).GetWeightedClusters().GetClusters()
		if len(wc) != 2 || wc[0].GetWeight() != 80 || wc[1].GetWeight() != 20 {
			t.Errorf("%s: weighted clusters %v, want 80/20", port, wc)
		}
		if port == "gateway|8443" {
			ctc := unpack[*tlsv3.DownstreamTlsContext](t, fc.GetTransportSocket().GetTypedConfig()).GetCommonTlsContext()
			if len(ctc.GetAlpnProtocols()) != 0 || ctc.GetTlsCertificateSdsSecretConfigs()[0].GetName() != "kubernetes://shop/secure-example-com" {
				t.Errorf("TLS terminate: %v", ctc)
			}
		} else if len(l.GetListenerFilters()) != 0 || fc.GetTransportSocket() != nil {
			t.Errorf("TCP port: listener filters %v, transport socket %v", l.GetListenerFilters(), fc.GetTransportSocket())
		}
	}

	// Routes: one virtual host per shared hostname, mirrors, splits.
	http := find[*route.RouteConfiguration](t, res[resource.RouteType], "gateway|shop|public|http")
	var vhosts []string
	for _, vh := range http.GetVirtualHosts() {
		vhosts = append(vhosts, vh.GetName()+"="+strings.Join(vh.GetDomains(), ","))
	}
	if !slices.Equal(vhosts, []string{"api.example.com=api.example.com", "shop.example.com=shop.example.com"}) {
		t.Errorf("http virtual hosts %v", vhosts)
	}
	shop := find[*route.RouteConfiguration](t, res[resource.RouteType], "gateway|shop|public|https-shop").GetVirtualHosts()[0].GetRoutes()
	if len(shop) != 2 || shop[0].GetMatch().GetPathSeparatedPrefix() != "/api" {
		t.Fatalf("https-shop routes %v", shop)
	}
	mirrors := shop[1].GetRoute().GetRequestMirrorPolicies()
	if len(mirrors) != 1 || mirrors[0].GetCluster() != "outbound|8080||shadow.shop.svc.cluster.local" ||
		mirrors[0].GetRuntimeFraction().GetDefaultValue().GetNumerator() != 10 ||
		mirrors[0].GetRuntimeFraction().GetDefaultValue().GetDenominator() != typev3.FractionalPercent_HUNDRED {
		t.Errorf("mirror policies %v, want 10%% to shadow", mirrors)
	}
	api := find[*route.RouteConfiguration](t, res[resource.RouteType], "gateway|shop|public|https-api").GetVirtualHosts()[0].GetRoutes()
	if len(api) != 2 || api[0].GetMatch().GetPrefix() != "/ledger.v1.Ledger/" {
		t.Fatalf("https-api routes %v: want the GRPCRoute's (a longer prefix) first", api)
	}
	if wc := api[1].GetRoute().GetWeightedClusters().GetClusters(); len(wc) != 2 || wc[1].GetName() != "outbound|9000||billing.pay.svc.cluster.local" {
		t.Errorf("granted cross-namespace split %v", wc)
	}
}

func TestGatewayPodListeners(t *testing.T) {
	res := translateGateway(t, edgeGateway)
	wantNamesOf := names(res[resource.ListenerType])
	if !slices.Equal(wantNamesOf, []string{"gateway|80"}) {
		t.Fatalf("listeners %v: the HTTPS listener's Secret is refused, so only port 80", wantNamesOf)
	}
	if n := len(res[resource.SecretType]); n != 0 {
		t.Errorf("a refused Secret was sent: %v", names(res[resource.SecretType]))
	}
	l := find[*listener.Listener](t, res[resource.ListenerType], "gateway|80")
	wantAddr(t, l.GetAddress(), "0.0.0.0", 80)
	if aa := l.GetAdditionalAddresses(); len(aa) != 1 || aa[0].GetAddress().GetSocketAddress().GetAddress() != "::" {
		t.Errorf("additional addresses %v, want [::] on a dual-stack mesh", aa)
	}
	if lf := l.GetListenerFilters(); len(lf) != 1 || lf[0].GetName() != wellknown.ProxyProtocol {
		t.Errorf("listener filters %v, want the PROXY protocol filter", lf)
	}
	m := unpack[*hcm.HttpConnectionManager](t, l.GetFilterChains()[0].GetFilters()[0].GetTypedConfig())
	if m.GetXffNumTrustedHops() != 0 || m.GetPreserveExternalRequestId() {
		t.Errorf("without trusted hops: xff_num_trusted_hops %d, preserve_external_request_id %v", m.GetXffNumTrustedHops(), m.GetPreserveExternalRequestId())
	}
}

// TestGatewaySecretsFollowTheResolution: only the gateway's own
// Gateway's certificates are sent, and a rotated Secret changes the
// secret and nothing else.
func TestGatewaySecretsFollowTheResolution(t *testing.T) {
	m := gatewayMesh(t)
	before, err := Proxy(m, m.Workload(publicGateway))
	if err != nil {
		t.Fatal(err)
	}
	newCert, newKey := gatewayCert(t, "api.example.com") // any other valid pair
	for i := range m.Ingress.Secrets {
		if s := &m.Ingress.Secrets[i]; s.Name == "shop-example-com" {
			s.Cert, s.PrivateKey = newCert, newKey
		}
	}
	after, err := Proxy(m, m.Workload(publicGateway))
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range resourceTypes() {
		if !bytes.Equal(marshalAll(t, Resources{typ: before[typ]}), marshalAll(t, Resources{typ: after[typ]})) {
			t.Errorf("a rotated Secret changed the %ss", typeName(typ))
		}
	}
	s := find[*tlsv3.Secret](t, after[resource.SecretType], "kubernetes://shop/shop-example-com")
	if !bytes.Equal(s.GetTlsCertificate().GetCertificateChain().GetInlineBytes(), newCert) {
		t.Error("the rotated certificate is not sent")
	}

	// A sidecar of the same mesh gets no secrets at all.
	side, err := Proxy(m, m.Workload(model.NamespacedName{Namespace: "shop", Name: "web-1"}))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := side[resource.SecretType]; ok {
		t.Errorf("a sidecar got secrets: %v", names(side[resource.SecretType]))
	}
}

// gatewayNamed returns the Gateway name of m.
func gatewayNamed(t *testing.T, m *model.Mesh, name string) *gwv1.Gateway {
	t.Helper()
	g := m.Ingress.Gateway(model.NamespacedName{Namespace: "shop", Name: name})
	if g == nil {
		t.Fatalf("no Gateway shop/%s", name)
	}
	return g
}

// TestGatewayCheck lists what Check says about the gateway mesh, once a
// bad annotation and a withdrawn ReferenceGrant are added: what the
// standalone control plane logs and serves at /debug/policies.
func TestGatewayCheck(t *testing.T) {
	m := gatewayMesh(t)
	gatewayNamed(t, m, "public").Annotations[gateway.TrustedHopsAnnotation] = "many"
	gatewayNamed(t, m, "edge").Annotations[gateway.ProxyProtocolAnnotation] = "yes"
	m.Ingress.ReferenceGrants = nil
	var got []string
	for _, p := range Check(m) {
		got = append(got, p.Reason+" "+p.String())
	}
	want := []string{
		`UnsupportedValue Gateway shop/edge: annotation gateway.weft.dev/proxy-protocol: "yes" is neither "true" nor "false"; no PROXY protocol header is expected`,
		`Invalid Gateway shop/edge: listener https: Programmed=False Invalid: the listener has no certificate to serve`,
		`RefNotPermitted Gateway shop/edge: listener https: ResolvedRefs=False RefNotPermitted: certificateRefs[0] pay/pay-example-com: no ReferenceGrant in namespace pay allows Gateways of shop to use it`,
		`UnsupportedValue Gateway shop/public: annotation gateway.weft.dev/trusted-hops: "many" is not a number of hops within 0-16; 0 is used (no X-Forwarded-For entry is trusted)`,
		`RefNotPermitted HTTPRoute shop/api: parent Gateway shop/public listener https-api: ResolvedRefs=False RefNotPermitted: backendRef pay/billing: no ReferenceGrant in namespace pay allows HTTPRoutes of shop to use it`,
		`TargetNotFound Workload shop/lost-weft-1: gateway: no Gateway shop/lost of class weft in the mesh; the proxy gets no listeners`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("Check:\n got %q\nwant %q", got, want)
	}

	// What the proxy runs agrees: the bad annotations fall back to their
	// defaults, and the refused backend's rule answers 500.
	res, err := Proxy(m, m.Workload(publicGateway))
	if err != nil {
		t.Fatal(err)
	}
	l := find[*listener.Listener](t, res[resource.ListenerType], "gateway|443")
	if hops := unpack[*hcm.HttpConnectionManager](t, l.GetFilterChains()[0].GetFilters()[0].GetTypedConfig()).GetXffNumTrustedHops(); hops != 0 {
		t.Errorf("xff_num_trusted_hops %d with a bad annotation, want the default 0", hops)
	}
	api := find[*route.RouteConfiguration](t, res[resource.RouteType], "gateway|shop|public|https-api").GetVirtualHosts()[0].GetRoutes()
	if st := api[1].GetDirectResponse().GetStatus(); st != 500 {
		t.Errorf("the rule with a refused backend: %v, want a 500", api[1])
	}
	if slices.Contains(names(res[resource.ClusterType]), "outbound|9000||billing.pay.svc.cluster.local") {
		t.Error("the refused backend still has its cluster")
	}
	edge, err := Proxy(m, m.Workload(edgeGateway))
	if err != nil {
		t.Fatal(err)
	}
	if lf := find[*listener.Listener](t, edge[resource.ListenerType], "gateway|80").GetListenerFilters(); len(lf) != 0 {
		t.Errorf("listener filters %v with a bad proxy-protocol annotation, want none", lf)
	}
}

func TestRequestMirrorFraction(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mirror gwv1.HTTPRequestMirrorFilter
		num    uint32
		den    typev3.FractionalPercent_DenominatorType
		fail   string
	}{
		{name: "all by default", num: 0},
		{name: "percent", mirror: gwv1.HTTPRequestMirrorFilter{Percent: ptrTo(int32(25))}, num: 25, den: typev3.FractionalPercent_HUNDRED},
		{name: "fraction of 100", mirror: gwv1.HTTPRequestMirrorFilter{Fraction: &gwv1.Fraction{Numerator: 5}}, num: 5, den: typev3.FractionalPercent_HUNDRED},
		{name: "fraction of 10000", mirror: gwv1.HTTPRequestMirrorFilter{Fraction: &gwv1.Fraction{Numerator: 5, Denominator: ptrTo(int32(10000))}}, num: 5, den: typev3.FractionalPercent_TEN_THOUSAND},
		{name: "fraction of 3", mirror: gwv1.HTTPRequestMirrorFilter{Fraction: &gwv1.Fraction{Numerator: 1, Denominator: ptrTo(int32(3))}}, num: 333333, den: typev3.FractionalPercent_MILLION},
		{name: "above one", mirror: gwv1.HTTPRequestMirrorFilter{Fraction: &gwv1.Fraction{Numerator: 4, Denominator: ptrTo(int32(3))}}, fail: "requestMirror.fraction 4/3 is not a fraction within 0-1"},
		{name: "percent above 100", mirror: gwv1.HTTPRequestMirrorFilter{Percent: ptrTo(int32(101))}, fail: "requestMirror.percent 101 is not within 0-100"},
		{name: "a missing Service", mirror: gwv1.HTTPRequestMirrorFilter{BackendRef: gwv1.BackendObjectReference{Name: "ghost"}}, fail: "backendRef shop/ghost"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := gatewayMesh(t)
			if tc.mirror.BackendRef.Name == "" {
				tc.mirror.BackendRef = gwv1.BackendObjectReference{Name: "shadow", Port: ptrTo(gwv1.PortNumber(8080))}
			} else {
				tc.mirror.BackendRef.Port = ptrTo(gwv1.PortNumber(8080))
			}
			rule := &gwv1.HTTPRouteRule{
				Filters:     []gwv1.HTTPRouteFilter{{Type: gwv1.HTTPRouteFilterRequestMirror, RequestMirror: &tc.mirror}},
				BackendRefs: []gwv1.HTTPBackendRef{backendTo("web", 8080, 1)},
			}
			var f findings
			tr := translateHTTPRule(m, "shop", rule, &f)
			if tc.fail != "" {
				if len(f) != 1 || !strings.Contains(f[0].message, tc.fail) || !tr.action.fail {
					t.Errorf("findings %v, fail %v; want the rule refused for %q", f, tr.action.fail, tc.fail)
				}
				return
			}
			if len(f) != 0 || len(tr.action.mirrors) != 1 {
				t.Fatalf("findings %v, mirrors %v", f, tr.action.mirrors)
			}
			r := tr.action.envoyRoute(m, "r", tr.matches[0], routeDefaults{})
			p := r.GetRoute().GetRequestMirrorPolicies()
			if len(p) != 1 || p[0].GetCluster() != "outbound|8080||shadow.shop.svc.cluster.local" {
				t.Fatalf("mirror policies %v", p)
			}
			if tc.num == 0 {
				if p[0].GetRuntimeFraction() != nil {
					t.Errorf("runtime_fraction %v, want none (every request)", p[0].GetRuntimeFraction())
				}
				return
			}
			if fp := p[0].GetRuntimeFraction().GetDefaultValue(); fp.GetNumerator() != tc.num || fp.GetDenominator() != tc.den {
				t.Errorf("runtime fraction %v, want %d/%v", fp, tc.num, tc.den)
			}
			if !slices.Contains(tr.action.refs(), servicePortRef{service: model.NamespacedName{Namespace: "shop", Name: "shadow"}, port: 8080}) {
				t.Errorf("the mirror's service port is not among the rule's refs %v: its cluster would be missing", tr.action.refs())
			}
		})
	}
}
