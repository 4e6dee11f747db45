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
// port, then its address: what addrChains would pick from portChains,
// found through lc.index.
func (lc *listenerConfig) destChains(dst netip.AddrPort) []*chainConfig {
	return lc.index.lookup(lc.destPorts, dst)
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

// chainIndex finds a connection's chains without walking every chain:
// virtualOutbound holds one per meshed pod IP and port, thousands in a
// large mesh, and each new connection looks its chains up.
type chainIndex map[uint16]*portIndex // destination_port → its chains; 0: those without one

// portIndex holds the chains of one destination_port by prefix_ranges.
type portIndex struct {
	// hosts are the chains listing a full-length prefix (/32, /128) by
	// its address, in chain order: such a prefix is the most specific
	// match there is.
	hosts map[netip.Addr][]*chainConfig
	// ranges are the chains listing a shorter prefix.
	ranges []*chainConfig
	// rest are the chains without prefix_ranges.
	rest []*chainConfig
}

// newChainIndex indexes chains, which are in the order received.
func newChainIndex(chains []*chainConfig) chainIndex {
	idx := chainIndex{}
	for _, c := range chains {
		pi := idx[c.destPort]
		if pi == nil {
			pi = &portIndex{hosts: map[netip.Addr][]*chainConfig{}}
			idx[c.destPort] = pi
		}
		if len(c.prefixes) == 0 {
			pi.rest = append(pi.rest, c)
			continue
		}
		short := false
		for _, pr := range c.prefixes {
			if !pr.IsSingleIP() {
				short = true
				continue
			}
			if hs := pi.hosts[pr.Addr()]; len(hs) == 0 || hs[len(hs)-1] != c {
				pi.hosts[pr.Addr()] = append(hs, c)
			}
		}
		if short {
			pi.ranges = append(pi.ranges, c)
		}
	}
	return idx
}

// lookup returns the chains a connection to dst may take: those of its
// destination_port, else those without one (all of them when no chain
// has one); among these the ones whose prefix_ranges hold its address
// most specifically, else those without prefix_ranges.
func (idx chainIndex) lookup(destPorts bool, dst netip.AddrPort) []*chainConfig {
	pi := idx[0]
	if destPorts {
		if byPort := idx[dst.Port()]; byPort != nil {
			pi = byPort
		}
	}
	if pi == nil {
		return nil
	}
	if hs := pi.hosts[dst.Addr()]; len(hs) > 0 {
		return hs
	}
	if best := longestMatches(pi.ranges, dst.Addr()); best != nil {
		return best
	}
	return pi.rest
}

// longestMatches returns the chains whose prefix_ranges hold addr most
// specifically, nil when none holds it.
func longestMatches(chains []*chainConfig, addr netip.Addr) []*chainConfig {
	var best []*chainConfig
	bits := -1
	for _, c := range chains {
		switch n := LongestMatch(c.prefixes, addr); {
		case n < 0 || n < bits:
		case n > bits:
			best, bits = []*chainConfig{c}, n
		default:
			best = append(best, c)
		}
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
