// Package translate turns the mesh model into the Envoy v3 resources one
// proxy needs, exactly as docs/xds.md specifies: an mTLS inbound listener and
// a STATIC cluster per workload port, and a plaintext outbound listener, an
// EDS cluster and its ClusterLoadAssignment per outbound entry.
//
// Translation is a pure function of a model.Mesh and one of its Workloads:
// no I/O, no clock, no randomness. Equal inputs give equal resources, each
// type sorted by name, so the xDS server can compare snapshots and a golden
// test can pin the output. The output always holds every type the server
// serves (listeners, clusters, endpoints) and every EDS cluster has its
// assignment, so a cache.Snapshot built from it is Consistent.
//
// Secrets are never translated: the certificate (SecretDefault) and the
// trust bundle (SecretRootCA) are named in TLS contexts and resolved by the
// proxy itself.
package translate
