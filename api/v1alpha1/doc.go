// Package v1alpha1 holds Weft's own API types, group mesh.weft.dev, version
// v1alpha1: the objects users write in YAML (standalone mode) or apply with
// kubectl (Kubernetes mode).
//
// +kubebuilder:object:generate=true
// +groupName=mesh.weft.dev
package v1alpha1
