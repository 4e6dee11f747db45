package dataplane

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync/atomic"
	"syscall"
	"time"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"google.golang.org/protobuf/proto"
)

// listener is a listener's sockets and the configuration it serves now.
type listener struct {
	name string
	// lns are the bound sockets, one per address; none for a virtual
	// listener (bind_to_port false), which use_original_dst listeners
	// hand connections to.
	lns     []net.Listener
	cfg     atomic.Pointer[listenerConfig]
	stopped atomic.Bool
}

// stop closes the sockets; established connections are not affected.
func (l *listener) stop() {
	l.stopped.Store(true)
	for _, ln := range l.lns {
		_ = ln.Close()
	}
}

// sameSockets reports whether a listener configured as b can keep the
// sockets of one configured as a.
func sameSockets(a, b *listenerConfig) bool {
	return a.virtual == b.virtual && slices.Equal(a.addresses, b.addresses)
}

// OnListeners validates and applies the complete set of listeners. New
// names are bound, listeners with the same name and address get the new
// configuration while keeping their socket, and listeners that moved or
// disappeared stop accepting; no established connection is closed. When a
// socket cannot be bound nothing changes.
func (d *Dataplane) OnListeners(ctx context.Context, ls []*listenerv3.Listener) error {
	configs, err := d.parseListeners(ls)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return ErrClosed
	}

	// Bind every new socket first, so that a failure changes nothing.
	bound := make(map[string][]net.Listener)
	for _, lc := range configs {
		if old, ok := d.listeners[lc.name]; ok && sameSockets(old.cfg.Load(), lc) {
			continue
		}
		if lc.virtual {
			bound[lc.name] = nil
			continue
		}
		lns, err := d.bindAll(ctx, lc)
		if err != nil {
			for _, b := range bound {
				for _, ln := range b {
					_ = ln.Close()
				}
			}
			return err
		}
		bound[lc.name] = lns
	}

	previous := make(map[string]*listenerv3.Listener, len(d.applied.listeners))
	for _, l := range d.applied.listeners {
		previous[l.GetName()] = l
	}
	current := make(map[string]*listenerv3.Listener, len(ls))
	for _, l := range ls {
		current[l.GetName()] = l
	}

	keep := make(map[string]bool, len(configs))
	base := context.WithoutCancel(ctx)
	if d.root == nil {
		d.root = base
	}
	for _, lc := range configs {
		keep[lc.name] = true
		old := d.listeners[lc.name]
		lns, rebind := bound[lc.name]
		if !rebind && proto.Equal(previous[lc.name], current[lc.name]) {
			// Unchanged: it keeps its configuration, so that its
			// connections are not drained for another listener's change.
			continue
		}
		lc.conns, lc.closeConns = context.WithCancel(base) //nolint:gosec // called by retire, or by Close through the connections
		if !rebind {
			d.retire(old.cfg.Swap(lc))
			continue
		}
		if old != nil {
			old.stop()
			d.retire(old.cfg.Load())
		}
		l := &listener{name: lc.name, lns: lns}
		l.cfg.Store(lc)
		d.listeners[lc.name] = l
		if lc.virtual {
			d.log.Info("virtual listener added", "listener", lc.name, "addresses", lc.addresses)
			continue
		}
		for _, ln := range lns {
			d.wg.Add(1)
			go d.acceptLoop(l, ln) //nolint:contextcheck // connections take the context of their configuration (listenerConfig.conns)
			d.log.Info("listener bound", "listener", lc.name, "address", ln.Addr().String())
		}
	}
	for name, l := range d.listeners {
		if !keep[name] {
			l.stop()
			d.retire(l.cfg.Load())
			delete(d.listeners, name)
			d.log.Info("listener removed", "listener", name)
		}
	}
	d.indexListeners()
	d.applied.listeners = cloneListeners(ls)
	return nil
}

// bindAll binds a socket for each address of lc. A listener with several
// addresses binds each to its family alone (tcp4, tcp6), so that 0.0.0.0
// and :: can both be bound, as in Envoy; an IPv6 address that cannot be
// bound because IPv6 is unavailable in this network namespace is skipped
// (and logged) when another address was bound.
func (d *Dataplane) bindAll(ctx context.Context, lc *listenerConfig) ([]net.Listener, error) {
	var lns []net.Listener
	var skipped []error
	for i, a := range lc.addresses {
		network := "tcp"
		ip := addrPortOf(a).Addr()
		if len(lc.addresses) > 1 {
			network = "tcp6"
			if ip.Is4() {
				network = "tcp4"
			}
		}
		ln, err := d.cfg.Listen(ctx, network, a)
		if err == nil {
			lns = append(lns, ln)
			continue
		}
		path := "address"
		if i > 0 {
			path = fmt.Sprintf("additional_addresses[%d].address", i-1)
		}
		err = fmt.Errorf("listener %q: %s: %w", lc.name, path, err)
		if ip.Is6() && ipv6Unavailable(err) {
			skipped = append(skipped, err)
			continue
		}
		for _, ln := range lns {
			_ = ln.Close()
		}
		return nil, err
	}
	if len(lns) == 0 {
		return nil, errors.Join(skipped...)
	}
	for _, err := range skipped {
		d.log.Warn("listener address skipped: IPv6 is unavailable", "listener", lc.name, "error", err)
	}
	return lns, nil
}

// ipv6Unavailable reports whether a bind failed because this network
// namespace has no IPv6 (disabled, or no such address).
func ipv6Unavailable(err error) bool {
	return errors.Is(err, syscall.EAFNOSUPPORT) || errors.Is(err, syscall.EADDRNOTAVAIL) || errors.Is(err, syscall.EPROTONOSUPPORT)
}

// acceptLoop accepts connections on ln, a socket of l, until l is
// stopped. Each connection lives in the context of the configuration it
// is served under.
func (d *Dataplane) acceptLoop(l *listener, ln net.Listener) {
	defer d.wg.Done()
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if l.stopped.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait a little, as
			// net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			d.log.Warn("accept failed", "listener", l.name, "error", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		cfg := l.cfg.Load()
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			d.handle(cfg, c)
		}()
	}
}

// handle serves a connection accepted under cfg: under cfg, or under the
// virtual listener admit hands it to, whose context it then lives in.
func (d *Dataplane) handle(cfg *listenerConfig, c net.Conn) {
	ctx, cancel := context.WithCancel(cfg.conns)
	remove := d.conns.add(cancel)
	target, dst, ok := d.admit(ctx, cfg, c)
	if ok && target != cfg {
		remove()
		cancel()
		ctx, cancel = context.WithCancel(target.conns)
		remove = d.conns.add(cancel)
	}
	defer func() {
		remove()
		cancel()
	}()
	if !ok {
		_ = c.Close()
		return
	}
	d.serveConn(ctx, target, restore(c, dst), dst)
}

// retire drains the connections served under a replaced listener
// configuration, as Envoy drains a listener that changed: HTTP connections
// end after their current requests, and clients reconnect under the new
// configuration (policies, mTLS mode); connections still open when the
// drain timeout has passed (TCP ones, long streams) are closed, so that no
// connection outlives a policy that would refuse it by more than that.
func (d *Dataplane) retire(lc *listenerConfig) {
	if lc == nil {
		return
	}
	for _, c := range lc.chains {
		if c.http != nil {
			d.http.Retire(c.http)
		}
	}
	time.AfterFunc(max(d.cfg.DrainTimeout, 0), lc.closeConns)
}
