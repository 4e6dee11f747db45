// Package kube is Kubernetes mode's source of the mesh: controller-runtime
// informers on the API server, and Build, which turns what they hold into
// the same model.Mesh that standalone mode reads from YAML (see
// docs/kubernetes.md for the mapping), so that the translator and the xDS
// server do not know which mode fed them.
//
// Build is a pure function of object lists, so the mapping is table-tested
// without an API server. The Watcher keeps the informers and feeds their
// events to an Index, which converts only the objects an event touched and
// builds each mesh from the last after a debounced burst, so that a change
// costs what it touched rather than the size of the cluster; it is tested
// to agree with Build.
// Objects the API server validated are trusted; what the model cannot hold
// all the same (a pod IP that does not parse, an FQDN EndpointSlice) is
// skipped and reported, never fatal.
package kube
