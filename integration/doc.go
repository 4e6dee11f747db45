// Package integration holds tests that run Weft's real pieces together:
// the control plane, proxies and test servers over real sockets, TLS and
// gRPC on loopback, and the demo as separate processes. `go test -short`
// skips the slowest of them.
package integration
