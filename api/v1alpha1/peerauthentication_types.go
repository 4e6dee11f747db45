package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// PeerAuthentication says whether the sidecars of the workloads it selects
// accept plaintext as well as mTLS. The most specific policy wins: a
// port-level mode, then a policy with a selector, then the namespace's
// policy without one, then the mesh-wide one (RootNamespace, no selector),
// then PERMISSIVE, so that a mesh can be adopted one workload at a time.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Namespaced,shortName=pa
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Mode",type=string,JSONPath=`.spec.mtls.mode`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type PeerAuthentication struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   PeerAuthenticationSpec `json:"spec"`
	Status PolicyStatus           `json:"status,omitempty"`
}

// PeerAuthenticationSpec is the desired mTLS mode.
//
// +kubebuilder:validation:XValidation:rule=`!has(self.portLevelMtls) || has(self.selector)`,message="portLevelMtls needs a selector: a port number means different things on different workloads",fieldPath=".portLevelMtls",reason="FieldValueForbidden"
type PeerAuthenticationSpec struct {
	// Selector picks the workloads; without one the policy covers the
	// namespace (the mesh, in RootNamespace).
	// +optional
	Selector *WorkloadSelector `json:"selector,omitempty"`

	// MTLS is the mode for every port of the selected workloads.
	// +optional
	MTLS *MutualTLS `json:"mtls,omitempty"`

	// PortLevelMTLS overrides the mode for single workload ports (the port
	// the app serves on, not the Service port). It needs a selector.
	// +optional
	// +listType=map
	// +listMapKey=port
	// +kubebuilder:validation:MaxItems=64
	PortLevelMTLS []PortMutualTLS `json:"portLevelMtls,omitempty"`
}

// MTLSMode is how a sidecar treats inbound connections.
// +kubebuilder:validation:Enum=UNSET;STRICT;PERMISSIVE;DISABLE
type MTLSMode string

const (
	// MTLSUnset inherits the mode from the next less specific policy.
	MTLSUnset MTLSMode = "UNSET"
	// MTLSStrict accepts mTLS only: plaintext connections are closed.
	MTLSStrict MTLSMode = "STRICT"
	// MTLSPermissive accepts mTLS and plaintext on the same port.
	MTLSPermissive MTLSMode = "PERMISSIVE"
	// MTLSDisable accepts plaintext only; mesh clients send plaintext.
	MTLSDisable MTLSMode = "DISABLE"
)

// MutualTLS holds a mode.
type MutualTLS struct {
	// Mode; UNSET (the default) inherits.
	// +optional
	// +kubebuilder:default=UNSET
	Mode MTLSMode `json:"mode,omitempty"`
}

// PortMutualTLS is the mode of one workload port.
type PortMutualTLS struct {
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port"`
	// Mode is STRICT, PERMISSIVE or DISABLE: a port does not inherit.
	// +kubebuilder:validation:XValidation:rule=`self != "UNSET"`,message="a port-level mode is STRICT, PERMISSIVE or DISABLE: UNSET applies to spec.mtls only"
	Mode MTLSMode `json:"mode"`
}

// PeerAuthenticationList is a list of PeerAuthentications.
//
// +kubebuilder:object:root=true
type PeerAuthenticationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []PeerAuthentication `json:"items"`
}
