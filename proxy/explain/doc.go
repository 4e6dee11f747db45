// Package explain tells what the mesh would do with one HTTP request,
// from the configuration two proxies show on their admin port
// (/config_dump), without sending anything: it is `weftctl explain`.
//
// It answers the questions asked when a request fails, in the order the
// request meets them:
//
//   - source proxy: the listener that takes the connection (a bound
//     listener on the destination address; else, behind capture, the
//     virtual listener virtualOutbound hands the original destination to,
//     or virtualOutbound itself), its filter chain (chosen as the proxy
//     chooses it: by destination_port, then the destination address
//     against prefix_ranges, then transport and application protocol;
//     so a meshed pod dialled by its IP takes virtualOutbound's chain for
//     that pod, and another address on that port the port's fallback),
//     the virtual host and route (compiled and matched by package route,
//     the proxy's own), the cluster (weighted clusters listed with their
//     weights; an ORIGINAL_DST cluster dials the original destination, in
//     plaintext, or over mTLS with a transport_socket as a pod IP's
//     outbound|pod||<SPIFFE ID> cluster has), and the endpoints that take
//     traffic with the one the load balancer picks when the policy is
//     deterministic for this request (RING_HASH and MAGLEV with the
//     request's hash, by package lb);
//   - destination proxy: the inbound listener and chain that take the
//     connection (by address, or destination_port on virtualInbound;
//     mTLS or plaintext as the source's cluster speaks, ORIGINAL_DST
//     ones included), and what its RBAC filters decide for the request
//     and the source's SPIFFE ID (package rbac, the proxy's own
//     evaluation), naming the policy.
//
// The explanation reads the configuration as the proxy parses it
// (packages route, rbac, lb and dataplane's cluster and endpoint
// parsing), so where it is deterministic it agrees with the proxy; it
// cannot know outlier ejections, circuit breakers or the app's answer.
package explain
