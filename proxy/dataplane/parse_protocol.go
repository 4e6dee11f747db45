package dataplane

import (
	"fmt"
	"maps"
	"slices"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
)

// httpProtocolOptions is the only typed_extension_protocol_options key a
// cluster may carry.
const httpProtocolOptions = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

// parseProtocolOptions checks a cluster's typed_extension_protocol_options
// and reports whether it asks for HTTP/2 upstream. Only an explicit
// HTTP/1.1 or HTTP/2 choice, with no options of its own, is supported.
func parseProtocolOptions(p *problems, c *clusterv3.Cluster) bool {
	opts := c.GetTypedExtensionProtocolOptions()
	http2 := false
	for _, key := range slices.Sorted(maps.Keys(opts)) {
		path := fmt.Sprintf("typed_extension_protocol_options[%q]", key)
		if key != httpProtocolOptions {
			p.Addf(path, "unsupported extension")
			continue
		}
		var o httpv3.HttpProtocolOptions
		if !unpackTyped(p, path, opts[key], &o) {
			continue
		}
		p.OnlyFields(path, &o, "explicit_http_config")
		e := o.GetExplicitHttpConfig()
		path = field(path, "explicit_http_config")
		if e == nil {
			p.Addf(path, "missing")
			continue
		}
		p.OnlyFields(path, e, "http_protocol_options", "http2_protocol_options")
		switch pc := e.GetProtocolConfig().(type) {
		case *httpv3.HttpProtocolOptions_ExplicitHttpConfig_HttpProtocolOptions:
			p.OnlyFields(field(path, "http_protocol_options"), pc.HttpProtocolOptions)
		case *httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions:
			p.OnlyFields(field(path, "http2_protocol_options"), pc.Http2ProtocolOptions)
			http2 = true
		case nil:
			p.Addf(field(path, "http2_protocol_options"), "missing")
		}
	}
	return http2
}
