// Package kube is Kubernetes mode's source of the mesh: controller-runtime
// informers on the API server, and Build, which turns what they hold into
// the same model.Mesh that standalone mode reads from YAML (see
// docs/kubernetes.md for the mapping), so that the translator and the xDS
// server do not know which mode fed them.
//
// Build is a pure function of object lists, so the mapping is table-tested
// without an API server; the Watcher only keeps the informers, lists their
// caches after a debounced burst of events, and hands on each new mesh.
// Objects the API server validated are trusted; what the model cannot hold
// all the same (a pod IP that does not parse, an FQDN EndpointSlice) is
// skipped and reported, never fatal.
package kube
