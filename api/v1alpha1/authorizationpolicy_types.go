package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// AuthorizationPolicy allows, denies or audits requests to the workloads
// it selects. For one request: AUDIT policies that match log it; any
// matching DENY policy denies it; then, if at least one ALLOW policy
// selects the workload, a request that matches none of their rules is
// denied; otherwise it is allowed.
//
// A rule matches when every one of its present parts matches: one of its
// From entries, one of its To entries, and all of its When conditions.
// Within an entry, every field that is set must match (one of its values,
// and none of its Not values). Identities come from the peer's verified
// SPIFFE certificate: on plaintext traffic a rule naming principals,
// namespaces or service accounts never matches. Names are compared
// literally; only a leading or trailing "*" where documented is special.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Namespaced,shortName=authz
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Action",type=string,JSONPath=`.spec.action`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type AuthorizationPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   AuthorizationPolicySpec `json:"spec"`
	Status PolicyStatus            `json:"status,omitempty"`
}

// AuthorizationPolicySpec says which requests the policy matches and what
// happens to them.
type AuthorizationPolicySpec struct {
	// Selector picks the workloads; without one the policy covers the
	// namespace (the mesh, in RootNamespace).
	// +optional
	Selector *WorkloadSelector `json:"selector,omitempty"`

	// Action taken on a matching request. Defaults to ALLOW.
	// +optional
	// +kubebuilder:default=ALLOW
	Action AuthorizationAction `json:"action,omitempty"`

	// Rules; the policy matches a request when any rule does. An ALLOW
	// policy without rules matches nothing (it denies everything that no
	// other ALLOW policy admits); an ALLOW rule `{}` matches everything.
	// +optional
	// +kubebuilder:validation:MaxItems=128
	Rules []AuthorizationRule `json:"rules,omitempty"`
}

// AuthorizationAction is what a policy does with the requests it matches.
// +kubebuilder:validation:Enum=ALLOW;DENY;AUDIT
type AuthorizationAction string

const (
	// ActionAllow admits matching requests; see AuthorizationPolicy.
	ActionAllow AuthorizationAction = "ALLOW"
	// ActionDeny refuses matching requests, before any ALLOW is looked at.
	ActionDeny AuthorizationAction = "DENY"
	// ActionAudit logs matching requests and changes nothing else.
	ActionAudit AuthorizationAction = "AUDIT"
)

// AuthorizationRule matches requests by who sends them, what they ask for,
// and their headers.
type AuthorizationRule struct {
	// From: the request's source matches one of these.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	From []Source `json:"from,omitempty"`
	// To: the request matches one of these operations.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	To []Operation `json:"to,omitempty"`
	// When: the request satisfies all of these conditions.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	When []Condition `json:"when,omitempty"`
}

// Source is who sends a request. Every field set must match.
// +kubebuilder:validation:MinProperties=1
type Source struct {
	// Principals are peer SPIFFE IDs, e.g. spiffe://cluster.local/ns/a/sa/b;
	// a value may start or end with "*" to match a suffix or prefix, and
	// "*" alone matches any authenticated peer.
	// +optional
	Principals    []string `json:"principals,omitempty"`
	NotPrincipals []string `json:"notPrincipals,omitempty"`
	// Namespaces of authenticated peers.
	// +optional
	Namespaces    []string `json:"namespaces,omitempty"`
	NotNamespaces []string `json:"notNamespaces,omitempty"`
	// ServiceAccounts of authenticated peers, as "<namespace>/<name>", or
	// "<name>" for one in the policy's namespace.
	// +optional
	ServiceAccounts    []string `json:"serviceAccounts,omitempty"`
	NotServiceAccounts []string `json:"notServiceAccounts,omitempty"`
	// IPBlocks are the peer's addresses, as IPs or CIDRs.
	// +optional
	IPBlocks    []string `json:"ipBlocks,omitempty"`
	NotIPBlocks []string `json:"notIpBlocks,omitempty"`
}

// Operation is what a request asks for. Every field set must match.
// Methods, Paths and Hosts apply to HTTP ports only; on a TCP port a rule
// that uses them is reported and made to fail closed (see the docs).
// +kubebuilder:validation:MinProperties=1
type Operation struct {
	// Ports are the workload ports the request arrives on.
	// +optional
	Ports    []int32 `json:"ports,omitempty"`
	NotPorts []int32 `json:"notPorts,omitempty"`
	// Methods are HTTP methods, or gRPC's POST.
	// +optional
	Methods    []string `json:"methods,omitempty"`
	NotMethods []string `json:"notMethods,omitempty"`
	// Paths are matched against the normalized path, without the query.
	// +optional
	Paths    []PathMatch `json:"paths,omitempty"`
	NotPaths []PathMatch `json:"notPaths,omitempty"`
	// Hosts are matched against the request's Host (:authority) without
	// regard to case; a leading "*" matches a suffix.
	// +optional
	Hosts    []string `json:"hosts,omitempty"`
	NotHosts []string `json:"notHosts,omitempty"`
}

// PathMatch matches a path exactly, by prefix or by suffix: set exactly
// one of the three.
type PathMatch struct {
	// +optional
	Exact string `json:"exact,omitempty"`
	// +optional
	Prefix string `json:"prefix,omitempty"`
	// +optional
	Suffix string `json:"suffix,omitempty"`
	// IgnoreCase compares without regard to ASCII case.
	// +optional
	IgnoreCase bool `json:"ignoreCase,omitempty"`
}

// Condition holds when the request header Header has one of Values (if
// set) and none of NotValues. Values are compared exactly.
type Condition struct {
	// Header is a request header name, e.g. x-tenant.
	// +kubebuilder:validation:MinLength=1
	Header string `json:"header"`
	// +optional
	Values []string `json:"values,omitempty"`
	// +optional
	NotValues []string `json:"notValues,omitempty"`
}

// AuthorizationPolicyList is a list of AuthorizationPolicies.
//
// +kubebuilder:object:root=true
type AuthorizationPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AuthorizationPolicy `json:"items"`
}
