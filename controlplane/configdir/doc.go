// Package configdir is standalone mode's source of the mesh model: it reads
// a directory of Kubernetes-shaped YAML into a model.Mesh, and watches the
// directory for changes. It takes the same YAML a Kubernetes user applies:
// core v1 Services; mesh.weft.dev/v1alpha1 Workloads, PeerAuthentications,
// AuthorizationPolicies and TrafficPolicies; gateway.networking.k8s.io/v1
// HTTPRoutes and GRPCRoutes. For the ingress gateway (docs/gateway.md) it
// also takes gateway.networking.k8s.io/v1 Gateways (of the weft class
// only), TLSRoutes and TCPRoutes, v1beta1 ReferenceGrants, core v1
// Namespaces (their labels, for listeners that select routes' namespaces),
// and core v1 Secrets of type kubernetes.io/tls, whose tls.crt must be a
// PEM certificate chain and tls.key its PEM private key; only the Secrets
// a Gateway's certificateRefs name reach the mesh. A Workload whose
// spec.gateway names a Gateway of its namespace is that Gateway's proxy.
//
// Load reads every *.yaml and *.yml file directly in the directory (sorted
// by name; hidden files and subdirectories are skipped), each holding one or
// more documents separated by "---". Decoding is strict: an unknown field is
// an error, as with kubectl's strict field validation. Every problem found is
// reported at once, as an *Error whose Problems name the file, the line and
// the field at fault:
//
//	services.yaml:12: spec.ports[0].port: must be between 1 and 65535
//
// Defaults follow Kubernetes: an object without a namespace is in
// "default", a Service port without a targetPort targets its own port. For
// a Workload, localAddress defaults to 127.0.0.1, a port's targetPort to its
// port, and an outbound listener's localPort to its service port. An
// outbound service is written "name" (the workload's namespace) or
// "name.namespace"; it may name a Service that does not exist yet.
//
// Policies and routes get the defaults their CRDs declare (the namespace
// "default", AuthorizationPolicy action ALLOW, mTLS mode UNSET, a
// targetRef's kind Service; for routes, parentRef group and kind
// gateway.networking.k8s.io Gateway, backendRef kind Service with weight 1,
// a PathPrefix "/" match for a rule without matches, and so on), then the
// validation the API server would apply: the API package's validators for
// Weft's kinds, and the Gateway API schema and CEL rules for routes. Their
// status is ignored. As with kubectl, a route's parentRef to a Service
// must say `group: ""`, or it names a Gateway API kind. A route must also
// name at least one parent; whether
// the Services that policies and routes name exist is for the translator's
// checks, which depend on the whole mesh.
//
// A Watcher keeps a running control plane in step with the directory: it
// watches the directory itself, so that editors that replace a file by
// renaming over it and Kubernetes ConfigMap volumes (which swap a "..data"
// symlink) are both seen, and it hands on only configurations that load
// without problems. A broken edit is logged and the last good mesh stays in
// force until the directory is fixed.
package configdir
