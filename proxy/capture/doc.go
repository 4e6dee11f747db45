// Package capture installs, checks and removes the nftables rules that send
// a pod's TCP traffic through its sidecar (docs/capture.md): outbound to
// 15001, inbound to 15006, except the proxy's own traffic (UID 1337),
// loopback, the proxy's ports and the excluded ports and networks.
//
// The rules live in one table, "inet weft", that Weft owns: Install
// replaces it in one netlink batch, Cleanup deletes it. Both "weft-proxy
// init" and the weft-cni plugin call Install, in the network namespace they
// run in (the CNI plugin enters the pod's first).
package capture
