package dataplane

import (
	"net"
	"time"
)

// Transport protocols the TLS inspector reports, as Envoy names them in
// filter_chain_match.transport_protocol.
const (
	transportTLS = "tls"
	transportRaw = "raw_buffer"
)

// Results of weft_proxy_tls_detection_total.
const (
	detectedTLS       = "tls"
	detectedPlaintext = "plaintext"
	// detectedTimeout (no decision within the budget) is shared with
	// the HTTP inspector; such connections are served as plaintext.
)

// inspectTLS reads the first bytes of c until deadline to tell a TLS
// handshake from plaintext, as a PERMISSIVE listener must. It returns the
// transport protocol, the metrics result, and a conn that replays what was
// read. Anything but a TLS handshake record, EOF and no bytes in time are
// plaintext: a server-first protocol is served without waiting longer.
func inspectTLS(c net.Conn, deadline time.Time) (transport, result string, replay net.Conn) {
	buf, end, replay := peek(c, deadline, func(b []byte) bool {
		_, done := classifyTLS(b)
		return done
	})
	if tls, done := classifyTLS(buf); done {
		if tls {
			return transportTLS, detectedTLS, replay
		}
		return transportRaw, detectedPlaintext, replay
	}
	if end == peekTimeout {
		return transportRaw, detectedTimeout, replay
	}
	return transportRaw, detectedPlaintext, replay
}

// classifyTLS tells whether b, the first bytes of a connection, start a
// TLS handshake record (content type 22, then version 3.0 to 3.4, RFC 8446
// §5.1); done is false while more bytes could change the answer.
func classifyTLS(b []byte) (tls, done bool) {
	const recordHandshake, major = 0x16, 0x03
	switch {
	case len(b) == 0:
		return false, false
	case b[0] != recordHandshake:
		return false, true
	case len(b) == 1:
		return false, false
	case b[1] != major:
		return false, true
	case len(b) == 2:
		return false, false
	}
	return b[2] <= 0x04, true
}
