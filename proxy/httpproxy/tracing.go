package httpproxy

import (
	"net/http"

	"github.com/weftmesh/weft/proxy/tracing"
)

// startSpan starts the span of a request on l: SERVER on inbound
// listeners, CLIENT on the others. It is nil when the Proxy does not
// trace (Config.Tracer nil), and then trace headers pass untouched.
func (p *Proxy) startSpan(r *http.Request, l *Listener) *tracing.Span {
	kind := tracing.Client
	if l.Direction == "inbound" {
		kind = tracing.Server
	}
	return p.cfg.Tracer.Start(r, kind)
}

// operationName names a request's span by where it was routed: the
// route's name, or the cluster of an unnamed route; "" keeps the method.
func operationName(a Action) string {
	if a.Route != "" {
		return a.Route
	}
	return a.Cluster
}
