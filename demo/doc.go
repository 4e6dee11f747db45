// Package demo runs the whole mesh on one machine, without a cluster, a
// container engine or root: a control plane and two workloads (frontend and
// backend) each with its sidecar, all as real processes on loopback
// addresses. It sends traffic from frontend to backend through both
// sidecars and reports what it proves: requests that succeeded, the SPIFFE
// IDs each sidecar verified, latency, and that plaintext to the backend's
// mesh port is refused. `weftctl demo` and `make demo` run it.
package demo
