package explain

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"

	"github.com/weftmesh/weft/proxy/dataplane"
)

// ErrNoListener is wrapped when no listener of the proxy takes a
// connection to the address.
var ErrNoListener = errors.New("no listener")

// listenerAddrs returns the addresses a listener is reached on: its
// address (the bound one for port 0) and its additional addresses.
func (d *Dump) listenerAddrs(l *listenerv3.Listener) []netip.AddrPort {
	var out []netip.AddrPort
	if b, ok := d.BoundAddresses[l.GetName()]; ok {
		if ap, err := netip.ParseAddrPort(b); err == nil {
			out = append(out, ap)
		}
	} else if ap, ok := sockAddr(l.GetAddress()); ok {
		out = append(out, ap)
	}
	for _, a := range l.GetAdditionalAddresses() {
		if ap, ok := sockAddr(a.GetAddress()); ok {
			out = append(out, ap)
		}
	}
	return out
}

func sockAddr(a *corev3.Address) (netip.AddrPort, bool) {
	sa := a.GetSocketAddress()
	ip, err := netip.ParseAddr(sa.GetAddress())
	if err != nil || sa.GetPortValue() > 65535 {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(ip, uint16(sa.GetPortValue())), true //nolint:gosec // checked above
}

func virtual(l *listenerv3.Listener) bool {
	return l.GetBindToPort() != nil && !l.GetBindToPort().GetValue()
}

// takes reports how a listener's addresses take dest: 2 for the exact
// address, 1 for the wildcard address of its family on its port, 0 not.
func (d *Dump) takes(l *listenerv3.Listener, dest netip.AddrPort) int {
	best := 0
	for _, a := range d.listenerAddrs(l) {
		switch {
		case a == dest:
			return 2
		case a.Port() == dest.Port() && a.Addr().IsUnspecified() && a.Addr().Is4() == dest.Addr().Unmap().Is4():
			best = 1
		}
	}
	return best
}

// findListener returns the listener that serves a connection to dest, as
// the proxy hands it over: a bound listener on dest (exact address, then
// the wildcard one with its port); else, when a listener uses the
// original destination (virtualOutbound), the virtual listener of dest
// (exact, then wildcard), or virtualOutbound itself. via names the
// capture listener when it is not the listener itself.
func (d *Dump) findListener(dest netip.AddrPort) (l *listenerv3.Listener, via string, err error) {
	dest = netip.AddrPortFrom(dest.Addr().Unmap(), dest.Port())
	pick := func(ok func(*listenerv3.Listener) bool) *listenerv3.Listener {
		for _, want := range []int{2, 1} {
			for _, l := range d.Listeners {
				if ok(l) && d.takes(l, dest) == want {
					return l
				}
			}
		}
		return nil
	}
	if l := pick(func(l *listenerv3.Listener) bool { return !virtual(l) }); l != nil {
		return l, "", nil
	}
	for _, capture := range d.Listeners {
		if !capture.GetUseOriginalDst().GetValue() {
			continue
		}
		if l := pick(virtual); l != nil {
			return l, capture.GetName(), nil
		}
		return capture, "", nil
	}
	return nil, "", fmt.Errorf("%w for %s (listeners: %s)", ErrNoListener, dest, d.describeListeners())
}

// describeListeners lists the listeners with their addresses, for errors.
func (d *Dump) describeListeners() string {
	if len(d.Listeners) == 0 {
		return "none"
	}
	var parts []string
	for _, l := range d.Listeners {
		var as []string
		for _, a := range d.listenerAddrs(l) {
			as = append(as, a.String())
		}
		s := l.GetName() + " on " + strings.Join(as, ", ")
		if virtual(l) {
			s += " (virtual)"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

// serviceListener returns the outbound listener of a Service by name
// (outbound|<service>.<namespace>|<port>, docs/xds.md): host is
// <service>[.<namespace>[.svc[.<domain>]]], namespace completes a bare
// service name; without it a bare name must be unique among the
// listeners.
func (d *Dump) serviceListener(host string, port uint16, namespace string) (*listenerv3.Listener, error) {
	svc, ns, _ := strings.Cut(strings.ToLower(host), ".")
	ns, _, _ = strings.Cut(ns, ".")
	if ns == "" {
		ns = namespace
	}
	p := strconv.Itoa(int(port))
	var found []*listenerv3.Listener
	for _, l := range d.Listeners {
		parts := strings.Split(l.GetName(), "|")
		if len(parts) != 3 || parts[0] != "outbound" || parts[2] != p {
			continue
		}
		s, n, _ := strings.Cut(parts[1], ".")
		if s == svc && (ns == "" || n == ns) {
			found = append(found, l)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return nil, fmt.Errorf("%w for service %q port %d (listeners: %s)", ErrNoListener, host, port, d.describeListeners())
	}
	names := make([]string, len(found))
	for i, l := range found {
		names[i] = l.GetName()
	}
	return nil, fmt.Errorf("service %q port %d is ambiguous: %s; give its namespace", host, port, strings.Join(names, ", "))
}

// chooseChain picks a listener's filter chain for a connection to dest
// over a transport ("tls" or "raw_buffer") carrying an application
// protocol ("http/1.1", "h2c"), as the proxy (and Envoy) does, without
// going back once a step has narrowed the chains: the chains of dest's
// destination_port, else those without one; among them the chains whose
// prefix_ranges hold dest's address most specifically, else those
// without prefix_ranges; among them the chains of the transport
// protocol, else those without one; among them the first that lists the
// application protocol, else the one that lists none.
func chooseChain(l *listenerv3.Listener, dest netip.AddrPort, transport, protocol string) (int, *listenerv3.FilterChain) {
	chains := l.GetFilterChains()
	byPort := func(want uint32) []int {
		var out []int
		for i, fc := range chains {
			if fc.GetFilterChainMatch().GetDestinationPort().GetValue() == want {
				out = append(out, i)
			}
		}
		return out
	}
	group := byPort(uint32(dest.Port()))
	if len(group) == 0 {
		group = byPort(0)
	}
	group = byAddr(chains, group, dest.Addr())
	var byTransport []int
	for _, want := range []string{transport, ""} {
		for _, i := range group {
			if chains[i].GetFilterChainMatch().GetTransportProtocol() == want {
				byTransport = append(byTransport, i)
			}
		}
		if len(byTransport) > 0 {
			break
		}
	}
	def := -1
	for _, i := range byTransport {
		aps := chains[i].GetFilterChainMatch().GetApplicationProtocols()
		if len(aps) == 0 {
			def = i
		} else if slices.Contains(aps, protocol) {
			return i, chains[i]
		}
	}
	if def < 0 {
		return -1, nil
	}
	return def, chains[def]
}

// byAddr returns the chains among group (indexes into chains) whose
// prefix_ranges hold addr with the longest prefix, else those without
// prefix_ranges. A range the proxy would not have accepted holds nothing.
func byAddr(chains []*listenerv3.FilterChain, group []int, addr netip.Addr) []int {
	addr = addr.Unmap()
	var best, rest []int
	bits := -1
	for _, i := range group {
		ranges := chains[i].GetFilterChainMatch().GetPrefixRanges()
		if len(ranges) == 0 {
			rest = append(rest, i)
			continue
		}
		switch n := dataplane.LongestMatch(dataplane.PrefixRanges(chains[i].GetFilterChainMatch()), addr); {
		case n < 0 || n < bits:
		case n > bits:
			best, bits = []int{i}, n
		default:
			best = append(best, i)
		}
	}
	if best == nil {
		return rest
	}
	return best
}

// chainName is a chain's name, or its place in the listener.
func chainName(i int, fc *listenerv3.FilterChain) string {
	if fc.GetName() != "" {
		return fc.GetName()
	}
	return fmt.Sprintf("filter_chains[%d]", i)
}
