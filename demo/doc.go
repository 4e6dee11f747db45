// Package demo runs the whole mesh on one machine, without a cluster, a
// container engine or root: a control plane, two workloads (frontend and
// backend) each with its sidecar, and an ingress gateway (weft-proxy in
// gateway mode), all as real processes on loopback addresses. It sends
// traffic from frontend to backend through both sidecars, and from an
// external client over HTTPS through the gateway to the backend, and
// reports what it proves: requests that succeeded, the SPIFFE IDs each
// sidecar verified (the backend's sees the gateway's), that the gateway
// replaced the client's forged forwarding headers, latency, and that
// plaintext to the backend's mesh port is refused. `weftctl demo` and
// `make demo` run it.
package demo
