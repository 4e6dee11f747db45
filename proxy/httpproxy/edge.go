package httpproxy

import (
	"net/http"
	"net/netip"
	"strings"
)

// A gateway's HTTP listeners are the edge of the mesh (docs/gateway.md):
// what an external client says about itself or about the mesh is not
// believed. Sidecar listeners (Edge nil) leave these headers alone.

// Edge is the HTTP connection manager's use_remote_address with its
// companions: the request headers a gateway rewrites before routing.
type Edge struct {
	// TrustedHops is xff_num_trusted_hops: how many of the last
	// X-Forwarded-For entries a client sent are kept.
	TrustedHops uint32
	// PreserveRequestID keeps a client's X-Request-Id
	// (preserve_external_request_id); otherwise a new one replaces it.
	PreserveRequestID bool
	// HTTPS is set when the listener's chain terminates TLS: it is
	// X-Forwarded-Proto.
	HTTPS bool
}

// Edge headers.
const (
	headerXFF        = "X-Forwarded-For"
	headerXFP        = "X-Forwarded-Proto"
	headerXFCC       = "X-Forwarded-Client-Cert"
	headerRequestID  = "X-Request-Id"
	meshHeaderPrefix = "X-Weft-"
)

// apply rewrites the edge headers of a request from remote: the mesh's
// own x-weft-* headers and x-forwarded-client-cert are removed,
// X-Forwarded-For keeps the last TrustedHops entries then gets the peer's
// address, X-Forwarded-Proto tells the listener's scheme, and
// X-Request-Id is dropped (a new one is generated) unless preserved.
func (e *Edge) apply(h http.Header, remote netip.AddrPort) {
	for k := range h {
		if len(k) >= len(meshHeaderPrefix) && strings.EqualFold(k[:len(meshHeaderPrefix)], meshHeaderPrefix) {
			delete(h, k)
		}
	}
	h.Del(headerXFCC)

	var hops []string
	for _, v := range h.Values(headerXFF) {
		for hop := range strings.SplitSeq(v, ",") {
			if hop = strings.TrimSpace(hop); hop != "" {
				hops = append(hops, hop)
			}
		}
	}
	hops = hops[len(hops)-min(len(hops), int(e.TrustedHops)):]
	if remote.IsValid() {
		hops = append(hops, remote.Addr().Unmap().String())
	}
	if len(hops) == 0 {
		h.Del(headerXFF)
	} else {
		h.Set(headerXFF, strings.Join(hops, ", "))
	}

	proto := "http"
	if e.HTTPS {
		proto = "https"
	}
	h.Set(headerXFP, proto)

	if !e.PreserveRequestID || h.Get(headerRequestID) == "" {
		h.Del(headerRequestID) // serveLogged generates a new one
	}
}
