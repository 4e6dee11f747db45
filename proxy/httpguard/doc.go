// Package httpguard holds the strict, allocation-light checks the HTTP proxy
// applies to every request before a routing decision is made and before a
// byte reaches an upstream.
//
// It provides four things:
//
//   - [ReadRequestHead] reads an HTTP/1.1 request line and header section
//     from a connection under [Limits], following RFC 9112 strictly: bare LF,
//     obs-fold, whitespace before a colon, invalid tokens, control bytes in
//     values, a Transfer-Encoding together with a Content-Length, differing
//     Content-Lengths and any Transfer-Encoding whose final coding is not
//     "chunked" are all rejected. Every rejection is a [*HeadError] carrying
//     the status to answer with (400, 414, 431, 501 or 505); the connection
//     must then be closed, since its framing can no longer be trusted.
//   - [NewChunkedReader] decodes a chunked body, rejecting malformed chunk
//     sizes, overflows, unbounded chunk extensions and missing CRLFs, and
//     [LimitBody] bounds bodies read on buffered paths (413).
//   - [NormalizePath] turns a request path into the single form that
//     routing, authorization and the upstream all see: percent-decoded
//     unreserved characters, upper-case escapes, RFC 3986 dot-segment
//     removal and merged slashes; encoded slashes and backslashes are
//     rejected by default, like Envoy's REJECT_REQUEST action.
//   - [StripHopByHop] deletes connection-specific header fields (RFC 9110
//     §7.6.1, RFC 9113 §8.2.2) from a message about to be forwarded, and
//     [ValidateH2ToH1] rejects HTTP/2 fields that would smuggle CR, LF or
//     NUL into an HTTP/1 message.
//
// # Using it in the proxy
//
// The proxy owns the accepted connection and a *bufio.Reader over it. For
// each request on the connection it calls ReadRequestHead; on error it
// writes the status with [HeadError.WriteResponse] and closes the
// connection. On success, [RequestHead.NewRequest] builds an *http.Request
// whose Body is framed by the validated Content-Length or by a
// ChunkedReader, so the body can never run past the request into the next
// one. The proxy then normalizes the path once (NormalizePath on
// RequestHead.Target), routes and authorizes on that, and only then calls
// StripHopByHop on the outbound copy of the header before handing the
// request to its transport. The body must be drained (or the connection
// closed) before reading the next head.
//
// A request that arrived over HTTP/2 has been parsed by golang.org/x/net's
// server; before it crosses into an HTTP/1 upstream the proxy calls
// ValidateH2ToH1 on its header and NormalizePath on its RequestURI, then
// StripHopByHop on the outbound header, exactly as for HTTP/1. Responses
// crossing back get StripHopByHop too.
//
// Nothing here does I/O beyond the reader or writer it is handed, and
// nothing keeps state between calls.
package httpguard
