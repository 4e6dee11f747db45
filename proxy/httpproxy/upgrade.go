package httpproxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/weftmesh/weft/proxy/httpguard"
	"github.com/weftmesh/weft/proxy/tcpproxy"
)

// Upgrade requests (WebSocket and any other protocol named by Upgrade,
// RFC 9110 §7.8) arrive over HTTP/1.1 and leave over HTTP/1.1 on a
// connection of their own, whatever the cluster's protocol: a cluster of
// HTTP/2 targets is dialled with Target.DialHTTP1, whose TLS offers only
// "http/1.1" in ALPN, so that the peer sidecar serves the connection with
// its HTTP/1 loop and can upgrade it in turn. Between two sidecars an
// upgrade therefore costs one mTLS connection, not an HTTP/2 stream:
// extended CONNECT (RFC 8441) is off by default in net/http's HTTP/2
// server (GODEBUG http2xconnect) and Upgrade itself does not exist in
// HTTP/2. Once the upstream answers 101, both connections are joined
// byte for byte until both directions end, the pair idles out, or the
// downstream connection's context ends.

// upgradeHandshakeTimeout bounds the upstream's answer to an upgrade
// request when the route has no timeout.
const upgradeHandshakeTimeout = time.Minute

// isUpgrade reports whether r asks to switch protocols: an HTTP/1.1
// request with an Upgrade field that its Connection field names.
func isUpgrade(r *http.Request) bool {
	if !r.ProtoAtLeast(1, 1) || r.ProtoMajor != 1 || r.Header.Get("Upgrade") == "" {
		return false
	}
	for _, v := range r.Header.Values("Connection") {
		if hasToken(v, "upgrade") {
			return true
		}
	}
	return false
}

// upgrade forwards an Upgrade request to an endpoint of the route's
// cluster on a connection of its own and, when the endpoint switches
// protocols, tunnels the two connections together. Other answers are
// forwarded like any response. Upgrades are not retried.
func (ex *exchange) upgrade(ctx context.Context, action Action) {
	target, flag := ex.p.cfg.Clusters.Pick(ex.info.listener.Name, action.Cluster)
	noteUpstream(ctx, action.Cluster, target.Address)
	if flag != "" {
		ex.local(http.StatusServiceUnavailable, flag, "")
		return
	}
	if target.Release != nil {
		defer target.Release()
	}
	req, ok := target.Breaker.request()
	if !ok {
		ex.local(http.StatusServiceUnavailable, FlagUpstreamOverflow, "")
		return
	}
	defer req.release()
	dial := target.Dial
	if target.HTTP2 {
		dial = target.DialHTTP1
	}
	if dial == nil {
		ex.local(http.StatusBadGateway, FlagUpstreamProtocolError, "upgrade not supported by the cluster")
		return
	}
	conn, slot, ok := ex.dialUpgrade(ctx, target, dial)
	if !ok {
		return
	}
	defer slot.release()
	defer func() { _ = conn.Close() }()

	resp, ubr, ok := ex.sendUpgrade(ctx, action, target, conn)
	if !ok {
		return
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		ex.respond(action, resp) // refused: an ordinary response
		return
	}
	ex.switchProtocols(ctx, action, resp, &bufferedConn{Conn: conn, r: ubr})
}

// dialUpgrade connects to the target under the cluster's connection
// threshold, whose slot the caller releases; false when it answered the
// failure.
func (ex *exchange) dialUpgrade(ctx context.Context, target Target,
	dial func(context.Context, string) (net.Conn, string, error)) (net.Conn, slot, bool) {
	s, ok := target.Breaker.connection()
	if !ok {
		ex.local(http.StatusServiceUnavailable, FlagUpstreamOverflow, "")
		return nil, s, false
	}
	c, peer, err := dial(ctx, target.Address)
	if err != nil {
		s.release()
		observe(target, 0)
		ex.p.log.Debug("upgrade connection failed", "listener", ex.info.listener.Name, "address", target.Address, "error", err)
		ex.local(http.StatusServiceUnavailable, FlagUpstreamFailure, "")
		return nil, s, false
	}
	if ex.info.listener.Direction != "inbound" {
		ex.peer = peer
	}
	return c, s, true
}

