package translate

import (
	"slices"
	"strconv"
	"testing"
	"time"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	router "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxy "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	upstreamhttp "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/weftmesh/weft/controlplane/model"
)

// These tests check the facts docs/xds.md promises directly, so that a
// golden file regenerated with -update cannot quietly break the contract.

func TestNames(t *testing.T) {
	svc := model.NamespacedName{Namespace: "shop", Name: "backend"}
	for _, tc := range []struct{ got, want string }{
		{InboundName(8080), "inbound|8080"},
		{OutboundListenerName(svc, 80), "outbound|backend.shop|80"},
		{OutboundClusterName(svc, 80), "outbound|80||backend.shop.svc.cluster.local"},
		{upstreamSNI(svc, 80), "outbound_.80_._.backend.shop.svc.cluster.local"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestProxyResourceNames(t *testing.T) {
	for _, tc := range []struct {
		workload                       string
		listeners, clusters, endpoints []string
	}{
		{
			workload:  "frontend",
			listeners: []string{"inbound|8080", "outbound|backend.shop|80"},
			clusters:  []string{"inbound|8080", "outbound|80||backend.shop.svc.cluster.local"},
			endpoints: []string{"outbound|80||backend.shop.svc.cluster.local"},
		},
		{
			workload:  "backend",
			listeners: []string{"inbound|8080", "inbound|9090"},
			clusters:  []string{"inbound|8080", "inbound|9090"},
			endpoints: []string{},
		},
		{
			workload:  "legacy",
			listeners: []string{"outbound|backend.shop|81", "outbound|inventory.shop|80"},
			clusters:  []string{"outbound|80||inventory.shop.svc.cluster.local", "outbound|81||backend.shop.svc.cluster.local"},
			endpoints: []string{"outbound|80||inventory.shop.svc.cluster.local", "outbound|81||backend.shop.svc.cluster.local"},
		},
		{workload: "idle", listeners: []string{}, clusters: []string{}, endpoints: []string{}},
	} {
		t.Run(tc.workload, func(t *testing.T) {
			res := translateCase(t, model.NamespacedName{Namespace: "shop", Name: tc.workload})
			for typ, want := range map[resource.Type][]string{
				resource.ListenerType: tc.listeners,
				resource.ClusterType:  tc.clusters,
				resource.EndpointType: tc.endpoints,
			} {
				if got := names(res[typ]); !slices.Equal(got, want) {
					t.Errorf("%s: got %q, want %q", typeName(typ), got, want)
				}
			}
		})
	}
}

func TestInboundContract(t *testing.T) {
	res := translateCase(t, model.NamespacedName{Namespace: "shop", Name: "backend"})
	// No PeerAuthentication: PERMISSIVE; its mTLS chain is the STRICT shape.
	l := wantPermissive(t, find[*listener.Listener](t, res[resource.ListenerType], "inbound|8080"))
	wantAddr(t, l.GetAddress(), "192.0.2.10", 8080)
	if n := len(l.GetFilterChains()); n != 1 {
		t.Fatalf("inbound listener has %d filter chains, want 1", n)
	}
	fc := l.GetFilterChains()[0]
	wantTCPProxy(t, fc, "inbound|8080")

	ts := fc.GetTransportSocket()
	if ts.GetName() != "envoy.transport_sockets.tls" {
		t.Errorf("transport socket %q", ts.GetName())
	}
	dtc := unpack[*tlsv3.DownstreamTlsContext](t, ts.GetTypedConfig())
	if !dtc.GetRequireClientCertificate().GetValue() {
		t.Error("inbound TLS does not require a client certificate")
	}
	sans := wantCommonTLS(t, dtc.GetCommonTlsContext())
	if len(sans) != 1 || sans[0].GetSanType() != tlsv3.SubjectAltNameMatcher_URI ||
		sans[0].GetMatcher().GetPrefix() != "spiffe://cluster.local/" {
		t.Errorf("inbound SAN matchers = %v, want one URI prefix spiffe://cluster.local/", sans)
	}

	// The admin port has no target port: the app listens on the same port.
	for port, target := range map[uint32]uint32{8080: 18080, 9090: 9090} {
		c := find[*cluster.Cluster](t, res[resource.ClusterType], InboundName(port))
		if c.GetType() != cluster.Cluster_STATIC || c.GetTransportSocket() != nil {
			t.Errorf("%s: type %v, transport socket %v; want STATIC plaintext", c.GetName(), c.GetType(), c.GetTransportSocket())
		}
		wantTimeout(t, c)
		eps := lbAddrs(c.GetLoadAssignment())
		if want := []string{"127.0.0.1:" + itoa(target)}; !slices.Equal(eps, want) {
			t.Errorf("%s endpoints = %q, want %q", c.GetName(), eps, want)
		}
	}
}

func TestOutboundContract(t *testing.T) {
	res := translateCase(t, model.NamespacedName{Namespace: "shop", Name: "checkout"})
	name := "outbound|443||payments.shop.svc.cluster.local"

	l := find[*listener.Listener](t, res[resource.ListenerType], "outbound|payments.shop|443")
	wantAddr(t, l.GetAddress(), "127.0.0.2", 443) // local port defaults to the service port
	if n := len(l.GetFilterChains()); n != 1 {
		t.Fatalf("outbound listener has %d filter chains, want 1", n)
	}
	if l.GetFilterChains()[0].GetTransportSocket() != nil {
		t.Error("outbound listener is not plaintext")
	}
	wantTCPProxy(t, l.GetFilterChains()[0], name)

	c := find[*cluster.Cluster](t, res[resource.ClusterType], name)
	if c.GetType() != cluster.Cluster_EDS || c.GetLbPolicy() != cluster.Cluster_ROUND_ROBIN {
		t.Errorf("cluster type %v, lb policy %v; want EDS ROUND_ROBIN", c.GetType(), c.GetLbPolicy())
	}
	eds := c.GetEdsClusterConfig().GetEdsConfig()
	if eds.GetAds() == nil || eds.GetResourceApiVersion() != core.ApiVersion_V3 || c.GetEdsClusterConfig().GetServiceName() != "" {
		t.Errorf("EDS config %v, want ADS v3 without service name", c.GetEdsClusterConfig())
	}
	wantTimeout(t, c)
	utc := unpack[*tlsv3.UpstreamTlsContext](t, c.GetTransportSocket().GetTypedConfig())
	if utc.GetSni() != "outbound_.443_._.payments.shop.svc.cluster.local" {
		t.Errorf("SNI %q", utc.GetSni())
	}
	var got []string
	for _, m := range wantCommonTLS(t, utc.GetCommonTlsContext()) {
		if m.GetSanType() != tlsv3.SubjectAltNameMatcher_URI || m.GetMatcher().GetExact() == "" {
			t.Errorf("SAN matcher %v is not a URI exact matcher", m)
		}
		got = append(got, m.GetMatcher().GetExact())
	}
	// payments-a and payments-c share a service account; payments-d lacks the
	// target port; payments-x is in another namespace.
	want := []string{"spiffe://cluster.local/ns/shop/sa/payments", "spiffe://cluster.local/ns/shop/sa/payments-canary"}
	if !slices.Equal(got, want) {
		t.Errorf("SANs = %q, want %q", got, want)
	}

	cla := find[*endpoint.ClusterLoadAssignment](t, res[resource.EndpointType], name)
	if n := len(cla.GetEndpoints()); n != 1 {
		t.Errorf("assignment has %d localities, want 1", n)
	}
	if got, want := lbAddrs(cla), []string{"192.0.2.20:8443", "192.0.2.21:8443", "192.0.2.22:8443"}; !slices.Equal(got, want) {
		t.Errorf("endpoints = %q, want %q", got, want)
	}
}

func TestOutboundNamedTargetPort(t *testing.T) {
	res := translateCase(t, model.NamespacedName{Namespace: "shop", Name: "frontend"})
	cla := find[*endpoint.ClusterLoadAssignment](t, res[resource.EndpointType], "outbound|80||backend.shop.svc.cluster.local")
	if got, want := lbAddrs(cla), []string{"192.0.2.10:8080"}; !slices.Equal(got, want) {
		t.Errorf("endpoints = %q, want %q (the port named http)", got, want)
	}
}

func TestOutboundMissingService(t *testing.T) {
	res := translateCase(t, model.NamespacedName{Namespace: "shop", Name: "legacy"})
	for _, name := range []string{"outbound|80||inventory.shop.svc.cluster.local", "outbound|81||backend.shop.svc.cluster.local"} {
		cla := find[*endpoint.ClusterLoadAssignment](t, res[resource.EndpointType], name)
		if len(cla.GetEndpoints()) != 0 {
			t.Errorf("%s has endpoints %v", name, cla.GetEndpoints())
		}
		c := find[*cluster.Cluster](t, res[resource.ClusterType], name)
		utc := unpack[*tlsv3.UpstreamTlsContext](t, c.GetTransportSocket().GetTypedConfig())
		if sans := wantCommonTLS(t, utc.GetCommonTlsContext()); len(sans) != 0 {
			t.Errorf("%s has SAN matchers %v", name, sans)
		}
	}
}

// TestProxyValidates runs Envoy's own proto validation rules over every
// resource and every typed config inside it, however deeply nested.
func TestProxyValidates(t *testing.T) {
	seen := map[string]bool{}
	for _, tc := range goldenCases {
		t.Run(tc.file, func(t *testing.T) {
			res := translateIn(t, tc.mesh, tc.workload)
			for _, rs := range res {
				for _, r := range rs {
					validateDeep(t, cache.GetResourceName(r), r, seen)
				}
			}
		})
	}
	// The walk must have reached every kind of typed config the translator
	// makes, or it checked less than it claims.
	for _, m := range []proto.Message{
		&tcpproxy.TcpProxy{}, &hcm.HttpConnectionManager{}, &router.Router{},
		&tlsv3.DownstreamTlsContext{}, &tlsv3.UpstreamTlsContext{}, &upstreamhttp.HttpProtocolOptions{},
	} {
		if name := string(m.ProtoReflect().Descriptor().FullName()); !seen[name] {
			t.Errorf("no %s was validated", name)
		}
	}
}

// validateDeep validates m, then every Any inside it, recording the full
// names of the messages it validated.
func validateDeep(t *testing.T, what string, m proto.Message, seen map[string]bool) {
	t.Helper()
	name := string(m.ProtoReflect().Descriptor().FullName())
	seen[name] = true
	v, ok := m.(interface{ ValidateAll() error })
	if !ok {
		t.Errorf("%s: %s has no validation rules", what, name)
	} else if err := v.ValidateAll(); err != nil {
		t.Errorf("%s: %s: %v", what, name, err)
	}
	forEachAny(m.ProtoReflect(), func(a *anypb.Any) {
		inner, err := a.UnmarshalNew()
		if err != nil {
			t.Errorf("%s: unpacking %s: %v", what, a.GetTypeUrl(), err)
			return
		}
		validateDeep(t, what, inner, seen)
	})
}

// forEachAny calls fn for every Any set in m, not looking inside them.
func forEachAny(m protoreflect.Message, fn func(*anypb.Any)) {
	visit := func(v protoreflect.Message) {
		if a, ok := v.Interface().(*anypb.Any); ok {
			fn(a)
			return
		}
		forEachAny(v, fn)
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			for i := range v.List().Len() {
				visit(v.List().Get(i).Message())
			}
		case fd.IsMap() && fd.MapValue().Message() != nil:
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				visit(mv.Message())
				return true
			})
		case !fd.IsList() && !fd.IsMap() && fd.Message() != nil:
			visit(v.Message())
		}
		return true
	})
}

