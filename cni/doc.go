// Package cni is weft-cni, a chained CNI plugin, and its node installer.
//
// Injected pods normally get their capture rules from the weft-init
// container, which needs NET_ADMIN and NET_RAW: capabilities many clusters
// refuse to workload pods. With the injector's "cni: true", pods get no
// weft-init; instead the container runtime, which already enters every
// pod's network namespace with full privileges, runs weft-cni after the
// cluster's own CNI plugin, and weft-cni installs the same rules
// (proxy/capture, one rule engine for both callers) before any container
// of the pod starts. The plugin asks the API server for the pod to learn
// whether it was injected and what it excludes; it never changes the
// result of the plugins before it.
//
// "weft-cni install", run by the weft-cni DaemonSet, puts the binary and
// a kubeconfig on the node, appends the plugin to the node's CNI
// configuration, keeps it there, and takes it out again when the
// DaemonSet goes (docs/cni.md).
package cni
