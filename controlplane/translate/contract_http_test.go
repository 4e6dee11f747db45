package translate

import (
	"slices"
	"strings"
	"testing"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	router "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	upstreamhttp "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/weftmesh/weft/controlplane/model"
)

// These tests check the "HTTP ports (L7)" section of docs/xds.md directly.

func TestOutboundHTTPContract(t *testing.T) {
	res := translateIn(t, webMesh, model.NamespacedName{Namespace: "web", Name: "client"})
	for _, tc := range []struct {
		svc   string
		port  uint32
		local uint32
	}{
		{"web", 80, 8080},
		{"greeter", 50051, 50051},
	} {
		t.Run(tc.svc, func(t *testing.T) {
			ref := model.NamespacedName{Namespace: "web", Name: tc.svc}
			lname := OutboundListenerName(ref, tc.port)
			cname := OutboundClusterName(ref, tc.port)

			l := find[*listener.Listener](t, res[resource.ListenerType], lname)
			wantAddr(t, l.GetAddress(), "127.0.0.1", tc.local)
			if n := len(l.GetFilterChains()); n != 1 {
				t.Fatalf("listener has %d filter chains, want 1", n)
			}
			if l.GetFilterChains()[0].GetTransportSocket() != nil {
				t.Error("outbound listener is not plaintext")
			}
			m := wantHCM(t, l.GetFilterChains()[0], lname)
			rds := m.GetRds()
			if rds.GetRouteConfigName() != lname || rds.GetConfigSource().GetAds() == nil ||
				rds.GetConfigSource().GetResourceApiVersion() != core.ApiVersion_V3 {
				t.Errorf("rds = %v, want route %q over ADS v3", rds, lname)
			}

			rc := find[*route.RouteConfiguration](t, res[resource.RouteType], lname)
			wantOneRoute(t, rc, lname, serviceFQDN(ref)+":"+itoa(tc.port), cname)

			c := find[*cluster.Cluster](t, res[resource.ClusterType], cname)
			if c.GetType() != cluster.Cluster_EDS {
				t.Errorf("cluster type %v, want EDS", c.GetType())
			}
			wantHTTP2Upstream(t, c, true)
			utc := unpack[*tlsv3.UpstreamTlsContext](t, c.GetTransportSocket().GetTypedConfig())
			if got := utc.GetCommonTlsContext().GetAlpnProtocols(); !slices.Equal(got, []string{"h2"}) {
				t.Errorf("upstream ALPN %q, want [h2]", got)
			}
			if utc.GetSni() != upstreamSNI(ref, tc.port) {
				t.Errorf("SNI %q", utc.GetSni())
			}
		})
	}
	if got, want := names(res[resource.RouteType]), []string{"outbound|greeter.web|50051", "outbound|web.web|80"}; !slices.Equal(got, want) {
		t.Errorf("routes %q, want %q (sorted)", got, want)
	}
}

func TestInboundHTTPContract(t *testing.T) {
	for _, tc := range []struct {
		workload string
		port     uint32
		http     bool // HCM on the listener
		h2c      bool // HTTP/2 to the app
	}{
		{"web-1", 8080, true, false},
		{"greeter-1", 50051, true, true},
		{"api-1", 9000, false, false}, // behind an HTTP and a TCP service port
		{"api-1", 9001, true, true},   // kubernetes.io/h2c
		{"site-1", 3000, true, false}, // port named http-site
	} {
		t.Run(tc.workload+"/"+itoa(tc.port), func(t *testing.T) {
			res := translateIn(t, webMesh, model.NamespacedName{Namespace: "web", Name: tc.workload})
			if n := len(res[resource.RouteType]); n != 0 {
				t.Errorf("inbound-only proxy has %d RDS routes, want none", n)
			}
			name := InboundName(tc.port)
			l := wantPermissive(t, find[*listener.Listener](t, res[resource.ListenerType], name))
			if n := len(l.GetFilterChains()); n != 1 {
				t.Fatalf("listener has %d filter chains, want 1", n)
			}
			fc := l.GetFilterChains()[0]
			dtc := unpack[*tlsv3.DownstreamTlsContext](t, fc.GetTransportSocket().GetTypedConfig())
			if !dtc.GetRequireClientCertificate().GetValue() {
				t.Error("inbound TLS does not require a client certificate")
			}
			wantCommonTLS(t, dtc.GetCommonTlsContext())
			alpn := dtc.GetCommonTlsContext().GetAlpnProtocols()

			if tc.http {
				if !slices.Equal(alpn, []string{"h2", "http/1.1"}) {
					t.Errorf("downstream ALPN %q, want [h2 http/1.1]", alpn)
				}
				m := wantHCM(t, fc, name)
				if m.GetRds() != nil {
					t.Error("inbound HCM uses RDS, want an inline route config")
				}
				wantOneRoute(t, m.GetRouteConfig(), name, name, name)
			} else {
				if len(alpn) != 0 {
					t.Errorf("TCP inbound offers ALPN %q", alpn)
				}
				wantTCPProxy(t, fc, name)
			}

			c := find[*cluster.Cluster](t, res[resource.ClusterType], name)
			if c.GetType() != cluster.Cluster_STATIC || c.GetTransportSocket() != nil {
				t.Errorf("cluster type %v, transport socket %v; want STATIC plaintext", c.GetType(), c.GetTransportSocket())
			}
			wantHTTP2Upstream(t, c, tc.h2c)
		})
	}
}

