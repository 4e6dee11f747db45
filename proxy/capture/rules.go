package capture

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// The rules are first a plain description (this file), from which Render
// writes nft text and the Linux code builds netlink expressions: one
// source for what --dry-run shows, what Install adds and what Check wants.

// chainSpec is one base chain of table inet weft.
type chainSpec struct {
	name  string // also the hook: "output" or "prerouting"
	rules []ruleSpec
}

// ruleSpec matches all of its non-zero fields, then returns or, when
// redirect is set, redirects to that local port.
type ruleSpec struct {
	skuid    *uint32
	ifname   string         // oifname in output, iifname in prerouting
	daddr    []netip.Prefix // all of one family; one host address or a set
	dport    []uint16       // one port or a set
	set      bool           // daddr or dport is an anonymous set, even of one
	tcp      bool           // meta l4proto tcp (implied by dport)
	redirect uint16
	out      bool // in the output chain (oifname), else prerouting (iifname)
}

// chains are the rules Install(c) adds, in order.
func (c Config) chains() []chainSpec {
	uid := c.ProxyUID
	loopback := netip.PrefixFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), 32)
	out := []ruleSpec{
		{skuid: &uid, daddr: []netip.Prefix{loopback}, dport: []uint16{ProbePort}, redirect: StatusPort},
		{skuid: &uid},
		{ifname: "lo"},
	}
	v4, v6 := splitFamilies(c.ExcludeOutboundCIDRs)
	if len(v4) > 0 {
		out = append(out, ruleSpec{daddr: v4, set: true})
	}
	if len(v6) > 0 {
		out = append(out, ruleSpec{daddr: v6, set: true})
	}
	if ports := sortedPorts(c.ExcludeOutboundPorts); len(ports) > 0 {
		out = append(out, ruleSpec{dport: ports, set: true})
	}
	out = append(out, ruleSpec{tcp: true, redirect: c.OutboundPort})
	for i := range out {
		out[i].out = true
	}
	in := []ruleSpec{
		{ifname: "lo"},
		{dport: sortedPorts(slices.Concat(ProxyPorts, []uint16{c.OutboundPort, c.InboundPort}, c.ExcludeInboundPorts)), set: true},
		{tcp: true, redirect: c.InboundPort},
	}
	return []chainSpec{{name: "output", rules: out}, {name: "prerouting", rules: in}}
}

// sortedPorts returns ports sorted, without duplicates.
func sortedPorts(ports []uint16) []uint16 {
	s := slices.Clone(ports)
	slices.Sort(s)
	return slices.Compact(s)
}

// splitFamilies masks prefixes, sorts them, drops those inside another,
// and splits them into IPv4 and IPv6.
func splitFamilies(prefixes []netip.Prefix) (v4, v6 []netip.Prefix) {
	ps := make([]netip.Prefix, 0, len(prefixes))
	for _, p := range prefixes {
		if p.IsValid() {
			ps = append(ps, p.Masked())
		}
	}
	slices.SortFunc(ps, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	var kept []netip.Prefix
	for _, p := range ps {
		if n := len(kept); n > 0 && kept[n-1].Addr().Is4() == p.Addr().Is4() && kept[n-1].Contains(p.Addr()) {
			continue // sorted: a containing prefix comes first
		}
		kept = append(kept, p)
	}
	for _, p := range kept {
		if p.Addr().Is4() {
			v4 = append(v4, p)
		} else {
			v6 = append(v6, p)
		}
	}
	return v4, v6
}

// String is the rule in nft syntax, as `nft list table inet weft` shows it.
func (r ruleSpec) String() string {
	var parts []string
	if r.skuid != nil {
		parts = append(parts, "meta skuid "+strconv.FormatUint(uint64(*r.skuid), 10))
	}
	if r.ifname != "" {
		dir := "iifname"
		if r.out {
			dir = "oifname"
		}
		parts = append(parts, dir+" "+strconv.Quote(r.ifname))
	}
	if len(r.daddr) > 0 {
		family := "ip"
		if r.daddr[0].Addr().Is6() {
			family = "ip6"
		}
		texts := make([]string, len(r.daddr))
		for i, p := range r.daddr {
			texts[i] = p.String()
			if p.IsSingleIP() {
				texts[i] = p.Addr().String()
			}
		}
		parts = append(parts, family+" daddr "+oneOrSet(texts, r.set))
	}
	if len(r.dport) > 0 {
		texts := make([]string, len(r.dport))
		for i, p := range r.dport {
			texts[i] = strconv.Itoa(int(p))
		}
		parts = append(parts, "tcp dport "+oneOrSet(texts, r.set))
	}
	if r.tcp {
		parts = append(parts, "meta l4proto tcp")
	}
	if r.redirect != 0 {
		parts = append(parts, fmt.Sprintf("redirect to :%d", r.redirect))
	} else {
		parts = append(parts, "return")
	}
	return strings.Join(parts, " ")
}

// oneOrSet writes a set's values in braces, and one value as itself.
func oneOrSet(values []string, set bool) string {
	if !set && len(values) == 1 {
		return values[0]
	}
	return "{ " + strings.Join(values, ", ") + " }"
}

// Render is the ruleset Install(cfg) adds, in nft syntax: what
// "weft-proxy init --dry-run" prints. It is deterministic: the same
// config, in any order, renders the same text.
func Render(cfg Config) string {
	var b strings.Builder
	fmt.Fprintf(&b, "table inet %s {\n", Table)
	for i, ch := range cfg.chains() {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "\tchain %s {\n", ch.name)
		fmt.Fprintf(&b, "\t\ttype nat hook %s priority %d; policy accept;\n", ch.name, natPriority)
		for _, r := range ch.rules {
			fmt.Fprintf(&b, "\t\t%s\n", r)
		}
		b.WriteString("\t}\n")
	}
	b.WriteString("}\n")
	return b.String()
}

// natPriority is the chains' priority: dstnat, where DNAT and redirect
// belong.
const natPriority = -100
