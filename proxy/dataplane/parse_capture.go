package dataplane

import (
	"fmt"
	"net/netip"
	"slices"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
)

// Listener fields of traffic capture (docs/capture.md): virtualOutbound
// hands each connection to the virtual listener (bind_to_port false) of
// its original destination (use_original_dst); virtualInbound restores
// the original destination (the original_dst listener filter) and picks
// its chain by destination_port.

// originalDstFilterName is the listener filter that restores the original
// destination of a captured connection, as Envoy names it.
const originalDstFilterName = "envoy.filters.listener.original_dst"

// parseCaptureFields checks use_original_dst, bind_to_port and
// additional_addresses, and fills lc.useOriginalDst, lc.virtual and
// lc.addresses (lc.address first).
func parseCaptureFields(p *problems, l *listenerv3.Listener, lc *listenerConfig) {
	lc.useOriginalDst = l.GetUseOriginalDst().GetValue()
	lc.virtual = l.GetBindToPort() != nil && !l.GetBindToPort().GetValue()
	if lc.virtual && lc.useOriginalDst {
		p.Addf("use_original_dst", "a listener with bind_to_port false is only reached through another listener's use_original_dst; it cannot hand connections on")
	}
	if lc.address != "" {
		lc.addresses = append(lc.addresses, lc.address)
	}
	for i, a := range l.GetAdditionalAddresses() {
		path := index("additional_addresses", i)
		p.OnlyFields(path, a, "address")
		addr, ok := parseSocketAddress(p, field(path, "address"), a.GetAddress(), !lc.virtual)
		if !ok {
			continue
		}
		if addr == lc.address || slices.Contains(lc.addresses[1:], addr) {
			p.Addf(field(path, "address"), "%s is already an address of this listener", addr)
			continue
		}
		lc.addresses = append(lc.addresses, addr)
	}
}

// checkAddresses reports listeners whose addresses collide: bound
// listeners with bound ones (port 0 never collides), virtual listeners
// with virtual ones (which one would a connection be handed to?). A
// virtual listener may share its address with a bound one. taken maps
// "bound|address" and "virtual|address" to the listener that has it.
func checkAddresses(p *problems, lc *listenerConfig, taken map[string]string) {
	kind := "bound"
	if lc.virtual {
		kind = "virtual"
	}
	for _, a := range lc.addresses {
		key := kind + "|" + a
		if other, ok := taken[key]; ok && other != lc.name && (lc.virtual || !anyPort(a)) {
			p.Addf("address", "%s is also the address of listener %q", a, other)
		}
		taken[key] = lc.name
	}
}

// parseDestinationPort checks filter_chain_match.destination_port.
func parseDestinationPort(p *problems, mpath string, m *listenerv3.FilterChainMatch) uint16 {
	dp := m.GetDestinationPort()
	if dp == nil {
		return 0
	}
	v := dp.GetValue()
	if v == 0 || v > 65535 {
		p.Addf(field(mpath, "destination_port"), "%d is not a port", v)
		return 0
	}
	return uint16(v)
}

// checkChainGroups applies the one-chain and one-default-chain rules to
// each group of chains of one destination port and prefix_ranges.
func checkChainGroups(p *problems, lc *listenerConfig) {
	type groupKey struct {
		port     uint16
		prefixes string
	}
	var keys []groupKey
	groups := make(map[groupKey][]*chainConfig)
	for _, c := range lc.chains {
		k := groupKey{c.destPort, prefixKey(c.prefixes)}
		if _, seen := groups[k]; !seen {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], c)
	}
	for _, k := range keys {
		chains := groups[k]
		which := ""
		switch {
		case k.port != 0:
			which = fmt.Sprintf(" for destination_port %d", k.port)
		case lc.destPorts:
			which = " for other ports (no destination_port)"
		}
		if k.prefixes != "" {
			which += fmt.Sprintf(" and prefix_ranges %s", k.prefixes)
		}
		if !lc.inspect && !lc.tlsInspect && len(chains) != 1 {
			if which == "" {
				p.Addf("filter_chains", "want exactly one filter chain without the HTTP or TLS inspector, got %d", len(chains))
			} else {
				p.Addf("filter_chains", "want exactly one filter chain%s without the HTTP or TLS inspector, got %d", which, len(chains))
			}
			continue
		}
		defaults := make(map[string]int)
		for _, c := range chains {
			if len(c.protocols) == 0 && len(c.serverNames) == 0 { // server names: checkServerNames
				defaults[c.transport]++
			}
		}
		for _, transport := range []string{"", transportTLS, transportRaw} {
			switch n := defaults[transport]; {
			case n > 1 && transport == "":
				p.Addf("filter_chains", "at most one chain%s may have no filter_chain_match, got %d", which, n)
			case n > 1:
				p.Addf("filter_chains", "at most one chain%s with transport_protocol %q may have no application_protocols, got %d", which, transport, n)
			}
		}
	}
}

// addrPortOf parses an ip:port the parser produced; the zero value when
// it is not one.
func addrPortOf(s string) netip.AddrPort {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
