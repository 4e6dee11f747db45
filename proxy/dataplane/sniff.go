package dataplane

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	httpinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/http_inspector/v3"
	originaldstv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/original_dst/v3"
	proxyprotocolv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/proxy_protocol/v3"
	tlsinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	"google.golang.org/protobuf/proto"
)

// sniffBudget is how long the listener filters wait for the client's
// first bytes. Envoy's inspectors wait as long as it takes; Weft gives up
// early so that server-first protocols (a MySQL greeting) are not stalled:
// on timeout the connection is plaintext (TLS inspector) and takes the
// default (TCP) chain (HTTP inspector). On a plaintext connection both
// inspectors share one budget from the accept.
const sniffBudget = 100 * time.Millisecond

// inspectBudget is how long the listener filters may wait for the first
// bytes of a connection that may take chains: sniffBudget when one of them
// proxies TCP (its app may speak first) or is chosen by sniffing (a
// sniffed port may carry anything), else wait, as the TLS handshake would
// (handshake): on a declared HTTP port the client always speaks first, and
// on a loaded machine a client's ClientHello can come later than 100 ms
// after the accept — taking it for plaintext then breaks a mesh connection.
func inspectBudget(chains []*chainConfig, handshake time.Duration) time.Duration {
	for _, c := range chains {
		if c.http == nil || len(c.protocols) > 0 {
			return sniffBudget
		}
	}
	return handshake
}

// sniffMaxBytes bounds what the inspector reads before deciding: an HTTP/1
// request line longer than that is treated as TCP.
const sniffMaxBytes = 8 << 10

// Application protocols the HTTP inspector reports, as Envoy names them
// in filter_chain_match.application_protocols.
const (
	protoHTTP10 = "http/1.0"
	protoHTTP11 = "http/1.1"
	protoH2C    = "h2c"
)

// sniffedProtocols are the application_protocols a filter chain may match.
var sniffedProtocols = []string{protoHTTP10, protoHTTP11, protoH2C}

// Results of weft_proxy_protocol_detection_total.
const (
	detectedHTTP1   = "http1"
	detectedH2C     = "h2c"
	detectedTCP     = "tcp"
	detectedTimeout = "timeout"
)

// Names of the listener filters supported, as Envoy names them.
const (
	tlsInspectorName  = "envoy.filters.listener.tls_inspector"
	httpInspectorName = "envoy.filters.listener.http_inspector"
)

// listenerFilters are the inspectors a listener runs on each connection.
type listenerFilters struct {
	// tls detects the transport protocol (tlsinspect.go).
	tls bool
	// http detects the application protocol after TLS, if any.
	http bool
	// originalDst restores the original destination of captured
	// connections (parse_capture.go), first.
	originalDst bool
	// proxyProtocol reads a PROXY protocol header (proxyprotocol.go),
	// first.
	proxyProtocol bool
}

// parseListenerFilters checks a listener's listener_filters: the
// original_dst filter, the TLS inspector, the HTTP inspector, or several
// of them in that order, each with no fields set.
func parseListenerFilters(p *problems, fs []*listenerv3.ListenerFilter) listenerFilters {
	var out listenerFilters
	if len(fs) > 4 {
		p.Addf("listener_filters", "want at most four listener filters, got %d", len(fs))
		return out
	}
	for i, f := range fs {
		path := fmt.Sprintf("listener_filters[%d]", i)
		p.OnlyFields(path, f, "name", "typed_config")
		tpath := field(path, "typed_config")
		var (
			ti tlsinspectorv3.TlsInspector
			hi httpinspectorv3.HttpInspector
			od originaldstv3.OriginalDst
			pp proxyprotocolv3.ProxyProtocol
		)
		switch tc := f.GetTypedConfig(); {
		case tc == nil:
			p.Addf(tpath, "missing")
		case tc.GetTypeUrl() == typeURL(&pp):
			if unpackTyped(p, tpath, tc, &pp) {
				p.OnlyFields(tpath, &pp)
			}
			if i > 0 {
				p.Addf(path, "%s must come first", proxyProtocolName)
			}
			out.proxyProtocol = true
		case tc.GetTypeUrl() == typeURL(&od):
			if unpackTyped(p, tpath, tc, &od) {
				p.OnlyFields(tpath, &od)
			}
			switch {
			case out.originalDst:
				p.Addf(path, "duplicate %s", originalDstFilterName)
			case i > 0:
				p.Addf(path, "%s must come first", originalDstFilterName)
			}
			out.originalDst = true
		case tc.GetTypeUrl() == typeURL(&ti):
			if unpackTyped(p, tpath, tc, &ti) {
				p.OnlyFields(tpath, &ti)
			}
			switch {
			case out.tls:
				p.Addf(path, "duplicate %s", tlsInspectorName)
			case out.http:
				p.Addf(path, "%s must come before %s", tlsInspectorName, httpInspectorName)
			}
			out.tls = true
		case tc.GetTypeUrl() == typeURL(&hi):
			if unpackTyped(p, tpath, tc, &hi) {
				p.OnlyFields(tpath, &hi)
			}
			if out.http {
				p.Addf(path, "duplicate %s", httpInspectorName)
			}
			out.http = true
		default:
			p.Addf(tpath, "unsupported type %q, want %s, %s, %s or %s", tc.GetTypeUrl(), typeURL(&od), typeURL(&pp), typeURL(&ti), typeURL(&hi))
		}
	}
	return out
}

