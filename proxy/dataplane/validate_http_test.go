package dataplane_test

import (
	"testing"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	filev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/file/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func TestHTTPListenerValidation(t *testing.T) {
	const (
		name   = "outbound|echo.default|9000"
		prefix = `listener "outbound|echo.default|9000": filter_chains[0].filters[0].typed_config.`
	)
	tests := []struct {
		name   string
		edit   func(t *testing.T, h *hcmv3.HttpConnectionManager)
		errors []string
	}{
		{"xff_num_trusted_hops without use_remote_address, and forwarded client certificates", func(t *testing.T, h *hcmv3.HttpConnectionManager) {
			h.XffNumTrustedHops = 1
			h.ForwardClientCertDetails = hcmv3.HttpConnectionManager_APPEND_FORWARD
		}, []string{prefix + "forward_client_cert_details: unsupported APPEND_FORWARD, want SANITIZE", prefix + "xff_num_trusted_hops: needs use_remote_address"}},
		{"access_log and stream_idle_timeout", func(t *testing.T, h *hcmv3.HttpConnectionManager) {
			h.AccessLog = []*accesslogv3.AccessLog{
				{Name: "envoy.access_loggers.stdout"},
				{Name: "router", ConfigType: &accesslogv3.AccessLog_TypedConfig{TypedConfig: mustAny(t, &routerv3.Router{})}},
				{Name: "file", ConfigType: &accesslogv3.AccessLog_TypedConfig{TypedConfig: mustAny(t, &filev3.FileAccessLog{})}},
			}
			h.StreamIdleTimeout = durationpb.New(0)
		}, []string{
			prefix + "stream_idle_timeout: unsupported field",
			prefix + "access_log[0].typed_config: missing",
			prefix + `access_log[1].typed_config: unsupported access logger "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"`,
			prefix + "access_log[2].typed_config.path: missing",
		}},
		{"header limits", func(t *testing.T, h *hcmv3.HttpConnectionManager) {
			h.MaxRequestHeadersKb = wrapperspb.UInt32(0)
			h.CommonHttpProtocolOptions = &corev3.HttpProtocolOptions{
				IdleTimeout: durationpb.New(0), MaxHeadersCount: wrapperspb.UInt32(0),
			}
		}, []string{
			prefix + "max_request_headers_kb: must be in [1, 8192], got 0",
			prefix + "common_http_protocol_options.idle_timeout: unsupported field",
			prefix + "common_http_protocol_options.max_headers_count: must be at least 1",
		}},
		{"HTTP3 codec", func(t *testing.T, h *hcmv3.HttpConnectionManager) {
			h.CodecType = hcmv3.HttpConnectionManager_HTTP3
		}, []string{prefix + "codec_type: unsupported codec HTTP3"}},
		{"RDS from a gRPC API source", func(t *testing.T, h *hcmv3.HttpConnectionManager) {
			h.GetRds().ConfigSource.ConfigSourceSpecifier = &corev3.ConfigSource_ApiConfigSource{ApiConfigSource: &corev3.ApiConfigSource{}}
		}, []string{prefix + "rds.config_source.api_config_source: unsupported field", prefix + "rds.config_source.ads: missing"}},
		{"RDS without a name", func(t *testing.T, h *hcmv3.HttpConnectionManager) {
			h.GetRds().RouteConfigName = ""
		}, []string{prefix + "rds.route_config_name: missing"}},
		{"scoped routes", func(t *testing.T, h *hcmv3.HttpConnectionManager) {
			h.RouteSpecifier = &hcmv3.HttpConnectionManager_ScopedRoutes{ScopedRoutes: &hcmv3.ScopedRoutes{Name: "s"}}
		}, []string{prefix + "scoped_routes: unsupported field"}},
		{"an RBAC filter without configuration", func(t *testing.T, h *hcmv3.HttpConnectionManager) {
			h.HttpFilters = append([]*hcmv3.HttpFilter{{Name: "envoy.filters.http.rbac"}}, h.HttpFilters...)
		}, []string{prefix + "http_filters[0].typed_config: missing"}},
		{"another filter than the router", func(t *testing.T, h *hcmv3.HttpConnectionManager) {
			h.HttpFilters[0] = &hcmv3.HttpFilter{Name: "envoy.filters.http.fault", IsOptional: true}
		}, []string{
			prefix + "http_filters[0].is_optional: unsupported field",
			prefix + `http_filters[0].name: unsupported HTTP filter "envoy.filters.http.fault"`,
		}},
		{"router options", func(t *testing.T, h *hcmv3.HttpConnectionManager) {
			h.HttpFilters[0].ConfigType = &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(t, &routerv3.Router{SuppressEnvoyHeaders: true})}
		}, []string{prefix + "http_filters[0].typed_config.suppress_envoy_headers: unsupported field"}},
		{"invalid inline route configuration", func(t *testing.T, h *hcmv3.HttpConnectionManager) {
			rc := routeTo("inline", "v", "c")
			rc.VirtualHosts[0].Routes[0].Match.PathSpecifier = nil
			h.RouteSpecifier = &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: rc}
		}, []string{prefix + `route_config: route_config "inline": virtual_hosts[0].routes[0].match: one of prefix, path, safe_regex or path_separated_prefix is required`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dp, _ := newDataplane(t, newCA(t, "cluster.local"), clientID)
			l := httpOutboundListener(t, name, "127.0.0.1:0")
			h := hcm(t, name, name, nil)
			tt.edit(t, h)
			setHCM(t, l, h)
			err := dp.OnListeners(t.Context(), []*listenerv3.Listener{l})
			checkErrors(t, err, tt.errors)
			if _, bound := dp.ListenerAddr(name); bound {
				t.Error("an invalid listener set was applied")
			}
		})
	}
}

