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
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule=`self.matches('^[-+]?(0|(([0-9]+([.][0-9]*)?|[.][0-9]+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h))+)$') && duration(self) >= duration('0s')`,message="must be a duration of 0s or more, e.g. 15s (0s disables the timeout)"
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
	// Name of the Service (a DNS-1035 label).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule=`!format.dns1035Label().validate(self).hasValue()`,message="must be a Service name: a DNS-1035 label, e.g. my-service"
	Name string `json:"name"`
}

// LoadBalancer picks the algorithm that spreads requests over endpoints.
//
// +kubebuilder:validation:XValidation:rule=`!(self.algorithm in ['RING_HASH', 'MAGLEV']) || has(self.hashOn)`,message="hashOn is required with RING_HASH and MAGLEV",fieldPath=".hashOn",reason="FieldValueRequired"
// +kubebuilder:validation:XValidation:rule=`self.algorithm in ['RING_HASH', 'MAGLEV'] || !has(self.hashOn)`,message="hashOn applies to RING_HASH and MAGLEV only",fieldPath=".hashOn",reason="FieldValueForbidden"
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

// HashOn says what a consistent hash is computed from: set exactly one
// (an empty string or false counts as not set).
//
// +kubebuilder:validation:XValidation:rule=`(has(self.header) && self.header != "" ? 1 : 0) + (has(self.cookie) && self.cookie != "" ? 1 : 0) + (has(self.sourceIP) && self.sourceIP ? 1 : 0) == 1`,message="hashOn sets exactly one of header, cookie and sourceIP"
type HashOn struct {
	// Header is a request header name (HTTP ports).
	// +optional
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:XValidation:rule=`self == "" || self.matches('^[-!#$%&\x27*+.^_|~0-9A-Za-z\x60]+$')`,message="must be an HTTP header name (letters, digits and !#$%&'*+-.^_|~`)"
	Header string `json:"header,omitempty"`
	// Cookie is a cookie name (HTTP ports).
	// +optional
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:XValidation:rule=`self == "" || self.matches('^[-!#$%&\x27*+.^_|~0-9A-Za-z\x60]+$')`,message="must be a cookie name (letters, digits and !#$%&'*+-.^_|~`)"
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
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule=`self.matches('^[-+]?(([0-9]+([.][0-9]*)?|[.][0-9]+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h))+$') && duration(self) > duration('0s')`,message="must be a positive duration, e.g. 250ms or 5s"
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
	// Interval between ejection sweeps.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule=`self.matches('^[-+]?(([0-9]+([.][0-9]*)?|[.][0-9]+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h))+$') && duration(self) > duration('0s')`,message="must be a positive duration, e.g. 250ms or 5s"
	Interval *metav1.Duration `json:"interval,omitempty"`
	// BaseEjectionTime grows with every ejection of the same endpoint.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule=`self.matches('^[-+]?(([0-9]+([.][0-9]*)?|[.][0-9]+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h))+$') && duration(self) > duration('0s')`,message="must be a positive duration, e.g. 250ms or 5s"
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
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule=`self.matches('^[-+]?(([0-9]+([.][0-9]*)?|[.][0-9]+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h))+$') && duration(self) > duration('0s')`,message="must be a positive duration, e.g. 250ms or 5s"
	PerTryTimeout *metav1.Duration `json:"perTryTimeout,omitempty"`
	// RetryOn lists Envoy retry conditions (5xx, gateway-error, reset,
	// connect-failure, retriable-4xx). Defaults to
	// connect-failure,gateway-error,reset.
	// +optional
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=8
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
