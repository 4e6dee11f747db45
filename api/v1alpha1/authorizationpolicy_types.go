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
//
// +kubebuilder:validation:XValidation:rule=`(has(self.action) && self.action != 'DENY' && self.action != 'AUDIT') || !has(self.rules) || self.rules.all(r, has(r.from) || has(r.to) || has(r.when))`,message="a DENY or AUDIT rule must set from, to or when: an empty rule would match every request",fieldPath=".rules",reason="FieldValueForbidden"
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
	// In DENY and AUDIT policies a rule must set from, to or when.
	// +optional
	// +kubebuilder:validation:MaxItems=64
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
// and their headers. A list that is present must not be empty.
type AuthorizationRule struct {
	// From: the request's source matches one of these.
	// +optional
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=8
	From []Source `json:"from,omitempty"`
	// To: the request matches one of these operations.
	// +optional
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=8
	To []Operation `json:"to,omitempty"`
	// When: the request satisfies all of these conditions.
	// +optional
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=8
	When []Condition `json:"when,omitempty"`
}

// Source is who sends a request. Every field set must match; a Source
// sets at least one field, and a list that is present is not empty.
// +kubebuilder:validation:MinProperties=1
type Source struct {
	// Principals are peer SPIFFE IDs, e.g. spiffe://cluster.local/ns/a/sa/b;
	// a value may start or end with "*" to match a suffix or prefix, and
	// "*" alone matches any authenticated peer. A "*" anywhere else is
	// refused (it would be matched literally).
	// +optional
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=256
	// +kubebuilder:validation:items:XValidation:rule=`self.matches('^[*]?[^*]*$') || self.matches('^[^*]*[*]$')`,message="a principal may hold one \"*\", as its first or last character only"
	Principals []string `json:"principals,omitempty"`
	// NotPrincipals: the peer is none of these (same form as Principals).
	// +optional
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=256
	// +kubebuilder:validation:items:XValidation:rule=`self.matches('^[*]?[^*]*$') || self.matches('^[^*]*[*]$')`,message="a principal may hold one \"*\", as its first or last character only"
	NotPrincipals []string `json:"notPrincipals,omitempty"`
	// Namespaces of authenticated peers.
	// +optional
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=63
	// +kubebuilder:validation:items:XValidation:rule=`!format.dns1123Label().validate(self).hasValue()`,message="a namespace must be a DNS-1123 label: lower-case letters, digits and '-'"
	Namespaces []string `json:"namespaces,omitempty"`
	// NotNamespaces: the peer's namespace is none of these.
	// +optional
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=63
	// +kubebuilder:validation:items:XValidation:rule=`!format.dns1123Label().validate(self).hasValue()`,message="a namespace must be a DNS-1123 label: lower-case letters, digits and '-'"
	NotNamespaces []string `json:"notNamespaces,omitempty"`
	// ServiceAccounts of authenticated peers, as "<namespace>/<name>", or
	// "<name>" for one in the policy's namespace. The namespace is a
	// DNS-1123 label; the name, like every ServiceAccount name, a DNS-1123
	// subdomain (dots allowed, matched literally); at most 8 per entry
	// (use several from entries for more).
	// +optional
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:XValidation:rule=`self.matches('^([a-z0-9][-a-z0-9]{0,62}/)?[a-z0-9]([-.a-z0-9]*[a-z0-9])?$') && !self.contains('-/') && !self.contains('..') && !self.contains('.-') && !self.contains('-.')`,message="a service account must be <name> or <namespace>/<name>, with a DNS-1123 label as namespace and a DNS-1123 subdomain as name"
	ServiceAccounts []string `json:"serviceAccounts,omitempty"`
	// NotServiceAccounts: the peer is none of these service accounts.
	// +optional
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:XValidation:rule=`self.matches('^([a-z0-9][-a-z0-9]{0,62}/)?[a-z0-9]([-.a-z0-9]*[a-z0-9])?$') && !self.contains('-/') && !self.contains('..') && !self.contains('.-') && !self.contains('-.')`,message="a service account must be <name> or <namespace>/<name>, with a DNS-1123 label as namespace and a DNS-1123 subdomain as name"
	NotServiceAccounts []string `json:"notServiceAccounts,omitempty"`
	// IPBlocks are the peer's addresses, as IPs or CIDRs, e.g. 10.0.0.0/8
	// or 2001:db8::/32.
	// +optional
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=64
	// +kubebuilder:validation:items:XValidation:rule=`isIP(self) || isCIDR(self)`,message="an IP block must be an IP address or a CIDR, e.g. 10.0.0.0/8 or 2001:db8::/32"
	IPBlocks []string `json:"ipBlocks,omitempty"`
	// NotIPBlocks: the peer's address is in none of these.
	// +optional
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=64
	// +kubebuilder:validation:items:XValidation:rule=`isIP(self) || isCIDR(self)`,message="an IP block must be an IP address or a CIDR, e.g. 10.0.0.0/8 or 2001:db8::/32"
	NotIPBlocks []string `json:"notIpBlocks,omitempty"`
}

