// Package httpproxy serves the HTTP connections of one kind of listener:
// those whose network filter is an HTTP connection manager
// (envoy.filters.network.http_connection_manager, docs/xds.md "HTTP ports").
//
// The dataplane accepts the connection, runs the TLS handshake of mTLS
// listeners, and hands the connection to Proxy.ServeConn with the
// listener's Listener description. ServeConn speaks HTTP/1.1 with
// keep-alive, or HTTP/2: negotiated by ALPN "h2" on TLS connections, or
// announced by the HTTP/2 connection preface (prior knowledge) on
// plaintext ones and on TLS ones without ALPN (an app's h2c that a
// sidecar carries to a pod IP over mTLS).
//
// HTTP/1 is not served by net/http's lenient parser but by a strict loop
// (http1.go) over httpguard.ReadRequestHead under Listener.Limits: a head
// it refuses (request smuggling with Transfer-Encoding and Content-Length,
// differing lengths, bare LF, obs-fold, whitespace before a colon, a long
// target or header section, ...) is answered with its 400, 414, 431, 501
// or 505, Connection: close, and the connection is closed before anything
// is routed; a chunked body that breaks its framing ends the same way.
// Bodies are framed by the validated length or a ChunkedReader, responses
// by their Content-Length or chunked encoding, pipelined requests are
// answered in order, Expect: 100-continue is honored when the body is
// first read, and a client closing its connection cancels its pending
// request (DC). The preface of a connection without ALPN is peeked first,
// so HTTP/2 with prior knowledge still reaches the HTTP/2 server.
//
// A Listener with an AccessLog writes one JSON line per request:
// start_time, method, path, protocol, response_code, response_flags ("-"
// or DC, DPE, NR, NC, UH, UF, UT, UO, URX, UPE), bytes_received,
// bytes_sent, duration_ms, upstream_host, upstream_cluster, peer_id (the
// downstream mTLS client) and x_request_id (a request without one gets a
// UUID, forwarded with it: tracing.EnsureRequestID), and
// on listeners with RBAC filters authz_policy, authz_reason and
// authz_audit.
//
// A Listener's Authz (its envoy.filters.http.rbac filters) decides on every
// request once its path is normalized, before routing: a denied request
// gets 403 "RBAC: access denied" with flag RBAC, or for gRPC a
// Trailers-Only PERMISSION_DENIED, and is counted in
// weft_proxy_authz_denied_total; AUDIT matches are logged and counted in
// weft_proxy_authz_audited_total.
//
// Every request is routed by the listener's Router (the compiled route
// configuration). A route either answers itself (direct response,
// redirect) or names a cluster, whose endpoint for this request the
// Clusters picks. The request then goes upstream:
//
//   - to clusters that ask for HTTP/2 (HttpProtocolOptions with
//     http2_protocol_options) over one multiplexed HTTP/2 connection per
//     endpoint, mTLS when the cluster has an UpstreamTlsContext, h2c
//     otherwise, whatever the downstream protocol;
//   - to the other clusters over HTTP/1.1 with pooled keep-alive
//     connections.
//
// Both sides use net/http's own HTTP/1 and HTTP/2 (golang.org/x/net/http2
// is deprecated in its favour). Each upstream endpoint of a cluster
// configuration has its own pool; pools of removed clusters and endpoints
// close their connections as soon as these are idle.
//
// Bodies stream both ways and every write is flushed, so gRPC streaming
// works; trailers are forwarded; grpc-timeout and every other end-to-end
// header pass untouched. After routing, and again on the response,
// connection-specific header fields (Connection and the fields it names,
// Keep-Alive, Proxy-Connection, Transfer-Encoding, Upgrade, and TE except
// "trailers") are deleted; a request with conflicting Content-Lengths is
// refused with 400. HTTP/2 fields about to cross into HTTP/1 are checked
// first (httpguard.ValidateH2ToH1): a bad request field is a 400, a bad
// response field a 502 with flag UPE.
//
// An HTTP/1.1 request whose Connection names its Upgrade (WebSocket or
// any other protocol) is routed like the others but not retried: it goes
// upstream over HTTP/1.1 on a connection of its own, dialled with
// Target.DialHTTP1 (ALPN "http/1.1") when the cluster speaks HTTP/2, with
// Connection: Upgrade and its Upgrade field put back after the stripping.
// A 101 answer goes downstream with the upstream's Upgrade, then both
// connections are joined byte for byte (tcpproxy.Join, half-close kept);
// any other answer is forwarded as usual (upgrade.go).
//
// Shutdown drains: idle HTTP/1 connections close, a response still to be
// sent says Connection: close, HTTP/2 connections get GOAWAY.
//
// A route's Timeout bounds the whole exchange, retries included (504, UT).
// Its RetryPolicy retries attempts that fail as retry_on says (5xx,
// gateway-error, reset, reset-before-request, connect-failure,
// retriable-4xx, retriable-status-codes, and the gRPC statuses of
// trailers-only responses), each attempt on a newly picked endpoint and
// bounded by the per-try timeout, after a jittered exponential back-off.
// Only requests without a body or with a Content-Length of at most
// MaxReplayBody are retried (the body is buffered), and never once the
// response has started downstream. A response sent after the retries ran
// out carries flag URX. The cluster's Breaker refuses requests, pending
// requests, connections and retries over its thresholds (503, UO; a
// refused retry leaves the last outcome standing); its Outlier ejects
// endpoints that fail in a row, and a cluster whose endpoints are all
// ejected answers 503 UH.
//
// Local answers carry Envoy's response flags in the x-weft-response-flags
// header and the log: no route, or no route configuration yet, is 404 or 503
// with NR; a cluster that does not exist is 503 NC, one without endpoints
// 503 UH; a failed upstream connection or request is 503 UF.
//
// With a Config.Tracer, every request gets a span (SERVER on inbound
// listeners, CLIENT on the others) named by its route, or cluster, and
// each upstream attempt carries that span's context in W3C and B3
// headers (tracing.go, package tracing); without one, trace headers pass
// untouched.
//
// Metrics (on Config.Registerer): weft_requests_total and
// weft_request_duration_seconds (package meshmetrics, docs/metrics.md),
// labelled with the source and destination workloads, response code,
// flags and gRPC status, and per listener
//
//	weft_proxy_http_requests_total{listener,direction,code_class,peer_id}
//	weft_proxy_http_request_duration_seconds{listener,direction}
//
// The peer's workload name comes from the x-weft-* headers between
// sidecars (peer.go): an outbound listener sends Config.Workload with
// requests to mTLS targets (Target.MTLS) and reads the server's from the
// response; an inbound listener reads the client's from the request and
// sends its own with responses to mTLS clients. Both delete what they
// read, so apps never see these fields, and claims from plaintext peers,
// or for another namespace than the peer certificate's, are ignored.
//
// code_class is 1xx…5xx; peer_id is the verified SPIFFE ID of the mTLS
// peer: the client on inbound listeners, the upstream server on outbound
// ones, empty when that side is plaintext.
package httpproxy
