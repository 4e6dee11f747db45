package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Workload registers one instance of an application that runs outside
// Kubernetes' Pod model (a VM, a process on a laptop, the demo's services)
// together with its sidecar. Standalone mode reads Workloads from YAML next
// to ordinary Services; a Service selects Workloads by label just as it
// selects Pods.
//
// Without traffic capture, the sidecar listens explicitly: it accepts mesh
// (mTLS) traffic on Address for every entry of Ports and forwards it to the
// app on LocalAddress, and it binds one plaintext listener on LocalAddress
// for every entry of Outbound.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Namespaced
type Workload struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec WorkloadSpec `json:"spec"`
}

// WorkloadSpec describes where a workload and its sidecar listen and who it is.
type WorkloadSpec struct {
	// ServiceAccount is the workload's identity: its SPIFFE ID is
	// spiffe://<trust-domain>/ns/<namespace>/sa/<serviceAccount>.
	// +kubebuilder:validation:MinLength=1
	ServiceAccount string `json:"serviceAccount"`

	// Address is the IP address other sidecars dial to reach this workload;
	// its sidecar accepts mTLS there.
	// +kubebuilder:validation:MinLength=1
	Address string `json:"address"`

	// LocalAddress is the loopback address shared by the app and its sidecar:
	// the app listens there and the sidecar's outbound listeners bind there.
	// Defaults to 127.0.0.1.
	// +optional
	LocalAddress string `json:"localAddress,omitempty"`

	// Ports the workload serves to the mesh.
	// +optional
	// +listType=map
	// +listMapKey=port
	Ports []WorkloadPort `json:"ports,omitempty"`

	// Outbound lists the services this workload calls, each given a local
	// plaintext listener that its app connects to.
	// +optional
	Outbound []OutboundListener `json:"outbound,omitempty"`

	// BootstrapTokenSHA256 is the hex SHA-256 digest of the token this
	// workload's sidecar presents to the CA to get its first certificate.
	// Only the digest is stored, so the registry does not hold credentials.
	// +optional
	// +kubebuilder:validation:Pattern=`^[0-9a-f]{64}$`
	BootstrapTokenSHA256 string `json:"bootstrapTokenSHA256,omitempty"`

	// Proxyless marks a gRPC application that is its own xDS client
	// (grpc-go's xds:/// resolver with a bootstrap pointing at the control
	// plane) and runs no sidecar. It gets, instead of a sidecar's
	// configuration, a target for every HTTP/2-capable port of the
	// Services it may call (docs/kubernetes.md, "Proxyless gRPC"); Ports
	// and Outbound then configure nothing. Its node ID is
	// <name>.<namespace>, and its xDS client certificate must carry its
	// ServiceAccount's SPIFFE ID.
	// +optional
	Proxyless bool `json:"proxyless,omitempty"`

	// Gateway names a Gateway of this namespace (gatewayClassName weft)
	// that this workload's proxy serves as an ingress gateway
	// (weft-proxy --mode=gateway, docs/gateway.md): it then gets that
	// Gateway's listeners and routes instead of a sidecar's configuration,
	// and Ports and Outbound configure nothing. In Kubernetes the label
	// gateway.networking.k8s.io/gateway-name on the Pod says the same.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Gateway string `json:"gateway,omitempty"`
}

// WorkloadPort is one port the workload serves.
type WorkloadPort struct {
	// Name of the port; a Service's targetPort may refer to it.
	// +optional
	Name string `json:"name,omitempty"`

	// Port is where the sidecar accepts mTLS traffic on Address.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port"`

	// TargetPort is where the app listens on LocalAddress. Defaults to Port.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	TargetPort int32 `json:"targetPort,omitempty"`
}

// OutboundListener gives the app a local listener for one port of one
// Service; the sidecar carries what the app sends there over mTLS to the
// Service's endpoints.
type OutboundListener struct {
	// Service is "name" (in the workload's namespace) or "name.namespace".
	// +kubebuilder:validation:MinLength=1
	Service string `json:"service"`

	// Port is the Service port.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port"`

	// LocalPort is where the listener binds on LocalAddress. Defaults to Port.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	LocalPort int32 `json:"localPort,omitempty"`
}

// WorkloadList is a list of Workloads.
//
// +kubebuilder:object:root=true
type WorkloadList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Workload `json:"items"`
}
