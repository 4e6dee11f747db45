package dataplane

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
)

// filter_chain_match.prefix_ranges picks chains by the destination
// address: virtualOutbound matches the IPs of meshed pods with them, so
// that a pod dialled by its IP is reached over mTLS. As in Envoy, the
// destination IP is matched after destination_port and before anything
// else, the most specific prefix wins, a chain without prefix_ranges
// takes the addresses no prefix holds, and there is no backtracking.

// parsePrefixRanges checks filter_chain_match.prefix_ranges and returns
// them masked to their length, as Envoy applies them.
func parsePrefixRanges(p *problems, mpath string, m *listenerv3.FilterChainMatch) []netip.Prefix {
	var out []netip.Prefix
	for i, r := range m.GetPrefixRanges() {
		path := index(field(mpath, "prefix_ranges"), i)
		p.OnlyFields(path, r, "address_prefix", "prefix_len")
		addr, err := netip.ParseAddr(r.GetAddressPrefix())
		if err != nil || addr.Zone() != "" {
			p.Addf(field(path, "address_prefix"), "%q is not an IP address", r.GetAddressPrefix())
			continue
		}
		addr = addr.Unmap()
		bits := r.GetPrefixLen().GetValue()
		if int(bits) > addr.BitLen() {
			p.Addf(field(path, "prefix_len"), "%d is longer than an %s address", bits, family(addr))
			continue
		}
		out = append(out, netip.PrefixFrom(addr, int(bits)).Masked())
	}
	return out
}

func family(a netip.Addr) string {
	if a.Is4() {
		return "IPv4"
	}
	return "IPv6"
}

// prefixKey identifies a chain's prefix_ranges as a set, "" for none.
func prefixKey(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	slices.Sort(s)
	return strings.Join(slices.Compact(s), ",")
}

// rangesKey identifies the prefix_ranges of m as written, "" for none.
func rangesKey(m *listenerv3.FilterChainMatch) string {
	s := make([]string, 0, len(m.GetPrefixRanges()))
	for _, r := range m.GetPrefixRanges() {
		s = append(s, fmt.Sprintf("%s/%d", r.GetAddressPrefix(), r.GetPrefixLen().GetValue()))
	}
	slices.Sort(s)
	return strings.Join(slices.Compact(s), ",")
}

// destChains returns the chains a connection to dst may take, by its
// port (portChains), then its address (addrChains).
func (lc *listenerConfig) destChains(dst netip.AddrPort) []*chainConfig {
	return addrChains(lc.portChains(dst.Port()), dst.Addr())
}

// PrefixRanges returns m's prefix_ranges as the proxy applies them
// (masked), without the entries it refuses: for weftctl explain.
func PrefixRanges(m *listenerv3.FilterChainMatch) []netip.Prefix {
	return parsePrefixRanges(newProblems("", ""), "", m)
}

// LongestMatch returns the length of the longest prefix of ps that holds
// addr, -1 when none does.
func LongestMatch(ps []netip.Prefix, addr netip.Addr) int {
	n := -1
	for _, p := range ps {
		if p.Bits() > n && p.Contains(addr) {
			n = p.Bits()
		}
	}
	return n
}

// addrChains returns the chains among chains (those of one destination
// port) whose prefix_ranges hold addr most specifically, else those
// without prefix_ranges.
func addrChains(chains []*chainConfig, addr netip.Addr) []*chainConfig {
	var best, rest []*chainConfig
	bits := -1
	for _, c := range chains {
		if len(c.prefixes) == 0 {
			rest = append(rest, c)
			continue
		}
		switch n := LongestMatch(c.prefixes, addr); {
		case n < 0 || n < bits:
		case n > bits:
			best, bits = []*chainConfig{c}, n
		default:
			best = append(best, c)
		}
	}
	if best == nil {
		return rest
	}
	return best
}

// checkPrefixOverlap reports a prefix that two chains of one destination
// port list in different prefix_ranges: which chain would a connection
// to it take? Chains that differ in what the inspectors tell apart list
// the same prefix_ranges.
func checkPrefixOverlap(p *problems, lc *listenerConfig) {
	type seenAt struct {
		key   string
		chain int
	}
	seen := make(map[uint16]map[netip.Prefix]seenAt)
	for i, c := range lc.chains {
		key := prefixKey(c.prefixes)
		if seen[c.destPort] == nil {
			seen[c.destPort] = make(map[netip.Prefix]seenAt)
		}
		for _, pr := range c.prefixes {
			if prev, ok := seen[c.destPort][pr]; ok && prev.key != key {
				p.Addf(fmt.Sprintf("filter_chains[%d].filter_chain_match.prefix_ranges", i), "%s is also in filter_chains[%d], whose prefix_ranges differ", pr, prev.chain)
				continue
			}
			seen[c.destPort][pr] = seenAt{key, i}
		}
	}
}
