package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// TrafficPolicy sets how clients in the mesh call one Service: load
// balancing, connection limits, outlier detection, timeouts and retries.
// It lives in the Service's namespace. Timeouts and retries apply to HTTP
// ports; an HTTPRoute's own timeouts take precedence on its routes.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Namespaced,shortName=tp
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Service",type=string,JSONPath=`.spec.targetRef.name`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type TrafficPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   TrafficPolicySpec `json:"spec"`
	Status PolicyStatus      `json:"status,omitempty"`
}

// TrafficPolicySpec is the client-side behaviour towards one Service.
type TrafficPolicySpec struct {
	// TargetRef names the Service, in the policy's namespace.
	TargetRef ServiceReference `json:"targetRef"`
	// +optional
	LoadBalancer *LoadBalancer `json:"loadBalancer,omitempty"`
	// +optional
	ConnectionPool *ConnectionPool `json:"connectionPool,omitempty"`
	// +optional
	OutlierDetection *OutlierDetection `json:"outlierDetection,omitempty"`
	// Timeout bounds a whole request, retries included; 0s disables it.
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`
	// +optional
	Retries *Retries `json:"retries,omitempty"`
}

// ServiceReference names a Service.
type ServiceReference struct {
	// Kind is Service, the only kind supported.
	// +optional
	// +kubebuilder:default=Service
	// +kubebuilder:validation:Enum=Service
	Kind string `json:"kind,omitempty"`
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
}

// LoadBalancer picks the algorithm that spreads requests over endpoints.
type LoadBalancer struct {
	// +kubebuilder:validation:Enum=ROUND_ROBIN;LEAST_REQUEST;RANDOM;RING_HASH;MAGLEV
	Algorithm LoadBalancerAlgorithm `json:"algorithm"`
	// HashOn is what RING_HASH and MAGLEV hash; required for them, and
	// refused for the others.
	// +optional
	HashOn *HashOn `json:"hashOn,omitempty"`
}

// LoadBalancerAlgorithm names a load-balancing algorithm.
type LoadBalancerAlgorithm string

// The algorithms.
const (
	RoundRobin   LoadBalancerAlgorithm = "ROUND_ROBIN"
	LeastRequest LoadBalancerAlgorithm = "LEAST_REQUEST"
	Random       LoadBalancerAlgorithm = "RANDOM"
	RingHash     LoadBalancerAlgorithm = "RING_HASH"
	Maglev       LoadBalancerAlgorithm = "MAGLEV"
)

// HashOn says what a consistent hash is computed from: set exactly one.
type HashOn struct {
	// Header is a request header name (HTTP ports).
	// +optional
	Header string `json:"header,omitempty"`
	// Cookie is a cookie name (HTTP ports).
	// +optional
	Cookie string `json:"cookie,omitempty"`
	// SourceIP hashes the client's address (HTTP and TCP ports).
	// +optional
	SourceIP bool `json:"sourceIP,omitempty"`
}

// ConnectionPool limits what one client proxy opens to the Service; a
// request over a limit fails fast with 503 (circuit breaking).
type ConnectionPool struct {
	// +optional
	// +kubebuilder:validation:Minimum=1
	MaxConnections *int32 `json:"maxConnections,omitempty"`
	// +optional
	// +kubebuilder:validation:Minimum=1
	MaxPendingRequests *int32 `json:"maxPendingRequests,omitempty"`
	// +optional
	// +kubebuilder:validation:Minimum=1
	MaxRequests *int32 `json:"maxRequests,omitempty"`
	// +optional
	// +kubebuilder:validation:Minimum=0
	MaxRetries *int32 `json:"maxRetries,omitempty"`
	// ConnectTimeout bounds opening a connection. Defaults to 5s.
	// +optional
	ConnectTimeout *metav1.Duration `json:"connectTimeout,omitempty"`
}

// OutlierDetection ejects endpoints that keep failing.
type OutlierDetection struct {
	// Consecutive5xxErrors ejects an endpoint after that many 5xx in a row.
	// +optional
	// +kubebuilder:validation:Minimum=1
	Consecutive5xxErrors *int32 `json:"consecutive5xxErrors,omitempty"`
	// ConsecutiveGatewayErrors counts 502, 503, 504 and connect failures.
	// +optional
	// +kubebuilder:validation:Minimum=1
	ConsecutiveGatewayErrors *int32 `json:"consecutiveGatewayErrors,omitempty"`
	// +optional
	Interval *metav1.Duration `json:"interval,omitempty"`
	// BaseEjectionTime grows with every ejection of the same endpoint.
	// +optional
	BaseEjectionTime *metav1.Duration `json:"baseEjectionTime,omitempty"`
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	MaxEjectionPercent *int32 `json:"maxEjectionPercent,omitempty"`
}

// Retries retries failed requests.
type Retries struct {
	// Attempts is the number of retries after the first try.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10
	Attempts int32 `json:"attempts"`
	// PerTryTimeout bounds each try.
	// +optional
	PerTryTimeout *metav1.Duration `json:"perTryTimeout,omitempty"`
	// RetryOn lists Envoy retry conditions (5xx, gateway-error, reset,
	// connect-failure, retriable-4xx). Defaults to
	// connect-failure,gateway-error,reset.
	// +optional
	RetryOn []RetryOn `json:"retryOn,omitempty"`
}

// RetryOn is one retry condition.
// +kubebuilder:validation:Enum="5xx";gateway-error;reset;connect-failure;retriable-4xx
type RetryOn string

// TrafficPolicyList is a list of TrafficPolicies.
//
// +kubebuilder:object:root=true
type TrafficPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []TrafficPolicy `json:"items"`
}
