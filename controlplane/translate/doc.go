// Package translate turns the mesh model into the Envoy v3 resources one
// proxy needs, exactly as docs/xds.md specifies: an mTLS inbound listener and
// a STATIC cluster per workload port, and a plaintext outbound listener, an
// EDS cluster and its ClusterLoadAssignment per outbound entry.
//
// A port carries TCP unless its service port is HTTP (model.PortProtocol:
// appProtocol first, then the port's name). For an HTTP outbound entry the
// listener runs an HTTP connection manager fed by a RouteConfiguration over
// RDS, and the cluster speaks HTTP/2 (ALPN h2) to the peer sidecar. An
// inbound port is HTTP only when every service port targeting it is
// (model.Mesh.InboundProtocol); its listener then carries the route inline
// and its cluster speaks h2c to apps that speak HTTP/2.
//
// A port that declares no protocol (model.ProtocolAuto: no appProtocol and
// a name that matches no rule) gets a listener with the HTTP inspector and
// two filter chains, the HTTP one matching application_protocols
// http/1.0, http/1.1 and h2c and a default tcp_proxy one; its outbound
// cluster is that of an HTTP port. Declared TCP ports keep one tcp_proxy
// chain and are never inspected.
//
// Each inbound port follows its PeerAuthentication mode
// (model.Mesh.MTLSMode): STRICT chains require mTLS, DISABLE chains are
// plaintext, and PERMISSIVE listeners put the TLS inspector first and
// carry every chain twice, for TLS and for plaintext; mesh clients of an
// all-DISABLE service port speak plaintext. AuthorizationPolicies become
// RBAC filters (audit, deny, allow) on every inbound chain; on TCP chains
// the HTTP parts of a rule fail closed, and Check says so.
//
// Translation is a pure function of a model.Mesh and one of its Workloads:
// no I/O, no clock, no randomness. Equal inputs give equal resources, each
// type sorted by name, so the xDS server can compare snapshots and a golden
// test can pin the output. The output always holds every type the server
// serves (listeners, routes, clusters, endpoints), every EDS cluster has its
// assignment and every RDS name its RouteConfiguration, so a cache.Snapshot
// built from it is Consistent.
//
// A Kubernetes Pod's sidecar captures the pod's traffic (docs/capture.md)
// rather than listening where the app connects: it gets virtualOutbound,
// which hands each connection to the non-binding listener of the Service
// ClusterIP it was going to (or passes it through, or closes it, after the
// mesh's outbound traffic policy), and virtualInbound, whose chains are
// those of the standalone inbound listeners, one set per destination port,
// plus a passthrough for the ports the pod does not serve.
//
// Proxyless translates instead for a gRPC client that is its own xDS client
// (grpc-go's xds:/// resolver): api_listeners named after the targets it
// dials, the sidecar's routes for them, plaintext EDS clusters, in the
// subset of Envoy's resources grpc-go accepts. Its snapshots are checked
// with Consistent, which also reads the route names of api_listeners.
//
// An ingress gateway's proxy (model.Workload.Gateway) gets instead its
// Gateway's listeners, routes and clusters as gateway.Resolve decides
// them (docs/gateway.md), and the SDS secrets of the certificates its
// listeners serve: the only Secrets ever translated. A sidecar's own
// certificate (SecretDefault) and the trust bundle (SecretRootCA) are
// named in TLS contexts and resolved by the proxy itself.
package translate