// Operation is what a request asks for. Every field set must match; an
// Operation sets at least one field, and a list that is present is not
// empty. Methods, Paths and Hosts apply to HTTP ports only; on a TCP port
// a rule that uses them is reported and made to fail closed (see the docs).
// +kubebuilder:validation:MinProperties=1
type Operation struct {
	// Ports are the workload ports the request arrives on.
	// +optional
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:Minimum=1
	// +kubebuilder:validation:items:Maximum=65535
	Ports []int32 `json:"ports,omitempty"`
	// NotPorts: the request arrives on none of these ports.
	// +optional
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:Minimum=1
	// +kubebuilder:validation:items:Maximum=65535
	NotPorts []int32 `json:"notPorts,omitempty"`
	// Methods are HTTP methods in upper case, e.g. GET (gRPC uses POST).
	// +optional
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=32
	// +kubebuilder:validation:items:XValidation:rule=`self.matches('^[A-Z]+(-[A-Z]+)*$')`,message="a method must be an upper-case HTTP method, e.g. GET"
	Methods []string `json:"methods,omitempty"`
	// NotMethods: the request's method is none of these.
	// +optional
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=32
	// +kubebuilder:validation:items:XValidation:rule=`self.matches('^[A-Z]+(-[A-Z]+)*$')`,message="a method must be an upper-case HTTP method, e.g. GET"
	NotMethods []string `json:"notMethods,omitempty"`
	// Paths are matched against the normalized path, without the query.
	// +optional
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	Paths []PathMatch `json:"paths,omitempty"`
	// NotPaths: the path matches none of these.
	// +optional
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	NotPaths []PathMatch `json:"notPaths,omitempty"`
	// Hosts are matched against the request's Host (:authority) without
	// regard to case; a leading "*." matches any subdomain ("*.example.com"
	// matches "a.example.com"). A "*" anywhere else is refused.
	// +optional
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=255
	// +kubebuilder:validation:items:XValidation:rule=`self.matches('^([*][.])?[^*]+$')`,message="a host must not be empty and may hold \"*\" only as a leading \"*.\", e.g. *.example.com"
	Hosts []string `json:"hosts,omitempty"`
	// NotHosts: the request's host is none of these.
	// +optional
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=255
	// +kubebuilder:validation:items:XValidation:rule=`self.matches('^([*][.])?[^*]+$')`,message="a host must not be empty and may hold \"*\" only as a leading \"*.\", e.g. *.example.com"
	NotHosts []string `json:"notHosts,omitempty"`
}

// PathMatch matches a path exactly, by prefix or by suffix: set exactly
// one of the three (an empty string counts as not set). Exact and Prefix
// start with "/".
//
// +kubebuilder:validation:XValidation:rule=`(has(self.exact) && self.exact != "" ? 1 : 0) + (has(self.prefix) && self.prefix != "" ? 1 : 0) + (has(self.suffix) && self.suffix != "" ? 1 : 0) == 1`,message="a path match sets exactly one of exact, prefix and suffix"
type PathMatch struct {
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:XValidation:rule=`self == "" || self.startsWith('/')`,message="must start with \"/\""
	Exact string `json:"exact,omitempty"`
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:XValidation:rule=`self == "" || self.startsWith('/')`,message="must start with \"/\""
	Prefix string `json:"prefix,omitempty"`
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Suffix string `json:"suffix,omitempty"`
	// IgnoreCase compares without regard to ASCII case.
	// +optional
	IgnoreCase bool `json:"ignoreCase,omitempty"`
}

// Condition holds when the request header Header has one of Values (if
// set) and none of NotValues. Values are compared exactly. A condition
// sets Values, NotValues or both.
//
// +kubebuilder:validation:XValidation:rule=`has(self.values) || has(self.notValues)`,message="a condition sets values, notValues or both"
type Condition struct {
	// Header is a request header name, e.g. x-tenant.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:XValidation:rule=`self.matches('^[-!#$%&\x27*+.^_|~0-9A-Za-z\x60]+$')`,message="must be an HTTP header name (letters, digits and !#$%&'*+-.^_|~`)"
	Header string `json:"header"`
	// +optional
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=1024
	Values []string `json:"values,omitempty"`
	// +optional
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=1024
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