func TestHTTPTLSAndClusterValidation(t *testing.T) {
	const name = "outbound|9000||echo.default.svc.cluster.local"
	cprefix := `cluster "` + name + `": `
	t.Run("ALPN protocol", func(t *testing.T) {
		dp, _ := newDataplane(t, newCA(t, "cluster.local"), clientID)
		l := httpInboundListener(t, inboundName, "127.0.0.1:0")
		d := downstreamTLS(t, l)
		d.CommonTlsContext.AlpnProtocols = []string{"h2", "h3"}
		setDownstreamTLS(t, l, d)
		checkErrors(t, dp.OnListeners(t.Context(), []*listenerv3.Listener{l}), []string{
			`listener "inbound|9000": filter_chains[0].transport_socket.typed_config.common_tls_context.alpn_protocols[1]: unsupported protocol "h3", want h2 or http/1.1`,
		})
	})
	tests := []struct {
		name   string
		edit   func(t *testing.T, c *clusterv3.Cluster)
		errors []string
	}{
		{"unknown extension", func(t *testing.T, c *clusterv3.Cluster) {
			c.TypedExtensionProtocolOptions["envoy.extensions.upstreams.tcp.v3.TcpProtocolOptions"] = mustAny(t, &tlsv3.UpstreamTlsContext{})
		}, []string{cprefix + `typed_extension_protocol_options["envoy.extensions.upstreams.tcp.v3.TcpProtocolOptions"]: unsupported extension`}},
		{"auto config", func(t *testing.T, c *clusterv3.Cluster) {
			c.TypedExtensionProtocolOptions["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"] = mustAny(t, &httpv3.HttpProtocolOptions{
				UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_AutoConfig{AutoConfig: &httpv3.HttpProtocolOptions_AutoHttpConfig{}},
			})
		}, []string{
			cprefix + `typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"].auto_config: unsupported field`,
			cprefix + `typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"].explicit_http_config: missing`,
		}},
		{"HTTP/2 options", func(t *testing.T, c *clusterv3.Cluster) {
			c.TypedExtensionProtocolOptions["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"] = mustAny(t, &httpv3.HttpProtocolOptions{
				UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
					ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{Http2ProtocolOptions: &corev3.Http2ProtocolOptions{
						MaxConcurrentStreams: wrapperspb.UInt32(10),
					}},
				}},
			})
		}, []string{cprefix + `typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"].explicit_http_config.http2_protocol_options.max_concurrent_streams: unsupported field`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dp, _ := newDataplane(t, newCA(t, "cluster.local"), clientID)
			c := httpOutboundCluster(t, name, outboundSNI, serverID)
			tt.edit(t, c)
			checkErrors(t, dp.OnClusters(t.Context(), []*clusterv3.Cluster{c}), tt.errors)
		})
	}
}

func TestRouteValidation(t *testing.T) {
	dp, _ := newDataplane(t, newCA(t, "cluster.local"), clientID)
	good := routeTo("a", "v", "c")
	bad := routeTo("b", "v", "c")
	bad.VirtualHosts[0].Routes[0].Match.PathSpecifier = nil
	if err := dp.OnRoutes(t.Context(), []*routev3.RouteConfiguration{good, bad}); err == nil {
		t.Fatal("an invalid route configuration was accepted")
	}
	must(t, dp.OnRoutes(t.Context(), []*routev3.RouteConfiguration{good}))
	if err := dp.OnRoutes(t.Context(), []*routev3.RouteConfiguration{good, good}); err == nil || err.Error() != `route_config "a": duplicate name` {
		t.Errorf("duplicate names: %v", err)
	}
}
