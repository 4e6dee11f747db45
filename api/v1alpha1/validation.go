package v1alpha1

import "k8s.io/apimachinery/pkg/util/validation/field"

// ValidatePeerAuthentication returns what is wrong with pa, with the same
// rules and messages as the CRD's schema and CEL rules, so that standalone
// mode refuses exactly what the API server refuses. Paths start at "spec".
func ValidatePeerAuthentication(pa *PeerAuthentication) field.ErrorList {
	return nil // being written (issue 6)
}

// ValidateAuthorizationPolicy is ValidatePeerAuthentication for
// AuthorizationPolicies.
func ValidateAuthorizationPolicy(ap *AuthorizationPolicy) field.ErrorList {
	return nil // being written (issue 6)
}

// ValidateTrafficPolicy is ValidatePeerAuthentication for TrafficPolicies.
func ValidateTrafficPolicy(tp *TrafficPolicy) field.ErrorList {
	return nil // being written (issue 6)
}
