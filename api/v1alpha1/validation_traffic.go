package v1alpha1

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ValidateTrafficPolicy is ValidatePeerAuthentication for TrafficPolicies.
// Durations arrive parsed (a string that is not a Go duration fails to
// decode), so only their sign is checked here.
func ValidateTrafficPolicy(tp *TrafficPolicy) field.ErrorList {
	spec := field.NewPath("spec")
	errs := validateTargetRef(&tp.Spec.TargetRef, spec.Child("targetRef"))
	if lb := tp.Spec.LoadBalancer; lb != nil {
		errs = append(errs, validateLoadBalancer(lb, spec.Child("loadBalancer"))...)
	}
	if cp := tp.Spec.ConnectionPool; cp != nil {
		at := spec.Child("connectionPool")
		errs = append(errs, atLeast(at.Child("maxConnections"), cp.MaxConnections, 1)...)
		errs = append(errs, atLeast(at.Child("maxPendingRequests"), cp.MaxPendingRequests, 1)...)
		errs = append(errs, atLeast(at.Child("maxRequests"), cp.MaxRequests, 1)...)
		errs = append(errs, atLeast(at.Child("maxRetries"), cp.MaxRetries, 0)...)
		errs = append(errs, positive(at.Child("connectTimeout"), cp.ConnectTimeout)...)
	}
	if od := tp.Spec.OutlierDetection; od != nil {
		at := spec.Child("outlierDetection")
		errs = append(errs, atLeast(at.Child("consecutive5xxErrors"), od.Consecutive5xxErrors, 1)...)
		errs = append(errs, atLeast(at.Child("consecutiveGatewayErrors"), od.ConsecutiveGatewayErrors, 1)...)
		errs = append(errs, positive(at.Child("interval"), od.Interval)...)
		errs = append(errs, positive(at.Child("baseEjectionTime"), od.BaseEjectionTime)...)
		if p := od.MaxEjectionPercent; p != nil && (*p < 0 || *p > 100) {
			errs = append(errs, field.Invalid(at.Child("maxEjectionPercent"), *p, msgPercentRange))
		}
	}
	if t := tp.Spec.Timeout; t != nil && t.Duration < 0 {
		errs = append(errs, field.Invalid(spec.Child("timeout"), t.Duration.String(), msgTimeout))
	}
	if r := tp.Spec.Retries; r != nil {
		at := spec.Child("retries")
		if r.Attempts < 0 || r.Attempts > 10 {
			errs = append(errs, field.Invalid(at.Child("attempts"), r.Attempts, msgAttempts))
		}
		errs = append(errs, positive(at.Child("perTryTimeout"), r.PerTryTimeout)...)
		on := at.Child("retryOn")
		errs = append(errs, listBounds(on, r.RetryOn, 8)...)
		for i, c := range r.RetryOn {
			errs = append(errs, oneOf(on.Index(i), c, "5xx", "gateway-error", "reset", "connect-failure", "retriable-4xx")...)
		}
	}
	return errs
}

// validateTargetRef checks the Service reference.
func validateTargetRef(ref *ServiceReference, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if ref.Kind != "" {
		errs = append(errs, oneOf(path.Child("kind"), ref.Kind, "Service")...)
	}
	name := path.Child("name")
	if ref.Name == "" {
		return append(errs, field.Required(name, "the name of a Service in the policy's namespace"))
	}
	if l := maxLength(name, ref.Name, 63); l != nil {
		return append(errs, l...)
	}
	if len(validation.IsDNS1035Label(ref.Name)) != 0 {
		errs = append(errs, field.Invalid(name, ref.Name, msgServiceName))
	}
	return errs
}

// validateLoadBalancer checks the algorithm and its hash.
func validateLoadBalancer(lb *LoadBalancer, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	algorithm, hashOn := path.Child("algorithm"), path.Child("hashOn")
	if lb.Algorithm == "" {
		errs = append(errs, field.Required(algorithm, "one of ROUND_ROBIN, LEAST_REQUEST, RANDOM, RING_HASH, MAGLEV"))
	} else {
		errs = append(errs, oneOf(algorithm, lb.Algorithm, RoundRobin, LeastRequest, Random, RingHash, Maglev)...)
	}
	consistent := lb.Algorithm == RingHash || lb.Algorithm == Maglev
	switch {
	case consistent && lb.HashOn == nil:
		errs = append(errs, field.Required(hashOn, msgHashOnRequired))
	case !consistent && lb.HashOn != nil:
		errs = append(errs, field.Forbidden(hashOn, msgHashOnForbidden))
	}
	if h := lb.HashOn; h != nil {
		set := 0
		if h.Header != "" {
			set++
			errs = append(errs, token(hashOn.Child("header"), h.Header, msgHeaderName)...)
		}
		if h.Cookie != "" {
			set++
			errs = append(errs, token(hashOn.Child("cookie"), h.Cookie, msgCookieName)...)
		}
		if h.SourceIP {
			set++
		}
		if set != 1 {
			errs = append(errs, field.Invalid(hashOn, field.OmitValueType{}, msgHashOnOneOf))
		}
	}
	return errs
}

// token checks a header or cookie name of at most 256 characters.
func token(path *field.Path, s, msg string) field.ErrorList {
	if l := maxLength(path, s, 256); l != nil {
		return l
	}
	if !isHTTPToken(s) {
		return field.ErrorList{field.Invalid(path, s, msg)}
	}
	return nil
}

// atLeast is the schema's minimum on an optional integer.
func atLeast(path *field.Path, v *int32, minimum int32) field.ErrorList {
	if v == nil || *v >= minimum {
		return nil
	}
	return field.ErrorList{field.Invalid(path, *v, fmt.Sprintf("should be greater than or equal to %d", minimum))}
}

// positive checks an optional duration that must be more than zero.
func positive(path *field.Path, d *metav1.Duration) field.ErrorList {
	if d == nil || d.Duration > 0 {
		return nil
	}
	return field.ErrorList{field.Invalid(path, d.Duration.String(), msgPositiveDuration)}
}