func find[T types.Resource](t *testing.T, rs []types.Resource, name string) T {
	t.Helper()
	for _, r := range rs {
		if v, ok := r.(T); ok && cache.GetResourceName(r) == name {
			return v
		}
	}
	var zero T
	t.Fatalf("no %T named %q in %q", zero, name, names(rs))
	return zero
}

func unpack[T interface{ *E }, E any](t *testing.T, a *anypb.Any) T {
	t.Helper()
	m, err := a.UnmarshalNew()
	if err != nil {
		t.Fatalf("unpacking %s: %v", a.GetTypeUrl(), err)
	}
	v, ok := any(m).(T)
	if !ok {
		t.Fatalf("typed config is %s, want %T", a.GetTypeUrl(), v)
	}
	return v
}

func wantAddr(t *testing.T, a *core.Address, host string, port uint32) {
	t.Helper()
	sa := a.GetSocketAddress()
	if sa.GetAddress() != host || sa.GetPortValue() != port || sa.GetProtocol() != core.SocketAddress_TCP {
		t.Errorf("address %v, want TCP %s:%d", a, host, port)
	}
}

func wantTCPProxy(t *testing.T, fc *listener.FilterChain, clusterName string) {
	t.Helper()
	if n := len(fc.GetFilters()); n != 1 {
		t.Fatalf("filter chain has %d filters, want 1", n)
	}
	f := fc.GetFilters()[0]
	if f.GetName() != "envoy.filters.network.tcp_proxy" {
		t.Errorf("filter %q", f.GetName())
	}
	if got := unpack[*tcpproxy.TcpProxy](t, f.GetTypedConfig()).GetCluster(); got != clusterName {
		t.Errorf("tcp_proxy to %q, want %q", got, clusterName)
	}
}

