package httpguard

import (
	"net/http"
	"strings"
)

// connectionSpecific lists the fields RFC 9110 §7.6.1 names as
// connection-specific whether or not Connection lists them, with Connection
// itself; RFC 9113 §8.2.2 forbids all of them in HTTP/2.
var connectionSpecific = []string{
	"Connection",
	"Keep-Alive",
	"Proxy-Connection",
	"Te",
	"Transfer-Encoding",
	"Upgrade",
}

// StripHopByHop deletes the connection-specific fields of a message about
// to be forwarded on another connection: every field Connection names, then
// Connection, Keep-Alive, Proxy-Connection, Transfer-Encoding and Upgrade,
// and TE, except that "TE: trailers" is kept (as the only value) when the
// message carried it, since gRPC needs it end to end and HTTP/2 allows it.
//
// It follows RFC 9110 §7.6.1, not the older RFC 2616 list: Trailer,
// Proxy-Authenticate and Proxy-Authorization are end-to-end or addressed to
// the proxy's own authentication, which the mesh does not do, so they stay.
// Content-Length stays too: the transport writes the framing from the
// request's ContentLength, not from the header.
//
// Call it on the outbound copy after routing and authorization, never
// before: an Upgrade or Connection field can matter to those decisions.
func StripHopByHop(h http.Header) {
	keepTrailers := false
	for _, v := range h["Te"] {
		for e := range strings.SplitSeq(v, ",") {
			if t, _, _ := strings.Cut(e, ";"); strings.EqualFold(trimOWS(t), "trailers") {
				keepTrailers = true
			}
		}
	}
	for _, v := range h["Connection"] {
		for name := range strings.SplitSeq(v, ",") {
			if name = trimOWS(name); name != "" {
				h.Del(name)
			}
		}
	}
	for _, name := range connectionSpecific {
		delete(h, name)
	}
	if keepTrailers {
		h["Te"] = []string{"trailers"}
	}
}

// ValidateH2ToH1 checks fields that arrived over HTTP/2 (or HTTP/3) before
// they cross into an HTTP/1 message, where bytes HPACK carries happily would
// end a line or a field: it rejects field names that are not tokens, values
// holding CR, LF, NUL or another control byte, values with leading or
// trailing whitespace (RFC 9113 §8.2.1), and Content-Length values that
// disagree. The error is a 400 *HeadError. Connection-specific fields are
// not rejected here; StripHopByHop deletes them.
func ValidateH2ToH1(h http.Header) error {
	for name, values := range h {
		if !isToken(name) {
			return badRequest("invalid field name from HTTP/2")
		}
		for _, v := range values {
			if v != trimOWS(v) {
				return badRequest("whitespace around field value from HTTP/2")
			}
			for i := 0; i < len(v); i++ {
				if !isFieldValueByte(v[i]) {
					return badRequest("control byte in field value from HTTP/2")
				}
			}
		}
	}
	if cl, ok := h["Content-Length"]; ok {
		if _, err := parseContentLength(cl); err != nil {
			return err
		}
	}
	return nil
}
