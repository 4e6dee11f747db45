package dataplane

import (
	"net/netip"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/durationpb"
)

// parseSocketAddress checks an Address that must be a TCP socket address
// with an IP literal, and returns it as host:port. Port 0 is accepted only
// when anyPort is set (a listener bound to a port the system picks).
func parseSocketAddress(p *problems, path string, a *corev3.Address, anyPort bool) (string, bool) {
	if a == nil {
		p.Addf(path, "missing")
		return "", false
	}
	p.OnlyFields(path, a, "socket_address")
	sa := a.GetSocketAddress()
	if sa == nil {
		if a.Address == nil {
			p.Addf(field(path, "socket_address"), "missing")
		}
		return "", false
	}
	path = field(path, "socket_address")
	before := p.Len()
	p.OnlyFields(path, sa, "protocol", "address", "port_value")
	if sa.GetProtocol() != corev3.SocketAddress_TCP {
		p.Addf(field(path, "protocol"), "unsupported protocol %s", sa.GetProtocol())
	}
	ip, err := netip.ParseAddr(sa.GetAddress())
	if err != nil {
		p.Addf(field(path, "address"), "%q is not an IP address", sa.GetAddress())
	}
	port := sa.GetPortValue()
	switch {
	case port > 65535:
		p.Addf(field(path, "port_value"), "%d is not a port", port)
	case port == 0 && !anyPort:
		p.Addf(field(path, "port_value"), "missing")
	}
	if p.Len() > before {
		return "", false
	}
	return netip.AddrPortFrom(ip, uint16(port)).String(), true //nolint:gosec // port ≤ 65535 checked above
}

// parseDuration checks an optional duration; unset gives def.
func parseDuration(p *problems, path string, d *durationpb.Duration, def time.Duration) time.Duration {
	if d == nil {
		return def
	}
	if err := d.CheckValid(); err != nil {
		p.Addf(path, "%v", err)
		return def
	}
	v := d.AsDuration()
	if v < 0 {
		p.Addf(path, "negative duration %v", v)
		return def
	}
	return v
}
