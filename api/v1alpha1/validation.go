package v1alpha1

import (
	"net/netip"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// The messages of the CRDs' CEL rules. The markers in *_types.go spell
// them out again (a marker cannot name a constant); a test checks that
// every one of them is in install/crds, so the API server and standalone
// mode say the same thing.
const (
	msgPortLevelNeedsSelector = "portLevelMtls needs a selector: a port number means different things on different workloads"
	msgPortLevelUnset         = "a port-level mode is STRICT, PERMISSIVE or DISABLE: UNSET applies to spec.mtls only"
	msgEmptyRule              = "a DENY or AUDIT rule must set from, to or when: an empty rule would match every request"
	msgPrincipal              = `a principal may hold one "*", as its first or last character only`
	msgNamespace              = "a namespace must be a DNS-1123 label: lower-case letters, digits and '-'"
	msgServiceAccount         = "a service account must be <name> or <namespace>/<name>, with a DNS-1123 label as namespace and a DNS-1123 subdomain as name"
	msgIPBlock                = "an IP block must be an IP address or a CIDR, e.g. 10.0.0.0/8 or 2001:db8::/32"
	msgMethod                 = "a method must be an upper-case HTTP method, e.g. GET"
	msgHost                   = `a host must not be empty and may hold "*" only as a leading "*.", e.g. *.example.com`
	msgPathOneOf              = "a path match sets exactly one of exact, prefix and suffix"
	msgPathSlash              = `must start with "/"`
	msgConditionValues        = "a condition sets values, notValues or both"
	msgHeaderName             = "must be an HTTP header name (letters, digits and !#$%&'*+-.^_|~`)"
	msgCookieName             = "must be a cookie name (letters, digits and !#$%&'*+-.^_|~`)"
	msgServiceName            = "must be a Service name: a DNS-1035 label, e.g. my-service"
	msgHashOnRequired         = "hashOn is required with RING_HASH and MAGLEV"
	msgHashOnForbidden        = "hashOn applies to RING_HASH and MAGLEV only"
	msgHashOnOneOf            = "hashOn sets exactly one of header, cookie and sourceIP"
	msgPositiveDuration       = "must be a positive duration, e.g. 250ms or 5s"
	msgTimeout                = "must be a duration of 0s or more, e.g. 15s (0s disables the timeout)"
)

// Messages of the schema's own checks (MinItems, MinProperties, ...),
// worded for a person reading `weft-controlplane --config-dir` output.
const (
	msgEmptyList    = "must not be an empty list: leave the field out instead"
	msgEmptyString  = "must not be empty"
	msgNoSelectors  = "a selector needs at least one label in matchLabels"
	msgEmptySource  = "a from entry sets at least one of principals, namespaces, serviceAccounts, ipBlocks or their not forms"
	msgEmptyOp      = "a to entry sets at least one of ports, methods, paths, hosts or their not forms"
	msgPortRange    = "must be a port number between 1 and 65535"
	msgPercentRange = "must be between 0 and 100"
	msgAttempts     = "must be between 0 and 10"
)

// ValidatePeerAuthentication returns what is wrong with pa, with the same
// rules and messages as the CRD's schema and CEL rules, so that standalone
// mode refuses exactly what the API server refuses. Paths start at "spec".
// It checks the object as decoded: defaults (action ALLOW, mode UNSET,
// kind Service) need not be filled in.
func ValidatePeerAuthentication(pa *PeerAuthentication) field.ErrorList {
	spec := field.NewPath("spec")
	errs := validateSelector(pa.Spec.Selector, spec.Child("selector"))
	if pa.Spec.MTLS != nil && pa.Spec.MTLS.Mode != "" {
		errs = append(errs, oneOf(spec.Child("mtls", "mode"), pa.Spec.MTLS.Mode,
			MTLSUnset, MTLSStrict, MTLSPermissive, MTLSDisable)...)
	}
	if pa.Spec.PortLevelMTLS == nil {
		return errs
	}
	ports := spec.Child("portLevelMtls")
	if pa.Spec.Selector == nil {
		errs = append(errs, field.Forbidden(ports, msgPortLevelNeedsSelector))
	}
	errs = append(errs, maxItems(ports, len(pa.Spec.PortLevelMTLS), 64)...)
	seen := make(map[int32]bool, len(pa.Spec.PortLevelMTLS))
	for i, p := range pa.Spec.PortLevelMTLS {
		at := ports.Index(i)
		if seen[p.Port] {
			errs = append(errs, field.Duplicate(at, map[string]any{"port": p.Port}))
		}
		seen[p.Port] = true
		errs = append(errs, portNumber(at.Child("port"), p.Port)...)
		switch p.Mode {
		case "":
			errs = append(errs, field.Required(at.Child("mode"), "one of STRICT, PERMISSIVE, DISABLE"))
		case MTLSUnset:
			errs = append(errs, field.Invalid(at.Child("mode"), p.Mode, msgPortLevelUnset))
		default:
			errs = append(errs, oneOf(at.Child("mode"), p.Mode, MTLSUnset, MTLSStrict, MTLSPermissive, MTLSDisable)...)
		}
	}
	return errs
}

// validateSelector checks an optional WorkloadSelector.
func validateSelector(sel *WorkloadSelector, path *field.Path) field.ErrorList {
	if sel == nil || len(sel.MatchLabels) > 0 {
		return nil
	}
	return field.ErrorList{field.Required(path.Child("matchLabels"), msgNoSelectors)}
}

// oneOf reports v unless it is one of valid (the schema's enum).
func oneOf[T ~string](path *field.Path, v T, valid ...T) field.ErrorList {
	for _, ok := range valid {
		if v == ok {
			return nil
		}
	}
	return field.ErrorList{field.NotSupported(path, v, valid)}
}

// maxItems is the schema's maxItems.
func maxItems(path *field.Path, n, limit int) field.ErrorList {
	if n > limit {
		return field.ErrorList{field.TooMany(path, n, limit)}
	}
	return nil
}

// listBounds is minItems=1 and maxItems=limit on an optional list: a list
// that is present (non-nil, as a decoded "[]" is) must not be empty.
func listBounds[T any](path *field.Path, list []T, limit int) field.ErrorList {
	if list != nil && len(list) == 0 {
		return field.ErrorList{field.Invalid(path, field.OmitValueType{}, msgEmptyList)}
	}
	return maxItems(path, len(list), limit)
}

// maxLength is the schema's maxLength, which counts characters.
func maxLength(path *field.Path, s string, limit int) field.ErrorList {
	if utf8.RuneCountInString(s) > limit {
		return field.ErrorList{field.TooLongCharacters(path, s, limit)}
	}
	return nil
}

// portNumber checks a port's range.
func portNumber(path *field.Path, p int32) field.ErrorList {
	if p < 1 || p > 65535 {
		return field.ErrorList{field.Invalid(path, p, msgPortRange)}
	}
	return nil
}

// stringList checks an optional list of strings: minItems=1, maxItems,
// each item's maxLength, and valid (when not nil) on each item, whose
// failure is reported with msg.
func stringList(path *field.Path, list []string, limit, itemLength int, valid func(string) bool, msg string) field.ErrorList {
	errs := listBounds(path, list, limit)
	for i, s := range list {
		at := path.Index(i)
		if l := maxLength(at, s, itemLength); l != nil {
			errs = append(errs, l...)
			continue
		}
		if valid != nil && !valid(s) {
			errs = append(errs, field.Invalid(at, s, msg))
		}
	}
	return errs
}

// isIPBlock is the CEL rule isIP(self) || isCIDR(self): an address
// without a zone, or a prefix, neither of them IPv4-mapped IPv6.
func isIPBlock(s string) bool {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Zone() == "" && !a.Is4In6()
	}
	p, err := netip.ParsePrefix(s)
	return err == nil && !p.Addr().Is4In6()
}

// isDNSLabel is format.dns1123Label.
func isDNSLabel(s string) bool { return len(validation.IsDNS1123Label(s)) == 0 }

// isHTTPToken reports whether s is a non-empty RFC 9110 token, the form
// of header and cookie names.
func isHTTPToken(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '!' || c == '#' || c == '$' || c == '%' || c == '&' || c == '\'' || c == '*' ||
			c == '+' || c == '-' || c == '.' || c == '^' || c == '_' || c == '`' || c == '|' || c == '~':
		default:
			return false
		}
	}
	return true
}
