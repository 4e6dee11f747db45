package httpproxy

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// upstreamConn is a connection to an endpoint, with the server's verified
// SPIFFE ID.
type upstreamConn struct {
	net.Conn
	peer string
	// slot is the connection's share of the cluster's circuit breaker,
	// released once by Close.
	slot slot
	once sync.Once
}

func (c *upstreamConn) Close() error {
	c.once.Do(c.slot.release)
	return c.Conn.Close()
}

// upstream is the connection pool of one endpoint of one cluster
// configuration.
type upstream struct {
	rt    http.RoundTripper
	close func() // closes the idle connections
	// inflight counts the requests using the pool; once retired, the pool
	// closes its connections as they become idle.
	inflight atomic.Int64
	retired  atomic.Bool
}

// upstreams holds the pools by Target.Key.
type upstreams struct {
	idleTimeout time.Duration

	mu    sync.Mutex
	byKey map[any]*upstream
	// retired pools still have requests in flight.
	retired map[*upstream]struct{}
}

// acquire returns the pool for target's cluster configuration, counting
// one request in flight; the caller calls release when the request is
// over.
func (u *upstreams) acquire(t Target) *upstream {
	u.mu.Lock()
	defer u.mu.Unlock()
	up, ok := u.byKey[t.Key]
	if !ok {
		up = newUpstream(t, u.idleTimeout)
		u.byKey[t.Key] = up
	}
	up.inflight.Add(1)
	return up
}

func (u *upstreams) release(up *upstream) {
	if up.inflight.Add(-1) == 0 && up.retired.Load() {
		up.close()
		u.mu.Lock()
		delete(u.retired, up)
		u.mu.Unlock()
	}
}

// retain drops the pools whose key keep rejects: their idle connections
// close now, their busy ones as their requests end.
func (u *upstreams) retain(keep func(key any) bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for k, up := range u.byKey {
		if keep(k) {
			continue
		}
		delete(u.byKey, k)
		up.retired.Store(true)
		up.close()
		if up.inflight.Load() > 0 {
			if u.retired == nil {
				u.retired = make(map[*upstream]struct{})
			}
			u.retired[up] = struct{}{}
		}
	}
}

func (u *upstreams) closeAll() {
	u.mu.Lock()
	defer u.mu.Unlock()
	for k, up := range u.byKey {
		up.close()
		delete(u.byKey, k)
	}
	for up := range u.retired {
		up.close()
		delete(u.retired, up)
	}
}

func newUpstream(t Target, idle time.Duration) *upstream {
	protocols := new(http.Protocols)
	if t.HTTP2 {
		// HTTP/2 with prior knowledge on the connection Dial returns,
		// which carries the cluster's TLS when it has one (its ALPN says
		// h2): the request's scheme stays http.
		protocols.SetUnencryptedHTTP2(true)
	} else {
		protocols.SetHTTP1(true)
	}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			s, ok := t.Breaker.connection()
			if !ok {
				return nil, errOverflow
			}
			c, peer, err := t.Dial(ctx, addr)
			if err != nil {
				s.release()
				return nil, &dialError{err}
			}
			return &upstreamConn{Conn: c, peer: peer, slot: s}, nil
		},
		Protocols:           protocols,
		DisableCompression:  true,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     idle,
		HTTP2: &http.HTTP2Config{
			SendPingTimeout: 30 * time.Second, // ping a silent connection
			PingTimeout:     15 * time.Second,
		},
		// No response header timeout: streams may take their time.
	}
	if t.HTTP2 {
		// One connection per endpoint, multiplexed: requests that arrive
		// while it is being dialled wait for it instead of dialling more.
		tr.MaxConnsPerHost = 1
	}
	return &upstream{rt: tr, close: tr.CloseIdleConnections}
}