// sendUpgrade writes the request on conn and reads the head of the
// answer, with the reader that holds whatever followed it; false when it
// answered the failure.
func (ex *exchange) sendUpgrade(ctx context.Context, action Action, target Target, conn net.Conn) (*http.Response, *bufio.Reader, bool) {
	var peer string
	// A body, rare on an upgrade, goes with its framing before the switch.
	out, ok := ex.prepare(ctx, action, target, ex.r.Body, &peer, nil)
	if !ok {
		return nil, nil, false
	}
	// prepare deleted the connection-specific fields; the upgrade's own
	// go on, and only on this path.
	out.Header["Connection"] = []string{"Upgrade"}
	out.Header["Upgrade"] = ex.r.Header.Values("Upgrade")

	timeout := action.Timeout
	if timeout <= 0 {
		timeout = upgradeHandshakeTimeout
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	_ = conn.SetDeadline(time.Now().Add(timeout))
	bw := bufio.NewWriterSize(conn, 4<<10)
	ubr := bufio.NewReaderSize(conn, 4<<10)
	err := out.Write(bw)
	if err == nil {
		err = bw.Flush()
	}
	var resp *http.Response
	if err == nil {
		resp, err = http.ReadResponse(ubr, out)
	}
	if err != nil {
		observe(target, 0)
		var ne net.Error
		switch {
		case ctx.Err() != nil:
			ex.status = 499
		case errors.As(err, &ne) && ne.Timeout():
			ex.local(http.StatusGatewayTimeout, FlagUpstreamTimeout, "")
		default:
			ex.local(http.StatusServiceUnavailable, FlagUpstreamFailure, "")
		}
		return nil, nil, false
	}
	_ = conn.SetDeadline(time.Time{})
	observe(target, resp.StatusCode)
	return resp, ubr, true
}

// switchProtocols answers 101 downstream with the upstream's fields and
// joins the downstream connection with up until the tunnel ends.
func (ex *exchange) switchProtocols(ctx context.Context, action Action, resp *http.Response, up net.Conn) {
	protocol := resp.Header.Values("Upgrade")
	if len(protocol) == 0 {
		ex.local(http.StatusBadGateway, FlagUpstreamProtocolError, "101 without Upgrade")
		return
	}
	h := ex.w.Header()
	for k, vv := range resp.Header {
		h[k] = vv
	}
	httpguard.StripHopByHop(h)
	if action.ResponseHeaders != nil {
		action.ResponseHeaders(h)
	}
	h["Connection"] = []string{"Upgrade"}
	h["Upgrade"] = protocol
	ex.status = http.StatusSwitchingProtocols
	ex.w.WriteHeader(http.StatusSwitchingProtocols)
	down, _, err := http.NewResponseController(ex.w).Hijack()
	if err != nil {
		ex.p.log.Debug("upgrade not possible on this connection", "listener", ex.info.listener.Name, "error", err)
		return
	}
	res, err := tcpproxy.Join(ctx, down, up, tcpproxy.Options{IdleTimeout: ex.p.cfg.IdleTimeout})
	ex.p.log.Debug("upgraded connection ended", "listener", ex.info.listener.Name, "cluster", action.Cluster,
		"to_upstream", res.ToUpstream, "to_downstream", res.ToDownstream, "error", err)
}

// Hijack hands the connection over once the 101 head, written as it is
// with its Connection and Upgrade fields, has gone out: the returned conn
// reads what the client sent after the request. Only a pending 101 can be
// hijacked.
func (w *http1Writer) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.conn == nil || w.committed || w.hijacked || w.status != http.StatusSwitchingProtocols {
		return nil, nil, http.ErrNotSupported
	}
	w.committed, w.hijacked = true, true
	w.writeStatusAndHeader(w.status, w.header)
	if w.err == nil {
		w.err = w.bw.Flush()
	}
	if w.err != nil {
		return nil, nil, w.err
	}
	c := &bufferedConn{Conn: w.conn, r: w.br}
	return c, bufio.NewReadWriter(w.br, w.bw), nil
}

// isHijacked reports whether Hijack handed the connection over.
func (w *http1Writer) isHijacked() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.hijacked
}

// bufferedConn reads through the reader that already holds some of its
// bytes, and keeps the connection's half-close.
type bufferedConn struct {
	net.Conn
	r io.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// CloseWrite half-closes the connection when it can be, closes it
// otherwise.
func (c *bufferedConn) CloseWrite() error {
	if hc, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return hc.CloseWrite()
	}
	return c.Close()
}

var _ http.Hijacker = (*http1Writer)(nil)
