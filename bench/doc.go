// Package bench is Weft's performance harness (`make bench`). It runs the
// same workloads through four set-ups side by side and prints one table of
// ratios:
//
//   - direct: load generator → server, no proxy;
//   - weft: load generator → weft-proxy → mTLS → weft-proxy → server;
//   - nginx: the same with two nginx (proxy_ssl_certificate on the client
//     side, ssl_verify_client on the server side, upstream keep-alive);
//   - haproxy: the same with two HAProxy.
//
// Every set-up uses TLS 1.3 and ECDSA P-256 certificates from one CA: the
// harness creates a root (the same shape as Weft's own generated root),
// hands it to weft-controlplane as a provided CA, which issues the sidecars'
// SVIDs from it, and signs nginx's and HAProxy's certificates itself.
//
// The runs are interleaved (every repetition goes through all set-ups before
// the next one starts) and each figure is the median of the repetitions. The
// load generator and the servers run on CPU 0, every proxy on CPU 1, where
// the machine has two CPUs or more.
//
// The pure parts (statistics, the table, configuration files of the three
// proxies) are plain functions with unit tests; Run does the I/O.
package bench
