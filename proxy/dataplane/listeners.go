package dataplane

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"google.golang.org/protobuf/proto"
)

// listener is a bound socket and the configuration it serves now.
type listener struct {
	name    string
	ln      net.Listener
	cfg     atomic.Pointer[listenerConfig]
	stopped atomic.Bool
}

// stop closes the socket; established connections are not affected.
func (l *listener) stop() {
	l.stopped.Store(true)
	_ = l.ln.Close()
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
	bound := make(map[string]net.Listener)
	for _, lc := range configs {
		if old, ok := d.listeners[lc.name]; ok && old.cfg.Load().address == lc.address {
			continue
		}
		ln, err := d.cfg.Listen(ctx, "tcp", lc.address)
		if err != nil {
			for _, b := range bound {
				_ = b.Close()
			}
			return fmt.Errorf("listener %q: address: %w", lc.name, err)
		}
		bound[lc.name] = ln
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
		ln, rebind := bound[lc.name]
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
		l := &listener{name: lc.name, ln: ln}
		l.cfg.Store(lc)
		d.listeners[lc.name] = l
		d.wg.Add(1)
		go d.acceptLoop(l) //nolint:contextcheck // connections take the context of their configuration (listenerConfig.conns)
		d.log.Info("listener bound", "listener", lc.name, "address", ln.Addr().String())
	}
	for name, l := range d.listeners {
		if !keep[name] {
			l.stop()
			d.retire(l.cfg.Load())
			delete(d.listeners, name)
			d.log.Info("listener removed", "listener", name)
		}
	}
	d.applied.listeners = cloneListeners(ls)
	return nil
}

// acceptLoop accepts connections on l until l is stopped. Each connection
// lives in the context of the configuration it was accepted under.
func (d *Dataplane) acceptLoop(l *listener) {
	defer d.wg.Done()
	var backoff time.Duration
	for {
		c, err := l.ln.Accept()
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
		connCtx, cancel := context.WithCancel(cfg.conns)
		remove := d.conns.add(cancel)
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			defer remove()
			defer cancel()
			d.serveConn(connCtx, cfg, c)
		}()
	}
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
