// Package v1alpha1 holds Weft's own API types, group mesh.weft.dev, version
// v1alpha1: the objects users write in YAML (standalone mode) or apply with
// kubectl (Kubernetes mode).
//
// Validation is written twice, because the two modes have no API server in
// common: as kubebuilder markers and CEL rules, which controller-gen turns
// into the CRDs of install/crds so that the API server refuses a bad
// object, and as the Validate functions, which standalone mode runs on the
// files it reads. One table of objects goes through both (the envtest
// test), so that they refuse the same objects for the same field.
//
// +kubebuilder:object:generate=true
// +groupName=mesh.weft.dev
package v1alpha1
