// Package dataplane serves the L4 part of the xDS configuration a proxy
// receives: TCP listeners with an optional mTLS transport socket, one
// tcp_proxy network filter each, and the STATIC or EDS clusters they send
// connections to (docs/xds.md is the contract).
//
// A Dataplane receives each resource type whole through OnListeners,
// OnClusters and OnEndpoints. Every call validates the complete set first;
// any field outside the supported subset is an error naming the resource
// and the field path, and leaves the running configuration untouched, so
// the caller can NACK it. A valid set is applied without disturbing
// established connections:
//
//   - a listener with a new name is bound and served;
//   - a listener with the same name and address gets its new configuration
//     by an atomic swap, keeping its socket and connections;
//   - a listener whose address changed, or that disappeared, has its socket
//     closed while its established connections run to their end;
//   - clusters and endpoints are swapped atomically and used by new
//     connections only.
//
// Inbound listeners (those with a DownstreamTlsContext) accept TLS 1.3 only,
// require a client certificate chaining to the trust domain's bundle, and
// authorize the client's SPIFFE ID with the listener's URI SAN matchers.
// Clusters with an UpstreamTlsContext dial their endpoints with TLS 1.3,
// present the workload's SVID, and authorize the server's SPIFFE ID. The
// workload certificate and bundle come from the Config's sources at every
// handshake, so rotation needs no new configuration.
//
// Metrics (on Config.Registerer):
//
//	weft_proxy_connections_total{listener,direction,peer_id,result}
//	weft_proxy_active_connections{listener}
//	weft_proxy_bytes_total{listener,direction}
//	weft_proxy_tls_handshake_errors_total{listener,reason}
//
// direction on connections is "inbound" for listeners with a
// DownstreamTlsContext and "outbound" otherwise; peer_id is the verified
// SPIFFE ID of the mTLS peer (the client on inbound listeners, the server
// on outbound ones), empty when that side is plaintext. A connection is
// counted once, when it is proxied (result "ok") or refused (the other
// results: tls_handshake_failed, no_cluster, no_endpoints,
// upstream_connect_failed). direction on bytes is "to_upstream" or
// "to_downstream". Handshake error reasons are plaintext, timeout,
// bad_certificate (chain, trust domain, validity period, not exactly one
// URI SAN, or an extended key usage that excludes the peer's role),
// unauthorized (SAN matchers),
// no_client_certificate, protocol_version, peer_alert, peer_closed and
// other; failed handshakes toward upstreams carry the same reasons prefixed
// with "upstream_".
package dataplane
