package dataplane

import (
	"bufio"
	"net"
	"slices"
	"time"

	"github.com/pires/go-proxyproto"
)

// Load balancers that hide the client's address behind their own send it
// in a PROXY protocol header first (v1 text or v2 binary). A listener with
// the envoy.filters.listener.proxy_protocol filter reads that header
// before anything else, within the handshake timeout, and the connection's
// remote address becomes the header's source: X-Forwarded-For, access logs
// and RBAC remote_ip see the client. A connection without a valid header
// is closed.

// proxyProtocolName is the listener filter's name, as Envoy has it.
const proxyProtocolName = "envoy.filters.listener.proxy_protocol"

// resultProxyProtocolFailed counts connections closed for a missing or
// invalid PROXY protocol header.
const resultProxyProtocolFailed = "proxy_protocol_failed"

// readProxyHeader reads the PROXY protocol header of c and returns c with
// the header's source as its remote address (c's own for a LOCAL header,
// as a load balancer's health check sends); false when there is no valid
// header in time.
func (d *Dataplane) readProxyHeader(cfg *listenerConfig, c net.Conn) (net.Conn, bool) {
	_ = c.SetReadDeadline(time.Now().Add(d.cfg.HandshakeTimeout))
	br := bufio.NewReader(c)
	h, err := proxyproto.Read(br)
	_ = c.SetReadDeadline(time.Time{})
	if err != nil {
		d.metrics.connections.WithLabelValues(cfg.name, cfg.direction, "", resultProxyProtocolFailed).Inc()
		d.log.Info("connection refused", "listener", cfg.name, "remote", c.RemoteAddr().String(), "reason", resultProxyProtocolFailed, "error", err)
		return nil, false
	}
	buffered, _ := br.Peek(br.Buffered())
	rc := &replayConn{Conn: c, prefix: slices.Clone(buffered)}
	src, _, ok := h.TCPAddrs()
	if !ok || h.Command.IsLocal() {
		return rc, true
	}
	return &proxiedConn{replayConn: rc, remote: src}, true
}

// proxiedConn is a connection whose client address came in a PROXY
// protocol header.
type proxiedConn struct {
	*replayConn
	remote net.Addr
}

func (c *proxiedConn) RemoteAddr() net.Addr { return c.remote }
