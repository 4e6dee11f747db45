package httpproxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// connInfo is what a request learns about its connection.
type connInfo struct {
	listener *Listener
	// peer is the verified SPIFFE ID of the downstream mTLS client.
	peer string
	// remote and local are the connection's addresses, for RBAC.
	remote, local netip.AddrPort
	// done is closed when the server is done with the connection.
	done     chan struct{}
	doneOnce sync.Once
	// conn is the HTTP/2 connection, closed on too many premature resets;
	// nil for HTTP/1.
	conn net.Conn
	// streams and premature count the ended streams of an HTTP/2
	// connection and those the client reset early.
	streams, premature atomic.Int64
}

func (ci *connInfo) finish() { ci.doneOnce.Do(func() { close(ci.done) }) }

type connInfoKey struct{}

func infoFrom(ctx context.Context) *connInfo {
	ci, _ := ctx.Value(connInfoKey{}).(*connInfo)
	return ci
}

// ServeConn serves one accepted connection, already past its TLS handshake
// when the listener has mTLS, until the client closes it, it idles out, ctx
// ends or the Proxy shuts down, and closes it. peer is the client's
// verified SPIFFE ID.
//
// HTTP/2 (ALPN "h2", the HTTP/2 codec, or the connection preface on a
// connection of an auto codec listener without ALPN) is served by net/http's
// HTTP/2 server; HTTP/1 by the strict loop of serveHTTP1.
func (p *Proxy) ServeConn(ctx context.Context, l *Listener, c net.Conn, peer string) {
	info := &connInfo{listener: l, peer: peer, done: make(chan struct{}),
		remote: addrPort(c.RemoteAddr()), local: addrPort(c.LocalAddr())}
	conn, br, h2 := p.chooseProtocol(l, c)
	if !h2 {
		p.serveHTTP1(ctx, info, c, br)
		return
	}
	s := p.serverFor(l)
	if s == nil {
		_ = conn.Close() // retired: the client reconnects to the new one
		return
	}
	info.conn = conn
	p.conns.Store(conn, info)
	defer p.conns.Delete(conn)
	if !s.push(conn) {
		_ = conn.Close()
		return
	}
	select {
	case <-info.done:
	case <-ctx.Done():
		_ = conn.Close()
		<-info.done
	}
}

// chooseProtocol tells HTTP/2 connections, returned with the conn to serve
// (replaying peeked bytes), from HTTP/1 ones, returned with a reader over
// c holding what was peeked.
func (p *Proxy) chooseProtocol(l *Listener, c net.Conn) (net.Conn, *bufio.Reader, bool) {
	if l.Codec == CodecHTTP2 {
		return c, nil, true
	}
	if tc, ok := c.(*tls.Conn); ok && tc.ConnectionState().NegotiatedProtocol == http2Proto {
		return c, nil, true
	}
	br := bufio.NewReaderSize(c, 4<<10)
	if l.Codec != CodecAuto {
		return c, br, false
	}
	if tc, ok := c.(*tls.Conn); ok && tc.ConnectionState().NegotiatedProtocol != "" {
		return c, br, false // ALPN chose HTTP/1
	}
	// Plaintext, or TLS without ALPN: a sidecar carrying an app's bytes
	// to a pod IP (tcp_proxy over mTLS) speaks whatever the app speaks.
	_ = c.SetReadDeadline(time.Now().Add(p.cfg.IdleTimeout))
	h2 := hasPreface(br)
	_ = c.SetReadDeadline(time.Time{})
	if h2 {
		return &peekedConn{Conn: c, r: br}, nil, true
	}
	return c, br, false
}

const (
	http2Proto = "h2"
	// http2Preface starts every HTTP/2 connection (RFC 9113 §3.4).
	http2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
)

// hasPreface reports whether br starts with the HTTP/2 preface, peeking a
// byte at a time so that a short HTTP/1 request is not waited on.
func hasPreface(br *bufio.Reader) bool {
	for n := 1; n <= len(http2Preface); n++ {
		b, err := br.Peek(n)
		if err != nil || b[n-1] != http2Preface[n-1] {
			return false
		}
	}
	return true
}

// peekedConn reads through the reader that peeked at it.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// connContext gives the requests of a connection its connInfo.
func (p *Proxy) connContext(ctx context.Context, c net.Conn) context.Context {
	if v, ok := p.conns.Load(c); ok {
		return context.WithValue(ctx, connInfoKey{}, v)
	}
	return ctx
}

// connState tells ServeConn when the server is done with a connection.
func (p *Proxy) connState(c net.Conn, st http.ConnState) {
	if st != http.StateClosed && st != http.StateHijacked {
		return
	}
	if v, ok := p.conns.Load(c); ok {
		v.(*connInfo).finish()
	}
}