func TestOutboundProtocolByName(t *testing.T) {
	res := translateIn(t, webMesh, model.NamespacedName{Namespace: "web", Name: "browser"})
	for _, tc := range []struct {
		svc  string
		port uint32
		http bool
	}{
		{"site", 80, true},    // named http-site
		{"plain", 443, false}, // named https
		{"old", 80, false},    // named http, appProtocol tcp
	} {
		t.Run(tc.svc, func(t *testing.T) {
			ref := model.NamespacedName{Namespace: "web", Name: tc.svc}
			lname := OutboundListenerName(ref, tc.port)
			fc := find[*listener.Listener](t, res[resource.ListenerType], lname).GetFilterChains()[0]
			c := find[*cluster.Cluster](t, res[resource.ClusterType], OutboundClusterName(ref, tc.port))
			alpn := unpack[*tlsv3.UpstreamTlsContext](t, c.GetTransportSocket().GetTypedConfig()).GetCommonTlsContext().GetAlpnProtocols()
			if tc.http {
				wantHCM(t, fc, lname)
				find[*route.RouteConfiguration](t, res[resource.RouteType], lname)
			} else {
				wantTCPProxy(t, fc, OutboundClusterName(ref, tc.port))
				if len(alpn) != 0 {
					t.Errorf("TCP cluster offers ALPN %q", alpn)
				}
			}
			wantHTTP2Upstream(t, c, tc.http)
		})
	}
}

// TestTCPCasesStayTCP checks that no HTTP setting leaks into the TCP cases,
// which the demo and the proxy's contract test rely on.
func TestTCPCasesStayTCP(t *testing.T) {
	for _, tc := range goldenCases {
		if strings.Contains(tc.file, "/") {
			continue // testdata/http/
		}
		t.Run(tc.file, func(t *testing.T) {
			res := translateIn(t, tc.mesh, tc.workload)
			if n := len(res[resource.RouteType]); n != 0 {
				t.Errorf("%d routes", n)
			}
			for _, r := range res[resource.ClusterType] {
				c := r.(*cluster.Cluster)
				wantHTTP2Upstream(t, c, false)
				if ts := c.GetTransportSocket(); ts != nil {
					if alpn := unpack[*tlsv3.UpstreamTlsContext](t, ts.GetTypedConfig()).GetCommonTlsContext().GetAlpnProtocols(); len(alpn) != 0 {
						t.Errorf("%s offers ALPN %q", c.GetName(), alpn)
					}
				}
			}
			for _, r := range res[resource.ListenerType] {
				for _, fc := range r.(*listener.Listener).GetFilterChains() {
					for _, f := range fc.GetFilters() {
						if f.GetName() != "envoy.filters.network.tcp_proxy" {
							t.Errorf("%s: filter %q", cache.GetResourceName(r), f.GetName())
						}
					}
					if ts := fc.GetTransportSocket(); ts != nil {
						if alpn := unpack[*tlsv3.DownstreamTlsContext](t, ts.GetTypedConfig()).GetCommonTlsContext().GetAlpnProtocols(); len(alpn) != 0 {
							t.Errorf("%s offers ALPN %q", cache.GetResourceName(r), alpn)
						}
					}
				}
			}
		})
	}
}

