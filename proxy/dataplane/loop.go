package dataplane

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Capture must never send the proxy's traffic back into the proxy. The
// rules exempt the proxy's UID; the dataplane also closes, as result
// "loop", a captured connection whose original destination is one of its
// own listening sockets (someone dialed 15001 directly), and one that
// comes from a socket it dialed itself (the UID exemption is missing:
// without this, every passthrough connection would dial itself until the
// ports or file descriptors run out).

// loopWaitMax bounds how long a captured connection waits for the
// dataplane's own dials to the same destination to finish, to tell
// whether it is one of them.
const loopWaitMax = time.Second

// loopWarnEvery is the least time between two warnings of captured proxy
// traffic.
const loopWarnEvery = time.Minute

// selfDials registers the local address of every upstream socket the
// dataplane has open, and the destinations it is dialing now.
type selfDials struct {
	mu sync.Mutex
	// pending counts the dials in flight per destination.
	pending map[netip.AddrPort]int
	// open maps the local address of each open upstream socket to it.
	open map[netip.AddrPort]net.Conn
	// changed is closed, and replaced, whenever a dial ends.
	changed chan struct{}
	// lastWarn is when the last loop warning was logged (Unix nanos).
	lastWarn atomic.Int64
}

func newSelfDials() *selfDials {
	return &selfDials{
		pending: make(map[netip.AddrPort]int),
		open:    make(map[netip.AddrPort]net.Conn),
		changed: make(chan struct{}),
	}
}

// dial runs dial to address, registering the destination while it is in
// flight and the returned socket's local address until it is closed.
func (s *selfDials) dial(ctx context.Context, address string, dial func(context.Context, string, string) (net.Conn, error)) (net.Conn, error) {
	dst := addrPortOf(address)
	s.mu.Lock()
	s.pending[dst]++
	s.mu.Unlock()

	c, err := dial(ctx, "tcp", address)

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending[dst]--; s.pending[dst] <= 0 {
		delete(s.pending, dst)
	}
	close(s.changed)
	s.changed = make(chan struct{})
	if err != nil {
		return nil, err
	}
	local := addrPortOfAddr(c.LocalAddr())
	if !local.IsValid() {
		return c, nil
	}
	s.open[local] = c
	return &trackedConn{Conn: c, release: func() {
		s.mu.Lock()
		if s.open[local] == c {
			delete(s.open, local)
		}
		s.mu.Unlock()
	}}, nil
}

// fromSelf returns the dataplane's own upstream socket that a captured
// connection from remote to dst came from, if it is one. When the
// dataplane is dialing dst right now, it waits (at most loopWaitMax) for
// those dials to finish: a redirected dial is accepted before the dialer
// learns it is connected.
func (s *selfDials) fromSelf(ctx context.Context, remote, dst netip.AddrPort) (net.Conn, bool) {
	timer := time.NewTimer(loopWaitMax)
	defer timer.Stop()
	for {
		s.mu.Lock()
		if c, ok := s.open[remote]; ok {
			s.mu.Unlock()
			return c, true
		}
		if s.pending[dst] == 0 {
			s.mu.Unlock()
			return nil, false
		}
		changed := s.changed
		s.mu.Unlock()
		select {
		case <-changed:
		case <-timer.C:
			return nil, false
		case <-ctx.Done():
			return nil, false
		}
	}
}

// warnNow reports whether a loop warning is due, at most once per
// loopWarnEvery.
func (s *selfDials) warnNow(now time.Time) bool {
	last := s.lastWarn.Load()
	if last != 0 && now.Sub(time.Unix(0, last)) < loopWarnEvery {
		return false
	}
	return s.lastWarn.CompareAndSwap(last, now.UnixNano())
}

// trackedConn is an upstream socket whose local address is registered
// until it is closed.
type trackedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *trackedConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}

// CloseWrite half-closes the socket when it can, and closes it otherwise.
func (c *trackedConn) CloseWrite() error {
	if hc, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return hc.CloseWrite()
	}
	return c.Close()
}

// NetConn returns the socket.
func (c *trackedConn) NetConn() net.Conn { return c.Conn }

// ownAddress reports whether dst is a socket this dataplane listens on,
// on an address of this network namespace: one of its bound addresses,
// or the port of a wildcard one on local (the accepted connection's
// local address), a loopback or an unspecified address.
func (d *Dataplane) ownAddress(dst, local netip.AddrPort) bool {
	bound := d.bound.Load()
	if bound == nil {
		return false
	}
	isLocal := dst.Addr().IsLoopback() || dst.Addr().IsUnspecified() || dst.Addr() == local.Addr()
	for _, b := range *bound {
		if b.Port() != dst.Port() {
			continue
		}
		if b.Addr() == dst.Addr() || b.Addr().IsUnspecified() && isLocal {
			return true
		}
	}
	return false
}

// addrPortOfAddr is the address and port of a TCP address, unmapped; the
// zero value for other kinds.
func addrPortOfAddr(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	if a == nil {
		return netip.AddrPort{}
	}
	return addrPortOf(a.String())
}
