package dataplane_test

import (
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
)

// The resources below follow docs/xds.md, "HTTP ports (L7)".

// hcm is the HTTP connection manager of docs/xds.md: RDS over ADS named
// rds, or the inline route configuration when inline is set.
func hcm(t *testing.T, statPrefix, rds string, inline *routev3.RouteConfiguration) *hcmv3.HttpConnectionManager {
	t.Helper()
	h := &hcmv3.HttpConnectionManager{
		StatPrefix: statPrefix,
		CodecType:  hcmv3.HttpConnectionManager_AUTO,
		HttpFilters: []*hcmv3.HttpFilter{{
			Name:       "envoy.filters.http.router",
			ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(t, &routerv3.Router{})},
		}},
	}
	if inline != nil {
		h.RouteSpecifier = &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: inline}
	} else {
		h.RouteSpecifier = &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			ConfigSource: &corev3.ConfigSource{
				ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
				ResourceApiVersion:    corev3.ApiVersion_V3,
			},
			RouteConfigName: rds,
		}}
	}
	return h
}

func setHCM(t *testing.T, l *listenerv3.Listener, h *hcmv3.HttpConnectionManager) {
	t.Helper()
	l.FilterChains[0].Filters[0] = &listenerv3.Filter{
		Name:       "envoy.filters.network.http_connection_manager",
		ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(t, h)},
	}
}

// routeTo is the route configuration of docs/xds.md: one virtual host,
// domains ["*"], prefix "/" to cluster with no timeout.
func routeTo(name, vhost, cluster string) *routev3.RouteConfiguration {
	return &routev3.RouteConfiguration{
		Name: name,
		VirtualHosts: []*routev3.VirtualHost{{
			Name:    vhost,
			Domains: []string{"*"},
			Routes: []*routev3.Route{{
				Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
				Action: &routev3.Route_Route{Route: &routev3.RouteAction{
					ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: cluster},
					Timeout:          durationpb.New(0),
				}},
			}},
		}},
	}
}

// protocolOptions is the cluster's HttpProtocolOptions.
func protocolOptions(t *testing.T, http2 bool) map[string]*anypb.Any {
	t.Helper()
	e := &httpv3.HttpProtocolOptions_ExplicitHttpConfig{}
	if http2 {
		e.ProtocolConfig = &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{Http2ProtocolOptions: &corev3.Http2ProtocolOptions{}}
	} else {
		e.ProtocolConfig = &httpv3.HttpProtocolOptions_ExplicitHttpConfig_HttpProtocolOptions{HttpProtocolOptions: &corev3.Http1ProtocolOptions{}}
	}
	return map[string]*anypb.Any{"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": mustAny(t, &httpv3.HttpProtocolOptions{
		UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: e},
	})}
}

// httpOutboundCluster is the outbound cluster of an HTTP port: HTTP/2 over
// mTLS with ALPN h2.
func httpOutboundCluster(t *testing.T, name, sni string, serverIDs ...string) *clusterv3.Cluster {
	t.Helper()
	c := edsCluster(t, name, sni, serverIDs...)
	u := &tlsv3.UpstreamTlsContext{Sni: sni, CommonTlsContext: commonTLS(uriMatchers(serverIDs, nil))}
	u.CommonTlsContext.AlpnProtocols = []string{"h2"}
	c.TransportSocket.ConfigType = &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(t, u)}
	c.TypedExtensionProtocolOptions = protocolOptions(t, true)
	return c
}

// httpOutboundListener is the outbound listener of an HTTP port.
func httpOutboundListener(t *testing.T, name, address string) *listenerv3.Listener {
	t.Helper()
	l := outboundListener(t, name, address, "unused")
	setHCM(t, l, hcm(t, name, name, nil))
	return l
}

// httpInboundListener is the inbound listener of a workload port behind an
// HTTP service port: mTLS with ALPN h2 and http/1.1, inline routes to the
// inbound cluster.
func httpInboundListener(t *testing.T, name, address string) *listenerv3.Listener {
	t.Helper()
	l := inboundListener(t, name, address, name, "spiffe://cluster.local/")
	d := downstreamTLS(t, l)
	d.CommonTlsContext.AlpnProtocols = []string{"h2", "http/1.1"}
	setDownstreamTLS(t, l, d)
	setHCM(t, l, hcm(t, name, "", routeTo(name, name, name)))
	return l
}

// httpInboundCluster is the inbound cluster: HTTP/1.1, or h2c to the app.
func httpInboundCluster(t *testing.T, name, app string, h2c bool) *clusterv3.Cluster {
	t.Helper()
	c := staticCluster(t, name, app)
	if h2c {
		c.TypedExtensionProtocolOptions = protocolOptions(t, true)
	}
	return c
}
