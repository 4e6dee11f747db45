package translate

import (
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	httpinspector "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/http_inspector/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
)

// sniffedHTTP are the application protocols the HTTP inspector reports
// for HTTP: the filter_chain_match of an auto port's HTTP chain.
var sniffedHTTP = []string{"http/1.0", "http/1.1", "h2c"}

// autoListener is the listener of a port that declares no protocol: the
// HTTP inspector sniffs the first bytes (after TLS, for ts not nil), HTTP
// goes to httpFilter, anything else to the default chain's tcpFilter.
func autoListener(l *listener.Listener, httpFilter, tcpFilter *listener.Filter, ts *core.TransportSocket) (*listener.Listener, error) {
	cfg, err := typed(&httpinspector.HttpInspector{})
	if err != nil {
		return nil, err
	}
	l.ListenerFilters = []*listener.ListenerFilter{{
		Name:       wellknown.HTTPInspector,
		ConfigType: &listener.ListenerFilter_TypedConfig{TypedConfig: cfg},
	}}
	l.FilterChains = []*listener.FilterChain{
		{
			FilterChainMatch: &listener.FilterChainMatch{ApplicationProtocols: sniffedHTTP},
			Filters:          []*listener.Filter{httpFilter},
			TransportSocket:  ts,
		},
		{
			Filters:         []*listener.Filter{tcpFilter},
			TransportSocket: ts,
		},
	}
	return l, nil
}