// TestConsistentCatchesMissingRoute shows that the snapshot consistency
// check covers RDS: an HCM naming a route that is not there is inconsistent.
func TestConsistentCatchesMissingRoute(t *testing.T) {
	res := translateIn(t, webMesh, model.NamespacedName{Namespace: "web", Name: "client"})
	res[resource.RouteType] = res[resource.RouteType][:1]
	snap, err := cache.NewSnapshot("1", res)
	if err != nil {
		t.Fatalf("NewSnapshot: %v", err)
	}
	if err := snap.Consistent(); err == nil {
		t.Error("Consistent accepted a listener whose RDS route is missing")
	}
}

// wantHCM checks the HTTP connection manager every HTTP listener has and
// returns it.
func wantHCM(t *testing.T, fc *listener.FilterChain, statPrefix string) *hcm.HttpConnectionManager {
	t.Helper()
	if n := len(fc.GetFilters()); n != 1 {
		t.Fatalf("filter chain has %d filters, want 1", n)
	}
	f := fc.GetFilters()[0]
	if f.GetName() != "envoy.filters.network.http_connection_manager" {
		t.Fatalf("filter %q, want the HTTP connection manager", f.GetName())
	}
	m := unpack[*hcm.HttpConnectionManager](t, f.GetTypedConfig())
	if m.GetStatPrefix() != statPrefix || m.GetCodecType() != hcm.HttpConnectionManager_AUTO {
		t.Errorf("stat prefix %q, codec %v; want %q, AUTO", m.GetStatPrefix(), m.GetCodecType(), statPrefix)
	}
	hf := m.GetHttpFilters()
	if len(hf) != 1 || hf[0].GetName() != "envoy.filters.http.router" {
		t.Fatalf("http filters %v, want the router only", hf)
	}
	unpack[*router.Router](t, hf[0].GetTypedConfig())
	return m
}

// wantOneRoute checks a route configuration that sends everything to
// clusterName without timeout.
func wantOneRoute(t *testing.T, rc *route.RouteConfiguration, name, vhost, clusterName string) {
	t.Helper()
	if rc.GetName() != name {
		t.Errorf("route config %q, want %q", rc.GetName(), name)
	}
	vhs := rc.GetVirtualHosts()
	if len(vhs) != 1 || vhs[0].GetName() != vhost || !slices.Equal(vhs[0].GetDomains(), []string{"*"}) {
		t.Fatalf("virtual hosts %v, want one %q for *", vhs, vhost)
	}
	rs := vhs[0].GetRoutes()
	if len(rs) != 1 {
		t.Fatalf("%d routes, want 1", len(rs))
	}
	r := rs[0]
	if r.GetMatch().GetPrefix() != "/" || r.GetRoute().GetCluster() != clusterName {
		t.Errorf("route %v, want prefix / to %q", r, clusterName)
	}
	if to := r.GetRoute().GetTimeout(); to == nil || to.AsDuration() != 0 {
		t.Errorf("route timeout %v, want an explicit 0s", to)
	}
}

// wantHTTP2Upstream checks whether c speaks HTTP/2 to its endpoints through
// explicit HttpProtocolOptions, and carries no other protocol options.
func wantHTTP2Upstream(t *testing.T, c *cluster.Cluster, want bool) {
	t.Helper()
	opts := c.GetTypedExtensionProtocolOptions()
	if !want {
		if len(opts) != 0 {
			t.Errorf("%s has protocol options %v", c.GetName(), opts)
		}
		return
	}
	if len(opts) != 1 || opts["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"] == nil {
		t.Fatalf("%s protocol options %v, want HttpProtocolOptions only", c.GetName(), opts)
	}
	hpo := unpack[*upstreamhttp.HttpProtocolOptions](t, opts["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"])
	if hpo.GetExplicitHttpConfig().GetHttp2ProtocolOptions() == nil {
		t.Errorf("%s: %v, want explicit HTTP/2", c.GetName(), hpo)
	}
}
