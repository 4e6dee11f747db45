package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// RootNamespace is the mesh's system namespace: a PeerAuthentication or an
// AuthorizationPolicy there without a selector applies to the whole mesh.
const RootNamespace = "weft-system"

// WorkloadSelector picks the workloads (Pods, or Workloads in standalone
// mode) of the policy's namespace whose labels include every entry of
// MatchLabels. A policy without a selector applies to every workload of
// its namespace.
type WorkloadSelector struct {
	// MatchLabels are the labels a workload must carry, all of them.
	// +kubebuilder:validation:MinProperties=1
	MatchLabels map[string]string `json:"matchLabels"`
}

// PolicyStatus is the status every Weft policy reports.
type PolicyStatus struct {
	// Conditions: Accepted (with the reason when not).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}
