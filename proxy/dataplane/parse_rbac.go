package dataplane

import (
	"net"
	"net/netip"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	httprbacv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	netrbacv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/rbac/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/weftmesh/weft/proxy/rbac"
)

// resultRBACDenied is the result of weft_proxy_connections_total, and the
// reason logged, for a TCP connection an RBAC filter denied.
const resultRBACDenied = "rbac_denied"

// netRBACTypeURL is the typed_config of a network RBAC filter.
var netRBACTypeURL = "type.googleapis.com/" + string((&netrbacv3.RBAC{}).ProtoReflect().Descriptor().FullName())

// parseHTTPRBAC compiles the typed_config of an envoy.filters.http.rbac
// filter at path into chain.
func parseHTTPRBAC(p *problems, path string, tc *anypb.Any, chain *rbac.Chain) {
	var cfg httprbacv3.RBAC
	if unpackTyped(p, path, tc, &cfg) {
		chain.Append(p, path, rbac.CompileHTTP(p, path, &cfg))
	}
}

// parseNetworkRBAC compiles the typed_config of an
// envoy.filters.network.rbac filter at path into chain.
func parseNetworkRBAC(p *problems, path string, tc *anypb.Any, chain *rbac.Chain) {
	var cfg netrbacv3.RBAC
	if unpackTyped(p, path, tc, &cfg) {
		chain.Append(p, path, rbac.CompileNetwork(p, path, &cfg))
	}
}

// connInput is what network RBAC filters decide a connection on.
func connInput(c net.Conn, peer string) *rbac.Input {
	return &rbac.Input{PeerID: peer, RemoteIP: addrOf(c.RemoteAddr()).Addr(), DestinationPort: addrOf(c.LocalAddr()).Port()}
}

func addrOf(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort()
	}
	if a == nil {
		return netip.AddrPort{}
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

// parseNetworkRBACFilters compiles the envoy.filters.network.rbac filters
// that start a chain's filters, and returns them with the index of the
// first other filter.
func parseNetworkRBACFilters(p *problems, path string, filters []*listenerv3.Filter) (*rbac.Chain, int) {
	authz := &rbac.Chain{}
	n := 0
	for ; n < len(filters) && filters[n].GetTypedConfig().GetTypeUrl() == netRBACTypeURL; n++ {
		fpath := index(field(path, "filters"), n)
		p.OnlyFields(fpath, filters[n], "name", "typed_config")
		parseNetworkRBAC(p, field(fpath, "typed_config"), filters[n].GetTypedConfig(), authz)
	}
	return authz, n
}

// authorizeConn runs the network RBAC filters of a TCP chain on a new
// connection, before any upstream connection is made, and returns their
// decision (allowed, with no reason, without filters); a denied
// connection is counted and logged here.
func (d *Dataplane) authorizeConn(cfg *listenerConfig, chain *chainConfig, down net.Conn, peer string) rbac.Decision {
	if chain.authz.Len() == 0 {
		return rbac.Decision{Allowed: true}
	}
	dec := chain.authz.Evaluate(connInput(down, peer))
	d.metrics.authz.Observe(cfg.name, dec)
	log := d.log.With("listener", cfg.name, "remote", down.RemoteAddr().String(), "peer_id", peer)
	if len(dec.Audited) > 0 {
		log.Info("connection audited", "policies", dec.Audited, "allowed", dec.Allowed)
	}
	if !dec.Allowed {
		d.metrics.connections.WithLabelValues(cfg.name, cfg.direction, peer, resultRBACDenied).Inc()
		log.Info("connection refused", "reason", resultRBACDenied, "policy", dec.Policy, "authz_reason", dec.Reason)
	}
	return dec
}
