// Package dataplane serves the xDS configuration a proxy receives: TCP
// listeners with an optional mTLS transport socket and one network filter
// each, either tcp_proxy (L4) or an HTTP connection manager (L7, served by
// package httpproxy with the routes compiled by package route), and the
// STATIC or EDS clusters they send connections or requests to
// (docs/xds.md is the contract).
//
// A Dataplane receives each resource type whole through OnListeners,
// OnClusters, OnEndpoints and OnRoutes. Every call validates the complete set first;
// any field outside the supported subset is an error naming the resource
// and the field path, and leaves the running configuration untouched, so
// the caller can NACK it. A valid set is applied as Envoy applies one:
//
//   - a listener with a new name is bound and served;
//   - a listener that did not change keeps everything, connections included;
//   - a listener with the same name and address gets its new configuration
//     by an atomic swap, keeping its socket; the connections accepted under
//     the old configuration are drained: HTTP ones end after their current
//     requests (HTTP/1 Connection: close, HTTP/2 GOAWAY), and any still
//     open after the drain timeout are closed, so that a policy change
//     (authorization, mTLS mode) reaches every connection within it;
//   - a listener whose address changed, or that disappeared, has its socket
//     closed and its connections drained the same way;
//   - clusters and endpoints are swapped atomically and used by new
//     connections only (by the next request, on HTTP listeners);
//   - route configurations (RDS) are compiled and swapped atomically; the
//     next request of every connection uses them. An HTTP listener whose
//     route configuration has not arrived answers 503 with flag NR.
//
// HTTP listeners accept the HttpConnectionManager subset of docs/xds.md:
// stat_prefix, codec_type AUTO, HTTP1 or HTTP2, routes over ADS (rds) or
// inline (route_config), and http_filters: envoy.filters.http.rbac filters
// (at most one per action, compiled by package rbac), then the router with
// an empty Router, last. A tcp_proxy may follow envoy.filters.network.rbac
// filters, run on each connection before it goes upstream; a denied
// connection is closed and counted with result rbac_denied. A tcp_proxy's
// access_log (StdoutAccessLog or FileAccessLog, as an HTTP connection
// manager's) gets one line per connection when it ends (connlog.go):
// protocol TCP, the bytes each way, the cluster and endpoint, the mTLS
// client's SPIFFE ID, the RBAC decision and a response flag for a refused
// one (RBAC, NC, UH, UF). Clusters may carry
// typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
// with explicit_http_config choosing http_protocol_options or
// http2_protocol_options (without options of their own): HTTP listeners then
// speak HTTP/1.1 or HTTP/2 to the cluster's endpoints, HTTP/2 over one
// multiplexed connection per endpoint. TLS contexts may carry alpn_protocols
// "h2" and "http/1.1". On Close, HTTP connections are asked to end at once
// (GOAWAY, no more keep-alive) and closed when the drain timeout passes.
//
// A listener may carry listener_filters with only the HTTP inspector
// (envoy.filters.listener.http_inspector, an empty HttpInspector); its
// filter chains may then carry filter_chain_match.application_protocols
// from "http/1.0", "http/1.1" and "h2c", with at most one chain without a
// match (the default) and the same transport socket on every chain. The
// inspector reads the client's first bytes (after TLS on mTLS listeners)
// for at most 100ms: an HTTP/1.x request line or the HTTP/2 preface picks
// the chain listing that protocol, anything else, or nothing within the
// budget, the default chain, so server-first protocols are not stalled.
// The bytes read are replayed to the chosen chain.
//
// A listener may also run the TLS inspector
// (envoy.filters.listener.tls_inspector, an empty TlsInspector), first,
// for PeerAuthentication PERMISSIVE: it tells a TLS handshake record from
// plaintext within the same budget, and chains are chosen first by
// filter_chain_match.transport_protocol ("tls", whose chains terminate
// mTLS, or "raw_buffer", plaintext, with no peer identity), then by
// sniffed protocol among them, as Envoy does. Chains of one transport
// protocol share their transport socket.
//
// Traffic capture (docs/capture.md): a listener with use_original_dst
// (virtualOutbound) reads each connection's original destination
// (Config.OriginalDst, SO_ORIGINAL_DST) and hands the connection to the
// listener with bind_to_port false whose address (or an
// additional_address) it is, else to one on the wildcard address of its
// family with its port; that virtual listener serves it as if it had
// accepted it, and drains it when it changes. A listener whose first
// listener filter is envoy.filters.listener.original_dst
// (virtualInbound) chooses chains by filter_chain_match.destination_port
// of the original destination first, and gives the connection that
// address as its local address. ORIGINAL_DST clusters (CLUSTER_PROVIDED,
// plaintext, tcp_proxy only) dial the original destination. Loops are
// closed with result "loop": a captured connection whose original
// destination is one of the dataplane's own listening sockets, and one
// from a socket the dataplane dialed itself (its upstream sockets'
// addresses are registered while they are open), which means the
// proxy's UID is not exempted from capture. Listeners may bind
// additional_addresses; an IPv6 one is skipped when IPv6 is unavailable.
//
// For HTTP requests, clusters may also carry circuit_breakers (thresholds
// of priority DEFAULT: max_connections, max_pending_requests, max_requests,
// max_retries, retry_budget) and outlier_detection (consecutive_5xx,
// consecutive_gateway_failure and their enforcing_ percentages, interval,
// base_ejection_time, max_ejection_time, max_ejection_percent,
// always_eject_one_host); their state starts afresh with each new
// configuration of the cluster. Routes' retry policies and timeouts apply
// as package httpproxy describes.
//
// Inbound listeners (those with a DownstreamTlsContext) accept TLS 1.3 only,
// require a client certificate chaining to the trust domain's bundle, and
// authorize the client's SPIFFE ID with the listener's URI SAN matchers.
// Clusters with an UpstreamTlsContext dial their endpoints with TLS 1.3,
// present the workload's SVID, and authorize the server's SPIFFE ID. The
// workload certificate and bundle come from the Config's sources at every
// handshake, so rotation needs no new configuration.
//
// Metrics (on Config.Registerer), besides those of package httpproxy:
//
//	weft_proxy_connections_total{listener,direction,peer_id,result}
//	weft_proxy_active_connections{listener}
//	weft_proxy_bytes_total{listener,direction}
//	weft_proxy_tls_handshake_errors_total{listener,reason}
//	weft_proxy_protocol_detection_total{listener,result}
//	weft_proxy_tls_detection_total{listener,result}
//
// direction on connections is "inbound" for listeners with
// traffic_direction INBOUND or, when it is unset, a DownstreamTlsContext or
// a name starting with "inbound|" (plaintext DISABLE ports), and
// "outbound" otherwise; peer_id is the verified
// SPIFFE ID of the mTLS peer (the client on inbound listeners, the server
// on outbound ones), empty when that side is plaintext (always empty on
// outbound HTTP listeners, whose requests may go to several upstreams: see
// weft_proxy_http_requests_total). A connection is
// counted once, when it is proxied (result "ok") or refused (the other
// results: tls_handshake_failed, no_cluster, no_endpoints,
// upstream_connect_failed, no_filter_chain, rbac_denied, loop). Detection results are http1,
// h2c, tcp (decided: not HTTP) and timeout (no decision within the
// budget; served by the default chain); TLS detection results are tls,
// plaintext and timeout (served as plaintext). direction on bytes is "to_upstream" or
// "to_downstream". Handshake error reasons are plaintext, timeout,
// bad_certificate (chain, trust domain, validity period, not exactly one
// URI SAN, or an extended key usage that excludes the peer's role),
// unauthorized (SAN matchers),
// no_client_certificate, protocol_version, peer_alert, peer_closed and
// other; failed handshakes toward upstreams carry the same reasons prefixed
// with "upstream_".
package dataplane