// server is an http.Server fed with connections by push, started at the
// first one.
type server struct {
	srv   *http.Server
	ln    *connListener
	start sync.Once
	done  chan struct{}
}

func (s *server) push(c net.Conn) bool {
	s.start.Do(func() {
		go func() {
			defer close(s.done)
			_ = s.srv.Serve(s.ln)
		}()
	})
	return s.ln.push(c)
}

// shutdown stops accepting, asks connections to end, and returns when they
// have or ctx ends.
func (s *server) shutdown(ctx context.Context) error {
	s.ln.close()
	return s.srv.Shutdown(ctx)
}

// wait returns once Serve has returned; a server never started has
// nothing to wait for.
func (s *server) wait() {
	s.ln.close()
	s.start.Do(func() { close(s.done) })
	<-s.done
}

// connListener is a net.Listener fed by push.
type connListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newConnListener() *connListener {
	return &connListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

// push hands c to Accept; false when the listener is closed.
func (l *connListener) push(c net.Conn) bool {
	select {
	case <-l.done:
		return false
	default:
	}
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *connListener) close() { l.once.Do(func() { close(l.done) }) }

func (l *connListener) Close() error {
	l.close()
	return nil
}

func (l *connListener) Addr() net.Addr { return connListenerAddr{} }

type connListenerAddr struct{}

func (connListenerAddr) Network() string { return "pipe" }
func (connListenerAddr) String() string  { return "httpproxy" }

// Bounds of the downstream HTTP/2 server. Together with the server's own
// defences (it answers a flood of PING, SETTINGS or RST_STREAM frames it
// must respond to with GOAWAY ENHANCE_YOUR_CALM once its write queue
// backs up, counts CONTINUATION frames against the header list limit, and
// stops at the hpack decoder's string limit), they keep one connection's
// memory bounded.
const (
	// h2MaxConcurrentStreams is Envoy's default of 100 for downstream
	// connections, not its 2^31-1 upstream one: the server refuses streams
	// beyond it with REFUSED_STREAM and closes a connection that keeps
	// opening them.
	h2MaxConcurrentStreams = 100
	// h2HeaderTableSize is HTTP/2's default dynamic table (4 KiB): the
	// peer cannot make the decoder keep more.
	h2HeaderTableSize = 4 << 10
	// h2MaxReadFrameSize is HTTP/2's minimum (16 KiB).
	h2MaxReadFrameSize = 16 << 10
	// h2ReceiveBuffer bounds the flow control windows: 1 MiB per
	// connection and 256 KiB per stream.
	h2ReceiveBufferPerConnection = 1 << 20
	h2ReceiveBufferPerStream     = 256 << 10
	// h2WriteByteTimeout closes a connection whose peer stops reading.
	h2WriteByteTimeout = 30 * time.Second
)

// http2Config is the downstream HTTP/2 server's configuration. The header
// list is bounded by the server's MaxHeaderBytes (SETTINGS_MAX_HEADER_LIST_SIZE).
func http2Config() *http.HTTP2Config {
	return &http.HTTP2Config{
		MaxConcurrentStreams:          h2MaxConcurrentStreams,
		MaxDecoderHeaderTableSize:     h2HeaderTableSize,
		MaxEncoderHeaderTableSize:     h2HeaderTableSize,
		MaxReadFrameSize:              h2MaxReadFrameSize,
		MaxReceiveBufferPerConnection: h2ReceiveBufferPerConnection,
		MaxReceiveBufferPerStream:     h2ReceiveBufferPerStream,
		WriteByteTimeout:              h2WriteByteTimeout,
	}
}

// Premature reset protection against HTTP/2 rapid reset (CVE-2023-44487),
// as Envoy's premature_reset_total_stream_count and
// premature_reset_min_stream_lifetime_seconds: once a connection has ended
// prematureResetMinStreams streams, it is closed when at least half of
// them were reset by the client within prematureResetLifetime of starting.
// Go's server already runs at most MaxConcurrentStreams handlers per
// connection; this stops a client from making the proxy start upstream
// requests at the rate it can open and reset streams.
const (
	prematureResetMinStreams = 500
	prematureResetLifetime   = time.Second
)

// streamEnded counts one ended stream of the connection, started at start
// with request context ctx, and closes the connection when too many were
// reset prematurely.
func (ci *connInfo) streamEnded(ctx context.Context, start time.Time) {
	if ci.conn == nil {
		return
	}
	n := ci.streams.Add(1)
	premature := ci.premature.Load()
	if errors.Is(ctx.Err(), context.Canceled) && time.Since(start) < prematureResetLifetime {
		premature = ci.premature.Add(1)
	}
	if n >= prematureResetMinStreams && 2*premature >= n {
		_ = ci.conn.Close()
	}
}