// wantCommonTLS checks the SDS names and returns the SAN matchers.
func wantCommonTLS(t *testing.T, c *tlsv3.CommonTlsContext) []*tlsv3.SubjectAltNameMatcher {
	t.Helper()
	certs := c.GetTlsCertificateSdsSecretConfigs()
	if len(certs) != 1 || certs[0].GetName() != SecretDefault || certs[0].GetSdsConfig() != nil {
		t.Errorf("certificate SDS %v, want name %q only", certs, SecretDefault)
	}
	if len(c.GetTlsCertificates()) != 0 {
		t.Error("TLS context carries inline certificates")
	}
	cvc := c.GetCombinedValidationContext()
	if v := cvc.GetValidationContextSdsSecretConfig(); v.GetName() != SecretRootCA || v.GetSdsConfig() != nil {
		t.Errorf("validation SDS %v, want name %q only", v, SecretRootCA)
	}
	if cvc.GetDefaultValidationContext() == nil {
		t.Fatal("no default validation context")
	}
	return cvc.GetDefaultValidationContext().GetMatchTypedSubjectAltNames()
}

func wantTimeout(t *testing.T, c *cluster.Cluster) {
	t.Helper()
	if got := c.GetConnectTimeout().AsDuration(); got != 5*time.Second {
		t.Errorf("%s connect timeout %v, want 5s", c.GetName(), got)
	}
}

func lbAddrs(cla *endpoint.ClusterLoadAssignment) []string {
	var out []string
	for _, loc := range cla.GetEndpoints() {
		for _, lb := range loc.GetLbEndpoints() {
			sa := lb.GetEndpoint().GetAddress().GetSocketAddress()
			out = append(out, sa.GetAddress()+":"+itoa(sa.GetPortValue()))
		}
	}
	return out
}

func itoa(p uint32) string { return strconv.FormatUint(uint64(p), 10) }
