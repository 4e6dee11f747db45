package translate

import (
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	httpinspector "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/http_inspector/v3"
	tlsinspector "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/controlplane/model"
)

// Transport protocols the TLS inspector reports: the filter_chain_match of
// a PERMISSIVE listener's mTLS and plaintext chains.
const (
	transportTLS = "tls"
	transportRaw = "raw_buffer"
)

// inboundChain is one filter chain of an inbound listener in the STRICT
// shape, before the port's mTLS mode is applied: kind names it in a
// PERMISSIVE listener ("http" or "tcp" on a sniffed port, empty
// otherwise), applicationProtocols is its sniffed-HTTP match.
type inboundChain struct {
	kind                 string
	applicationProtocols []string
	filters              []*listener.Filter
}

// applyMTLSMode builds the filter chains and listener filters of l from
// chains, as docs/xds.md ("Peer authentication") says for mode: STRICT
// puts ts on every chain, DISABLE none, and PERMISSIVE starts with the TLS
// inspector and lists every chain twice, first behind ts for TLS, then
// plaintext. sniffed adds the HTTP inspector.
func applyMTLSMode(l *listener.Listener, mode v1alpha1.MTLSMode, chains []inboundChain, ts *core.TransportSocket, sniffed bool) error {
	var lfs []*listener.ListenerFilter
	if mode == v1alpha1.MTLSPermissive {
		f, err := listenerFilter(wellknown.TLSInspector, &tlsinspector.TlsInspector{})
		if err != nil {
			return err
		}
		lfs = append(lfs, f)
	}
	if sniffed {
		f, err := listenerFilter(wellknown.HTTPInspector, &httpinspector.HttpInspector{})
		if err != nil {
			return err
		}
		lfs = append(lfs, f)
	}
	l.ListenerFilters = lfs

	l.FilterChains = nil
	switch mode {
	case v1alpha1.MTLSDisable:
		for _, c := range chains {
			l.FilterChains = append(l.FilterChains, c.filterChain("", "", nil))
		}
	case v1alpha1.MTLSPermissive:
		for _, c := range chains {
			l.FilterChains = append(l.FilterChains, c.filterChain(chainName("mtls", c.kind), transportTLS, ts))
		}
		for _, c := range chains {
			l.FilterChains = append(l.FilterChains, c.filterChain(chainName("plaintext", c.kind), transportRaw, nil))
		}
	default: // STRICT; model.Mesh.MTLSMode never returns anything else
		for _, c := range chains {
			l.FilterChains = append(l.FilterChains, c.filterChain("", "", ts))
		}
	}
	return nil
}

// filterChain is c named name, matching transport protocol transport (any
// when empty), behind ts (plaintext when nil).
func (c inboundChain) filterChain(name, transport string, ts *core.TransportSocket) *listener.FilterChain {
	fc := &listener.FilterChain{Name: name, Filters: c.filters, TransportSocket: ts}
	if transport != "" || len(c.applicationProtocols) > 0 {
		fc.FilterChainMatch = &listener.FilterChainMatch{
			TransportProtocol:    transport,
			ApplicationProtocols: c.applicationProtocols,
		}
	}
	return fc
}

func chainName(transport, kind string) string {
	if kind == "" {
		return transport
	}
	return transport + "-" + kind
}

// upstreamEndpoints applies the servers' mTLS modes to the endpoints
// behind one service port, as mesh clients follow them: plaintext is true
// when every endpoint's workload runs DISABLE on the endpoint's port (and
// there is at least one endpoint); otherwise the cluster keeps mTLS and
// kept leaves the DISABLE endpoints out, since they would refuse it.
func upstreamEndpoints(m *model.Mesh, eps []model.Endpoint) (kept []model.Endpoint, plaintext bool) {
	kept = make([]model.Endpoint, 0, len(eps))
	for _, ep := range eps {
		if endpointMode(m, ep) != v1alpha1.MTLSDisable {
			kept = append(kept, ep)
		}
	}
	if len(eps) > 0 && len(kept) == 0 {
		return eps, true
	}
	return kept, false
}

// endpointMode is the mTLS mode the workload behind ep runs on ep's port.
func endpointMode(m *model.Mesh, ep model.Endpoint) v1alpha1.MTLSMode {
	w := m.Workload(ep.Workload)
	if w == nil {
		return v1alpha1.MTLSPermissive // model.Mesh.Endpoints only returns its own workloads
	}
	return m.MTLSMode(w, uint32(ep.Address.Port()))
}
