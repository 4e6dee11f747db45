package dataplane_test

import (
	"strings"
	"testing"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	filev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/file/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	httpinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/http_inspector/v3"
	proxyprotocolv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/proxy_protocol/v3"
	tlsinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// downstreamTLS returns the listener's DownstreamTlsContext for editing;
// setDownstreamTLS stores it back.
func downstreamTLS(t *testing.T, l *listenerv3.Listener) *tlsv3.DownstreamTlsContext {
	t.Helper()
	var d tlsv3.DownstreamTlsContext
	must(t, l.FilterChains[0].GetTransportSocket().GetTypedConfig().UnmarshalTo(&d))
	return &d
}

func setDownstreamTLS(t *testing.T, l *listenerv3.Listener, d *tlsv3.DownstreamTlsContext) {
	l.FilterChains[0].GetTransportSocket().ConfigType = &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(t, d)}
}

func setTCPProxy(t *testing.T, l *listenerv3.Listener, tp *tcpproxyv3.TcpProxy) {
	l.FilterChains[0].Filters[0].ConfigType = &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(t, tp)}
}

func TestListenerValidation(t *testing.T) {
	const name = "inbound|9000"
	tests := []struct {
		name   string
		edit   func(t *testing.T, l *listenerv3.Listener) []*listenerv3.Listener
		errors []string
	}{
		{"http_connection_manager without routes or filters", func(t *testing.T, l *listenerv3.Listener) []*listenerv3.Listener {
			l.FilterChains[0].Filters[0].ConfigType = &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(t, &hcmv3.HttpConnectionManager{StatPrefix: "x"})}
			return nil
		}, []string{
			`listener "inbound|9000": filter_chains[0].filters[0].typed_config.rds: missing`,
			`listener "inbound|9000": filter_chains[0].filters[0].typed_config.http_filters: want envoy.filters.http.router last, got none`,
		}},
		{"listener_filters and transparent", func(t *testing.T, l *listenerv3.Listener) []*listenerv3.Listener {
			l.ListenerFilters = []*listenerv3.ListenerFilter{{Name: "envoy.filters.listener.tls_inspector"}}
			l.Transparent = wrapperspb.Bool(true)
			return nil
		}, []string{
			`listener "inbound|9000": transparent: unsupported field`,
			`listener "inbound|9000": listener_filters[0].typed_config: missing`,
		}},
		{"two listener filters", func(t *testing.T, l *listenerv3.Listener) []*listenerv3.Listener {
			f := &listenerv3.ListenerFilter{Name: "envoy.filters.listener.http_inspector", ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: mustAny(t, &httpinspectorv3.HttpInspector{})}}
			l.ListenerFilters = []*listenerv3.ListenerFilter{f, f}
			return nil
		}, []string{`listener "inbound|9000": listener_filters[1]: duplicate envoy.filters.listener.http_inspector`}},
		{"inspected chains", func(t *testing.T, l *listenerv3.Listener) []*listenerv3.Listener {
			l.ListenerFilters = []*listenerv3.ListenerFilter{{Name: "envoy.filters.listener.http_inspector", ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: mustAny(t, &httpinspectorv3.HttpInspector{})}}}
			second := proto.Clone(l.FilterChains[0]).(*listenerv3.FilterChain)
			second.TransportSocket = nil
			second.FilterChainMatch = &listenerv3.FilterChainMatch{ApplicationProtocols: []string{"h2c", "h2"}, SourceType: listenerv3.FilterChainMatch_EXTERNAL}
			l.FilterChains = append(l.FilterChains, second, l.FilterChains[0])
			return nil
		}, []string{
			`listener "inbound|9000": filter_chains[1].transport_socket: must equal filter_chains[0].transport_socket`,
			`listener "inbound|9000": filter_chains[1].filter_chain_match.source_type: unsupported field`,
			`listener "inbound|9000": filter_chains[1].filter_chain_match.application_protocols[1]: unsupported protocol "h2", want one of ["http/1.0" "http/1.1" "h2c"]`,
			`listener "inbound|9000": filter_chains: at most one chain may have no filter_chain_match, got 2`,
		}},
		{"two filter chains", func(t *testing.T, l *listenerv3.Listener) []*listenerv3.Listener {
			l.FilterChains = append(l.FilterChains, l.FilterChains[0])
			return nil
		}, []string{`listener "inbound|9000": filter_chains: want exactly one filter chain without the HTTP or TLS inspector, got 2`}},
		{"filter_chain_match", func(t *testing.T, l *listenerv3.Listener) []*listenerv3.Listener {
			l.FilterChains[0].FilterChainMatch = &listenerv3.FilterChainMatch{SourcePorts: []uint32{80}}
			return nil
		}, []string{
			`listener "inbound|9000": filter_chains[0].filter_chain_match.source_ports: unsupported field`,
			`listener "inbound|9000": filter_chains[0].filter_chain_match: needs the HTTP inspector listener filter`,
		}},
		{"two network filters", func(t *testing.T, l *listenerv3.Listener) []*listenerv3.Listener {
			l.FilterChains[0].Filters = append(l.FilterChains[0].Filters, l.FilterChains[0].Filters[0])
			return nil
		}, []string{`listener "inbound|9000": filter_chains[0].filters: want exactly one network filter, got 2`}},
		{"weighted_clusters", func(t *testing.T, l *listenerv3.Listener) []*listenerv3.Listener {
			setTCPProxy(t, l, &tcpproxyv3.TcpProxy{StatPrefix: "x", ClusterSpecifier: &tcpproxyv3.TcpProxy_WeightedClusters{
				WeightedClusters: &tcpproxyv3.TcpProxy_WeightedCluster{Clusters: []*tcpproxyv3.TcpProxy_WeightedCluster_ClusterWeight{{Name: "a", Weight: 0}}},
			}})
			return nil
		}, []string{`listener "inbound|9000": filter_chains[0].filters[0].typed_config.weighted_clusters.clusters: want at least one cluster with a weight above zero`}},
		{"tcp_proxy access_log", func(t *testing.T, l *listenerv3.Listener) []*listenerv3.Listener {
			setTCPProxy(t, l, &tcpproxyv3.TcpProxy{
				StatPrefix: "x", ClusterSpecifier: &tcpproxyv3.TcpProxy_Cluster{Cluster: "c"},
				AccessLog: []*accesslogv3.AccessLog{
					{Name: "envoy.access_loggers.stdout"},
					{Name: "router", ConfigType: &accesslogv3.AccessLog_TypedConfig{TypedConfig: mustAny(t, &routerv3.Router{})}},
					{Name: "file", ConfigType: &accesslogv3.AccessLog_TypedConfig{TypedConfig: mustAny(t, &filev3.FileAccessLog{})}},
				},
				AccessLogOptions: &tcpproxyv3.TcpProxy_TcpAccessLogOptions{FlushAccessLogOnConnected: true},
			})
			return nil
		}, []string{
			`listener "inbound|9000": filter_chains[0].filters[0].typed_config.access_log_options: unsupported field`,
			`listener "inbound|9000": filter_chains[0].filters[0].typed_config.access_log[0].typed_config: missing`,
			`listener "inbound|9000": filter_chains[0].filters[0].typed_config.access_log[1].typed_config: unsupported access logger "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"`,
			`listener "inbound|9000": filter_chains[0].filters[0].typed_config.access_log[2].typed_config.path: missing`,
		}},
		{"tcp_proxy without cluster", func(t *testing.T, l *listenerv3.Listener) []*listenerv3.Listener {
			setTCPProxy(t, l, &tcpproxyv3.TcpProxy{StatPrefix: "x"})
			return nil
		}, []string{`listener "inbound|9000": filter_chains[0].filters[0].typed_config.cluster: missing`}},
		{"pipe address", func(t *testing.T, l *listenerv3.Listener) []*listenerv3.Listener {
			l.Address = &corev3.Address{Address: &corev3.Address_Pipe{Pipe: &corev3.Pipe{Path: "/tmp/sock"}}}
			return nil
		}, []string{`listener "inbound|9000": address.pipe: unsupported field`}},
		{"host name address and UDP", func(t *testing.T, l *listenerv3.Listener) []*listenerv3.Listener {
			sa := l.Address.GetSocketAddress()
			sa.Address, sa.Protocol = "localhost", corev3.SocketAddress_UDP
			return nil
		}, []string{
			`listener "inbound|9000": address.socket_address.protocol: unsupported protocol UDP`,
			`listener "inbound|9000": address.socket_address.address: "localhost" is not an IP address`,
		}},
		{"client certificate not required", func(t *testing.T, l *listenerv3.Listener) []*listenerv3.Listener {
			d := downstreamTLS(t, l)
			d.RequireClientCertificate = nil
			setDownstreamTLS(t, l, d)
			return nil
		}, []string{`listener "inbound|9000": filter_chains[0].transport_socket.typed_config.require_client_certificate: must be true`}},
		{"unknown secret and tls_params", func(t *testing.T, l *listenerv3.Listener) []*listenerv3.Listener {
			d := downstreamTLS(t, l)
			d.CommonTlsContext.TlsCertificateSdsSecretConfigs[0].Name = "file-cert"
			d.CommonTlsContext.TlsParams = &tlsv3.TlsParameters{TlsMinimumProtocolVersion: tlsv3.TlsParameters_TLSv1_2}
			setDownstreamTLS(t, l, d)
			return nil
		}, []string{
			`listener "inbound|9000": filter_chains[0].transport_socket.typed_config.common_tls_context.tls_params: unsupported field`,
			`listener "inbound|9000": filter_chains[0].transport_socket.typed_config.common_tls_context.tls_certificate_sds_secret_configs[0].name: unknown secret "file-cert", want "default"`,
		}},
		{"DNS SAN and suffix matcher", func(t *testing.T, l *listenerv3.Listener) []*listenerv3.Listener {
			d := downstreamTLS(t, l)
			m := d.CommonTlsContext.GetCombinedValidationContext().DefaultValidationContext.MatchTypedSubjectAltNames[0]
			m.SanType = tlsv3.SubjectAltNameMatcher_DNS
			m.Matcher = &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Suffix{Suffix: ".local"}}
			setDownstreamTLS(t, l, d)
			return nil
		}, []string{
			`listener "inbound|9000": filter_chains[0].transport_socket.typed_config.common_tls_context.combined_validation_context.default_validation_context.match_typed_subject_alt_names[0].san_type: unsupported SAN type DNS, want URI`,
			`listener "inbound|9000": filter_chains[0].transport_socket.typed_config.common_tls_context.combined_validation_context.default_validation_context.match_typed_subject_alt_names[0].matcher.suffix: unsupported field`,
		}},
		{"ignore_case", func(t *testing.T, l *listenerv3.Listener) []*listenerv3.Listener {
			d := downstreamTLS(t, l)
			d.CommonTlsContext.GetCombinedValidationContext().DefaultValidationContext.MatchTypedSubjectAltNames[0].Matcher.IgnoreCase = true
			setDownstreamTLS(t, l, d)
			return nil
		}, []string{`listener "inbound|9000": filter_chains[0].transport_socket.typed_config.common_tls_context.combined_validation_context.default_validation_context.match_typed_subject_alt_names[0].matcher.ignore_case: unsupported field`}},
		{"upstream context on a listener", func(t *testing.T, l *listenerv3.Listener) []*listenerv3.Listener {
			l.FilterChains[0].TransportSocket.ConfigType = &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(t, &tlsv3.UpstreamTlsContext{})}
			return nil
		}, []string{`listener "inbound|9000": filter_chains[0].transport_socket.typed_config: unsupported type "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"`}},
		{"transport_protocol without the TLS inspector", func(t *testing.T, l *listenerv3.Listener) []*listenerv3.Listener {
			l.FilterChains[0].FilterChainMatch = &listenerv3.FilterChainMatch{TransportProtocol: "tls"}
			return nil
		}, []string{`listener "inbound|9000": filter_chains[0].filter_chain_match.transport_protocol: needs the TLS inspector listener filter`}},
		{"unknown transport_protocol", func(t *testing.T, l *listenerv3.Listener) []*listenerv3.Listener {
			l.ListenerFilters = []*listenerv3.ListenerFilter{tlsInspectorFilter(t)}
			l.FilterChains[0].FilterChainMatch = &listenerv3.FilterChainMatch{TransportProtocol: "quic"}
			return nil
		}, []string{`listener "inbound|9000": filter_chains[0].filter_chain_match.transport_protocol: unsupported transport protocol "quic", want "tls" or "raw_buffer"`}},
		{"two tls chains with different transport sockets", func(t *testing.T, l *listenerv3.Listener) []*listenerv3.Listener {
			l.ListenerFilters = []*listenerv3.ListenerFilter{tlsInspectorFilter(t), {Name: "envoy.filters.listener.http_inspector", ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: mustAny(t, &httpinspectorv3.HttpInspector{})}}}
			second := proto.Clone(l.FilterChains[0]).(*listenerv3.FilterChain)
			l.FilterChains[0].FilterChainMatch = &listenerv3.FilterChainMatch{TransportProtocol: "tls", ApplicationProtocols: []string{"h2c"}}
			second.FilterChainMatch = &listenerv3.FilterChainMatch{TransportProtocol: "tls"}
			l.FilterChains = append(l.FilterChains, second)
			d := downstreamTLS(t, l)
			d.CommonTlsContext.AlpnProtocols = []string{"h2"}
			setDownstreamTLS(t, l, d)
			return nil
		}, []string{`listener "inbound|9000": filter_chains[1].transport_socket: must equal filter_chains[0].transport_socket`}},
		{"plaintext chain with TLS, TLS chain without", func(t *testing.T, l *listenerv3.Listener) []*listenerv3.Listener {
			l.ListenerFilters = []*listenerv3.ListenerFilter{tlsInspectorFilter(t)}
			second := proto.Clone(l.FilterChains[0]).(*listenerv3.FilterChain)
			l.FilterChains[0].FilterChainMatch = &listenerv3.FilterChainMatch{TransportProtocol: "raw_buffer"}
			second.FilterChainMatch = &listenerv3.FilterChainMatch{TransportProtocol: "tls"}
			second.TransportSocket = nil
			l.FilterChains = append(l.FilterChains, second)
			return nil
		}, []string{
			`listener "inbound|9000": filter_chains[0].transport_socket: must be empty: a chain with transport_protocol "raw_buffer" is plaintext`,
			`listener "inbound|9000": filter_chains[1].transport_socket: missing: a chain with transport_protocol "tls" terminates TLS`,
		}},
		{"two default chains of one transport protocol", func(t *testing.T, l *listenerv3.Listener) []*listenerv3.Listener {
			l.ListenerFilters = []*listenerv3.ListenerFilter{tlsInspectorFilter(t)}
			l.FilterChains[0].FilterChainMatch = &listenerv3.FilterChainMatch{TransportProtocol: "tls"}
			l.FilterChains = append(l.FilterChains, l.FilterChains[0])
			return nil
		}, []string{`listener "inbound|9000": filter_chains: at most one chain with transport_protocol "tls" may have no application_protocols, got 2`}},
		{"unknown listener filter", func(t *testing.T, l *listenerv3.Listener) []*listenerv3.Listener {
			l.ListenerFilters = []*listenerv3.ListenerFilter{{Name: "envoy.filters.listener.proxy_protocol", ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: mustAny(t, &proxyprotocolv3.ProxyProtocol{AllowRequestsWithoutProxyProtocol: true})}}}
			return nil
		}, []string{`listener "inbound|9000": listener_filters[0].typed_config.allow_requests_without_proxy_protocol: unsupported field`}},
		{"TLS inspector after the HTTP inspector, with JA3", func(t *testing.T, l *listenerv3.Listener) []*listenerv3.Listener {
			ti := tlsInspectorFilter(t)
			ti.ConfigType = &listenerv3.ListenerFilter_TypedConfig{TypedConfig: mustAny(t, &tlsinspectorv3.TlsInspector{EnableJa3Fingerprinting: wrapperspb.Bool(true)})}
			l.ListenerFilters = []*listenerv3.ListenerFilter{{Name: "envoy.filters.listener.http_inspector", ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: mustAny(t, &httpinspectorv3.HttpInspector{})}}, ti}
			return nil
		}, []string{
			`listener "inbound|9000": listener_filters[1].typed_config.enable_ja3_fingerprinting: unsupported field`,
			`listener "inbound|9000": listener_filters[1]: envoy.filters.listener.tls_inspector must come before envoy.filters.listener.http_inspector`,
		}},
		{"OUTBOUND listener with TLS", func(t *testing.T, l *listenerv3.Listener) []*listenerv3.Listener {
			l.TrafficDirection = corev3.TrafficDirection_OUTBOUND
			return nil
		}, []string{`listener "inbound|9000": traffic_direction: an OUTBOUND listener cannot terminate TLS`}},
		{"duplicate name", func(t *testing.T, l *listenerv3.Listener) []*listenerv3.Listener {
			return []*listenerv3.Listener{l, inboundListener(t, name, "127.0.0.1:1", name, "spiffe://cluster.local/")}
		}, []string{`listener "inbound|9000": duplicate name`}},
		{"shared address", func(t *testing.T, l *listenerv3.Listener) []*listenerv3.Listener {
			return []*listenerv3.Listener{l, outboundListener(t, "outbound|a.b|80", "127.0.0.1:15999", "c")}
		}, []string{`listener "outbound|a.b|80": address: 127.0.0.1:15999 is also the address of listener "inbound|9000"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dp, _ := newDataplane(t, newCA(t, "cluster.local"), clientID)
			l := inboundListener(t, name, "127.0.0.1:15999", name, "spiffe://cluster.local/")
			set := tt.edit(t, l)
			if set == nil {
				set = []*listenerv3.Listener{l}
			}
			err := dp.OnListeners(t.Context(), set)
			checkErrors(t, err, tt.errors)
			if _, bound := dp.ListenerAddr(name); bound {
				t.Error("an invalid listener set was applied")
			}
		})
	}
}

func TestClusterValidation(t *testing.T) {
	const name = "outbound|9000||echo.default.svc.cluster.local"
	tests := []struct {
		name   string
		edit   func(t *testing.T, c *clusterv3.Cluster)
		errors []string
	}{
		{"STRICT_DNS", func(t *testing.T, c *clusterv3.Cluster) {
			c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STRICT_DNS}
		}, []string{`cluster "outbound|9000||echo.default.svc.cluster.local": type: unsupported cluster type STRICT_DNS`}},
		{"RING_HASH and common_lb_config", func(t *testing.T, c *clusterv3.Cluster) {
			c.LbPolicy = clusterv3.Cluster_RING_HASH
			c.CommonLbConfig = &clusterv3.Cluster_CommonLbConfig{}
		}, []string{
			`cluster "outbound|9000||echo.default.svc.cluster.local": common_lb_config: unsupported field`,
		}},
		{"EDS from a gRPC API source", func(t *testing.T, c *clusterv3.Cluster) {
			c.EdsClusterConfig.EdsConfig.ConfigSourceSpecifier = &corev3.ConfigSource_ApiConfigSource{ApiConfigSource: &corev3.ApiConfigSource{}}
		}, []string{`cluster "outbound|9000||echo.default.svc.cluster.local": eds_cluster_config.eds_config.api_config_source: unsupported field`}},
		{"EDS without config source", func(t *testing.T, c *clusterv3.Cluster) {
			c.EdsClusterConfig = nil
		}, []string{`cluster "outbound|9000||echo.default.svc.cluster.local": eds_cluster_config: missing`}},
		{"auto_host_sni and a bad exact matcher", func(t *testing.T, c *clusterv3.Cluster) {
			u := &tlsv3.UpstreamTlsContext{AutoHostSni: true, CommonTlsContext: commonTLS(uriMatchers([]string{"not-an-id"}, nil))}
			c.TransportSocket.ConfigType = &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(t, u)}
		}, []string{
			`cluster "outbound|9000||echo.default.svc.cluster.local": transport_socket.typed_config.auto_host_sni: unsupported field`,
			`cluster "outbound|9000||echo.default.svc.cluster.local": transport_socket.typed_config.common_tls_context.combined_validation_context.default_validation_context.match_typed_subject_alt_names[0].matcher.exact: "not-an-id" is not a SPIFFE ID: scheme is missing or invalid`,
		}},
		{"raw buffer transport socket", func(t *testing.T, c *clusterv3.Cluster) {
			c.TransportSocket.Name = "envoy.transport_sockets.raw_buffer"
		}, []string{`cluster "outbound|9000||echo.default.svc.cluster.local": transport_socket.name: unsupported transport socket "envoy.transport_sockets.raw_buffer"`}},
		{"STATIC endpoint with port 0", func(t *testing.T, c *clusterv3.Cluster) {
			*c = *staticCluster(t, name, "127.0.0.1:0")
		}, []string{`cluster "outbound|9000||echo.default.svc.cluster.local": load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value: missing`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dp, _ := newDataplane(t, newCA(t, "cluster.local"), clientID)
			c := edsCluster(t, name, "sni", serverID)
			tt.edit(t, c)
			checkErrors(t, dp.OnClusters(t.Context(), []*clusterv3.Cluster{c}), tt.errors)
		})
	}
}

func TestEndpointValidation(t *testing.T) {
	const name = "outbound|9000||echo.default.svc.cluster.local"
	tests := []struct {
		name   string
		edit   func(t *testing.T, c *endpointv3.ClusterLoadAssignment)
		errors []string
	}{
		{"zero endpoint weight and named endpoint", func(t *testing.T, c *endpointv3.ClusterLoadAssignment) {
			c.Endpoints[0].LbEndpoints[0].LoadBalancingWeight = wrapperspb.UInt32(0)
			c.Endpoints[0].LbEndpoints[1].HostIdentifier = &endpointv3.LbEndpoint_EndpointName{EndpointName: "x"}
		}, []string{
			`endpoints "outbound|9000||echo.default.svc.cluster.local": endpoints[0].lb_endpoints[0].load_balancing_weight: must be at least 1`,
			`endpoints "outbound|9000||echo.default.svc.cluster.local": endpoints[0].lb_endpoints[1].endpoint_name: unsupported field`,
		}},
		{"priority and policy", func(t *testing.T, c *endpointv3.ClusterLoadAssignment) {
			c.Endpoints[0].Priority = 1
			c.Policy = &endpointv3.ClusterLoadAssignment_Policy{}
		}, []string{
			`endpoints "outbound|9000||echo.default.svc.cluster.local": policy: unsupported field`,
			`endpoints "outbound|9000||echo.default.svc.cluster.local": endpoints[0].priority: unsupported field`,
		}},
		{"no cluster name", func(t *testing.T, c *endpointv3.ClusterLoadAssignment) {
			c.ClusterName = ""
		}, []string{`endpoints "": cluster_name: missing`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dp, _ := newDataplane(t, newCA(t, "cluster.local"), clientID)
			c := assignment(t, name, "127.0.0.1:1", "127.0.0.1:2")
			tt.edit(t, c)
			checkErrors(t, dp.OnEndpoints(t.Context(), []*endpointv3.ClusterLoadAssignment{c}), tt.errors)
		})
	}
}

// TestTLSWithoutIdentity checks that a dataplane without certificate
// sources refuses mTLS configuration instead of failing at handshake.
func TestTLSWithoutIdentity(t *testing.T) {
	dp, _ := newPlainDataplane(t)
	err := dp.OnListeners(t.Context(), []*listenerv3.Listener{inboundListener(t, "inbound|9000", "127.0.0.1:0", "c", "spiffe://cluster.local/")})
	checkErrors(t, err, []string{`listener "inbound|9000": filter_chains[0].transport_socket: mTLS needs the workload certificate and trust bundle, and the dataplane has none`})
}

func checkErrors(t *testing.T, err error, want []string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want:\n%s", strings.Join(want, "\n"))
	}
	if got := err.Error(); got != strings.Join(want, "\n") {
		t.Fatalf("error:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
}