// typeURL is the type URL of m in a typed_config.
func typeURL(m proto.Message) string {
	return "type.googleapis.com/" + string(m.ProtoReflect().Descriptor().FullName())
}

// sniff reads the first bytes of c until deadline to tell HTTP/1.x and
// h2c from anything else. It returns the application protocol ("" when not
// HTTP), the metrics result, and a conn that replays what was read.
func sniff(c net.Conn, deadline time.Time) (protocol, result string, replay net.Conn) {
	buf, end, replay := peek(c, deadline, func(b []byte) bool {
		_, done := classify(b)
		return done || len(b) >= sniffMaxBytes
	})
	protocol, done := classify(buf)
	switch {
	case done && protocol == protoH2C:
		return protocol, detectedH2C, replay
	case done && protocol != "":
		return protocol, detectedHTTP1, replay
	case !done && end == peekTimeout:
		return "", detectedTimeout, replay
	}
	return "", detectedTCP, replay
}

// peekEnd tells why peek stopped reading.
type peekEnd int

const (
	peekDecided peekEnd = iota // decide returned true
	peekTimeout                // the deadline passed first
	peekFailed                 // EOF or another read error
)

// peek reads the first bytes of c until decide, called after every read
// with all the bytes so far, returns true, the deadline passes, or a read
// fails. It returns the bytes, why it stopped, and a conn that replays
// them before the rest of c. The listener filters (the TLS and HTTP
// inspectors) share it.
func peek(c net.Conn, deadline time.Time, decide func([]byte) bool) ([]byte, peekEnd, net.Conn) {
	var buf []byte
	chunk := make([]byte, 1024)
	_ = c.SetReadDeadline(deadline)
	defer func() { _ = c.SetReadDeadline(time.Time{}) }()
	for {
		n, err := c.Read(chunk)
		buf = append(buf, chunk[:n]...)
		switch {
		case n > 0 && decide(buf):
			return buf, peekDecided, &replayConn{Conn: c, prefix: buf}
		case errors.Is(err, os.ErrDeadlineExceeded):
			return buf, peekTimeout, &replayConn{Conn: c, prefix: buf}
		case err != nil:
			return buf, peekFailed, &replayConn{Conn: c, prefix: buf}
		}
	}
}

// classify tells what b, the first bytes of a connection, start with:
// done is false while more bytes could change the answer; protocol is
// empty when b is not HTTP.
func classify(b []byte) (protocol string, done bool) {
	const preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
	if len(b) == 0 {
		return "", false
	}
	if n := min(len(b), len(preface)); bytes.Equal(b[:n], []byte(preface[:n])) {
		return protoH2C, n == len(preface)
	}
	// HTTP/1 request line: method SP request-target SP HTTP/1.x CRLF.
	i := 0
	for i < len(b) && isMethodChar(b[i]) {
		i++
	}
	if i == len(b) {
		return "", false
	}
	if i == 0 || b[i] != ' ' {
		return "", true
	}
	i++
	start := i
	for i < len(b) && b[i] > ' ' && b[i] != 0x7f {
		i++
	}
	if i == len(b) {
		return "", false
	}
	if i == start || b[i] != ' ' {
		return "", true
	}
	rest := b[i+1:]
	for _, v := range []struct{ line, protocol string }{
		{"HTTP/1.1\r\n", protoHTTP11},
		{"HTTP/1.0\r\n", protoHTTP10},
	} {
		n := min(len(rest), len(v.line))
		if bytes.Equal(rest[:n], []byte(v.line[:n])) {
			return v.protocol, n == len(v.line)
		}
	}
	return "", true
}

// isMethodChar reports whether c may appear in an HTTP method as sent in
// practice (upper-case letters, '-' and '_').
func isMethodChar(c byte) bool {
	return c >= 'A' && c <= 'Z' || c == '-' || c == '_'
}

// replayConn reads prefix, the bytes the inspector consumed, before the
// rest of the connection.
type replayConn struct {
	net.Conn
	prefix []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// CloseWrite half-closes the connection when it can, and closes it
// otherwise, so that a TCP proxy keeps half-closing inspected connections.
func (c *replayConn) CloseWrite() error {
	if hc, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return hc.CloseWrite()
	}
	return c.Close()
}
