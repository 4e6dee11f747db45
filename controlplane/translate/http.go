package translate

import (
	"time"

	accesslog "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	streamlog "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"
	router "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	upstreamhttp "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
)

// HTTPProtocolOptionsKey is the typed_extension_protocol_options key of a
// cluster's upstream HTTP settings.
const HTTPProtocolOptionsKey = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

// ALPN protocol IDs the TLS contexts of HTTP ports offer.
const (
	alpnH2     = "h2"
	alpnHTTP11 = "http/1.1"
)

// routeTimeout is every route's timeout: zero, that is none, so that long
// streams (gRPC, server-sent events) are not cut.
const routeTimeout = 0 * time.Second

// httpFilter is the HTTP connection manager network filter: stat prefix
// name, codec AUTO, the router as its only HTTP filter, and either rds (the
// RouteConfiguration of that name over ADS) or an inline route config;
// with logged, an access log to stdout (model.Mesh.AccessLog).
func httpFilter(name string, routes *route.RouteConfiguration, logged bool) (*listener.Filter, error) {
	routerCfg, err := typed(&router.Router{})
	if err != nil {
		return nil, err
	}
	m := &hcm.HttpConnectionManager{
		StatPrefix: name,
		CodecType:  hcm.HttpConnectionManager_AUTO,
		HttpFilters: []*hcm.HttpFilter{{
			Name:       wellknown.Router,
			ConfigType: &hcm.HttpFilter_TypedConfig{TypedConfig: routerCfg},
		}},
	}
	if logged {
		if m.AccessLog, err = stdoutAccessLogs(); err != nil {
			return nil, err
		}
	}
	if routes != nil {
		m.RouteSpecifier = &hcm.HttpConnectionManager_RouteConfig{RouteConfig: routes}
	} else {
		m.RouteSpecifier = &hcm.HttpConnectionManager_Rds{Rds: &hcm.Rds{
			ConfigSource:    adsSource(),
			RouteConfigName: name,
		}}
	}
	cfg, err := typed(m)
	if err != nil {
		return nil, err
	}
	return &listener.Filter{
		Name:       wellknown.HTTPConnectionManager,
		ConfigType: &listener.Filter_TypedConfig{TypedConfig: cfg},
	}, nil
}

// stdoutAccessLog is the access logger HTTP connection managers write to.
const stdoutAccessLog = "envoy.access_loggers.stdout"

// stdoutAccessLogs is an HTTP connection manager's access_log: one JSON
// line per request on the proxy's stdout. Gateways always have it,
// sidecars when the mesh's AccessLog is set.
func stdoutAccessLogs() ([]*accesslog.AccessLog, error) {
	cfg, err := typed(&streamlog.StdoutAccessLog{})
	if err != nil {
		return nil, err
	}
	return []*accesslog.AccessLog{{Name: stdoutAccessLog, ConfigType: &accesslog.AccessLog_TypedConfig{TypedConfig: cfg}}}, nil
}

// routeConfig is a route configuration with one virtual host for every
// domain that sends every path to clusterName, without timeout.
func routeConfig(name, vhost, clusterName string) *route.RouteConfiguration {
	return &route.RouteConfiguration{
		Name: name,
		VirtualHosts: []*route.VirtualHost{{
			Name:    vhost,
			Domains: []string{"*"},
			Routes: []*route.Route{{
				Match: &route.RouteMatch{PathSpecifier: &route.RouteMatch_Prefix{Prefix: "/"}},
				Action: &route.Route_Route{Route: &route.RouteAction{
					ClusterSpecifier: &route.RouteAction_Cluster{Cluster: clusterName},
					Timeout:          durationpb.New(routeTimeout),
				}},
			}},
		}},
	}
}

// http2Options are a cluster's typed_extension_protocol_options that make
// it speak HTTP/2 to its endpoints.
func http2Options() (map[string]*anypb.Any, error) {
	cfg, err := typed(&upstreamhttp.HttpProtocolOptions{
		UpstreamProtocolOptions: &upstreamhttp.HttpProtocolOptions_ExplicitHttpConfig_{
			ExplicitHttpConfig: &upstreamhttp.HttpProtocolOptions_ExplicitHttpConfig{
				ProtocolConfig: &upstreamhttp.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{
					Http2ProtocolOptions: &core.Http2ProtocolOptions{},
				},
			},
		},
	})
	if err != nil {
		return nil, err
	}
	return map[string]*anypb.Any{HTTPProtocolOptionsKey: cfg}, nil
}

// adsSource is a config source that names the ADS stream, API v3.
func adsSource() *core.ConfigSource {
	return &core.ConfigSource{
		ConfigSourceSpecifier: &core.ConfigSource_Ads{Ads: &core.AggregatedConfigSource{}},
		ResourceApiVersion:    core.ApiVersion_V3,
	}
}
