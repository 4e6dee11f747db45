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
)

// sniffBudget is how long the HTTP inspector waits for the client's first
// bytes. Envoy's inspector waits as long as it takes; Weft gives up early
// so that server-first protocols (a MySQL greeting) are not stalled: on
// timeout the connection takes the default (TCP) chain.
const sniffBudget = 100 * time.Millisecond

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

// parseListenerFilters checks a listener's listener_filters and reports
// whether they hold the HTTP inspector, the only one supported.
func parseListenerFilters(p *problems, fs []*listenerv3.ListenerFilter) bool {
	if len(fs) > 1 {
		p.Addf("listener_filters", "want at most one listener filter, got %d", len(fs))
	}
	found := false
	for i, f := range fs {
		path := fmt.Sprintf("listener_filters[%d]", i)
		p.OnlyFields(path, f, "name", "typed_config")
		var hi httpinspectorv3.HttpInspector
		if unpackTyped(p, field(path, "typed_config"), f.GetTypedConfig(), &hi) {
			p.OnlyFields(field(path, "typed_config"), &hi)
			found = true
		}
	}
	return found
}

// sniff reads the first bytes of c, for at most sniffBudget, to tell
// HTTP/1.x and h2c from anything else. It returns the application protocol
// ("" when not HTTP), the metrics result, and a conn that replays what was
// read.
func sniff(c net.Conn) (protocol, result string, replay net.Conn) {
	var buf []byte
	chunk := make([]byte, 1024)
	_ = c.SetReadDeadline(time.Now().Add(sniffBudget))
	defer func() { _ = c.SetReadDeadline(time.Time{}) }()
	for {
		n, err := c.Read(chunk)
		buf = append(buf, chunk[:n]...)
		protocol, done := classify(buf)
		replay = &replayConn{Conn: c, prefix: buf}
		switch {
		case done && protocol == protoH2C:
			return protocol, detectedH2C, replay
		case done && protocol != "":
			return protocol, detectedHTTP1, replay
		case done || len(buf) >= sniffMaxBytes:
			return "", detectedTCP, replay
		case errors.Is(err, os.ErrDeadlineExceeded):
			return "", detectedTimeout, replay
		case err != nil:
			return "", detectedTCP, replay
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
