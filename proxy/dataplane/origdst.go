package dataplane

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"time"
)

// admit decides how a connection accepted under cfg is served: under
// which listener configuration and for which destination (the original
// destination on capture listeners, else the local address), or not at
// all (a loop, counted and closed). A use_original_dst listener hands the
// connection to the virtual listener of its original destination, if
// there is one.
func (d *Dataplane) admit(ctx context.Context, cfg *listenerConfig, c net.Conn) (*listenerConfig, netip.AddrPort, bool) {
	local := addrPortOfAddr(c.LocalAddr())
	if !cfg.useOriginalDst && !cfg.restoreDst {
		return cfg, local, true
	}
	dst := local
	if od, err := d.cfg.OriginalDst(c); err == nil {
		dst = netip.AddrPortFrom(od.Addr().Unmap(), od.Port())
	} else {
		// Not redirected: dialed directly, or conntrack has no entry.
		d.log.Debug("original destination unknown, using the local address", "listener", cfg.name, "error", err)
	}
	remote := addrPortOfAddr(c.RemoteAddr())
	if d.ownAddress(dst, local) {
		d.metrics.connections.WithLabelValues(cfg.name, cfg.direction, "", resultLoop).Inc()
		d.log.Info("connection refused", "listener", cfg.name, "remote", remote.String(), "reason", resultLoop, "original_dst", dst.String())
		return nil, dst, false
	}
	if up, ok := d.self.fromSelf(ctx, remote, dst); ok {
		_ = up.Close()
		d.metrics.connections.WithLabelValues(cfg.name, cfg.direction, "", resultLoop).Inc()
		if d.self.warnNow(time.Now()) {
			d.log.Warn("proxy traffic was captured: is the proxy running as UID 1337?", "listener", cfg.name, "remote", remote.String(), "original_dst", dst.String())
		}
		return nil, dst, false
	}
	if cfg.useOriginalDst {
		if v := d.virtualListener(dst); v != nil {
			if vc := v.cfg.Load(); vc != nil {
				return vc, dst, true
			}
		}
	}
	return cfg, dst, true
}

// captures reports whether lc serves captured connections: it restores
// their original destination (use_original_dst, the original_dst
// filter), or is reached through a listener that does (virtual).
func (lc *listenerConfig) captures() bool {
	return lc.useOriginalDst || lc.restoreDst || lc.virtual
}

// restoredConn is a captured connection whose local address is its
// original destination, as Envoy's original_dst listener filter restores
// it: RBAC destination_port rules and the HTTP proxy see the port the app
// was dialed on, not 15006.
type restoredConn struct {
	net.Conn
	local net.Addr
}

// restore returns c with dst as its local address, or c itself when that
// is its local address already.
func restore(c net.Conn, dst netip.AddrPort) net.Conn {
	if !dst.IsValid() || addrPortOfAddr(c.LocalAddr()) == dst {
		return c
	}
	return &restoredConn{Conn: c, local: net.TCPAddrFromAddrPort(dst)}
}

func (c *restoredConn) LocalAddr() net.Addr { return c.local }

// CloseWrite half-closes the connection when it can, and closes it
// otherwise.
func (c *restoredConn) CloseWrite() error {
	if hc, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return hc.CloseWrite()
	}
	return c.Close()
}

// NetConn returns the accepted connection.
func (c *restoredConn) NetConn() net.Conn { return c.Conn }

// virtualListener returns the virtual listener (bind_to_port false) whose
// address, or one of whose additional addresses, is dst, else one with the
// wildcard address of dst's family and dst's port; nil when none is.
func (d *Dataplane) virtualListener(dst netip.AddrPort) *listener {
	t := d.virtuals.Load()
	if t == nil {
		return nil
	}
	if l := (*t)[dst]; l != nil {
		return l
	}
	wildcard := netip.IPv6Unspecified()
	if dst.Addr().Is4() {
		wildcard = netip.IPv4Unspecified()
	}
	return (*t)[netip.AddrPortFrom(wildcard, dst.Port())]
}

// indexListeners rebuilds the table of virtual listeners and the list of
// bound addresses after a change of listeners. Called with d.mu held.
func (d *Dataplane) indexListeners() {
	virtuals := make(map[netip.AddrPort]*listener)
	var bound []netip.AddrPort
	for _, l := range d.listeners {
		for _, ln := range l.lns {
			if ap := addrPortOfAddr(ln.Addr()); ap.IsValid() {
				bound = append(bound, ap)
			}
		}
		if cfg := l.cfg.Load(); cfg.virtual {
			for _, a := range cfg.addresses {
				if ap := addrPortOf(a); ap.IsValid() {
					virtuals[ap] = l
				}
			}
		}
	}
	d.virtuals.Store(&virtuals)
	d.bound.Store(&bound)
}

// CapturedInboundPorts returns the destination ports that listeners with
// the original_dst listener filter (virtualInbound) have chains for,
// sorted and without duplicates: the ports whose inbound connections the
// proxy expects to see, which the capture-health check watches for
// connections that bypassed it.
func (d *Dataplane) CapturedInboundPorts() []uint16 {
	d.mu.Lock()
	defer d.mu.Unlock()
	var ports []uint16
	for _, l := range d.listeners {
		cfg := l.cfg.Load()
		if !cfg.restoreDst {
			continue
		}
		for _, c := range cfg.chains {
			if c.destPort != 0 {
				ports = append(ports, c.destPort)
			}
		}
	}
	slices.Sort(ports)
	return slices.Compact(ports)
}
