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
//     or virtualOutbound's own chain), its filter chain, the virtual host
//     and route (compiled and matched by package route, the proxy's own),
//     the cluster (weighted clusters listed with their weights), and the
//     endpoints that take traffic with the one the load balancer picks
//     when the policy is deterministic for this request (RING_HASH and
//     MAGLEV with the request's hash, by package lb);
//   - destination proxy: the inbound listener and chain that take the
//     connection (by address, or destination_port on virtualInbound;
//     mTLS or plaintext as the source's cluster speaks), and what its
//     RBAC filters decide for the request and the source's SPIFFE ID
//     (package rbac, the proxy's own evaluation), naming the policy.
//
// The explanation reads the configuration as the proxy parses it
// (packages route, rbac, lb and dataplane's cluster and endpoint
// parsing), so where it is deterministic it agrees with the proxy; it
// cannot know outlier ejections, circuit breakers or the app's answer.
package explain
