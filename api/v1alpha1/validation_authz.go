package v1alpha1

import (
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ValidateAuthorizationPolicy is ValidatePeerAuthentication for
// AuthorizationPolicies.
func ValidateAuthorizationPolicy(ap *AuthorizationPolicy) field.ErrorList {
	spec := field.NewPath("spec")
	errs := validateSelector(ap.Spec.Selector, spec.Child("selector"))
	if ap.Spec.Action != "" {
		errs = append(errs, oneOf(spec.Child("action"), ap.Spec.Action, ActionAllow, ActionDeny, ActionAudit)...)
	}
	rules := spec.Child("rules")
	errs = append(errs, maxItems(rules, len(ap.Spec.Rules), 64)...)
	matchesAll := ap.Spec.Action == ActionDeny || ap.Spec.Action == ActionAudit
	for i, r := range ap.Spec.Rules {
		at := rules.Index(i)
		if matchesAll && r.From == nil && r.To == nil && r.When == nil {
			errs = append(errs, field.Forbidden(at, msgEmptyRule))
		}
		errs = append(errs, validateRule(&r, at)...)
	}
	return errs
}

// validateRule checks one rule's entries.
func validateRule(r *AuthorizationRule, path *field.Path) field.ErrorList {
	from, to, when := path.Child("from"), path.Child("to"), path.Child("when")
	errs := listBounds(from, r.From, 8)
	for i := range r.From {
		errs = append(errs, validateSource(&r.From[i], from.Index(i))...)
	}
	errs = append(errs, listBounds(to, r.To, 8)...)
	for i := range r.To {
		errs = append(errs, validateOperation(&r.To[i], to.Index(i))...)
	}
	errs = append(errs, listBounds(when, r.When, 8)...)
	for i := range r.When {
		errs = append(errs, validateCondition(&r.When[i], when.Index(i))...)
	}
	return errs
}

// validateSource checks one from entry.
func validateSource(s *Source, path *field.Path) field.ErrorList {
	if s.Principals == nil && s.NotPrincipals == nil && s.Namespaces == nil && s.NotNamespaces == nil &&
		s.ServiceAccounts == nil && s.NotServiceAccounts == nil && s.IPBlocks == nil && s.NotIPBlocks == nil {
		return field.ErrorList{field.Required(path, msgEmptySource)}
	}
	var errs field.ErrorList
	for _, l := range []struct {
		name       string
		list       []string
		items, max int
		valid      func(string) bool
		msg        string
	}{
		{"principals", s.Principals, 16, 256, isPrincipal, msgPrincipal},
		{"notPrincipals", s.NotPrincipals, 16, 256, isPrincipal, msgPrincipal},
		{"namespaces", s.Namespaces, 16, 63, isDNSLabel, msgNamespace},
		{"notNamespaces", s.NotNamespaces, 16, 63, isDNSLabel, msgNamespace},
		{"serviceAccounts", s.ServiceAccounts, 8, 253, isServiceAccount, msgServiceAccount},
		{"notServiceAccounts", s.NotServiceAccounts, 8, 253, isServiceAccount, msgServiceAccount},
		{"ipBlocks", s.IPBlocks, 16, 64, isIPBlock, msgIPBlock},
		{"notIpBlocks", s.NotIPBlocks, 16, 64, isIPBlock, msgIPBlock},
	} {
		errs = append(errs, stringList(path.Child(l.name), l.list, l.items, l.max, l.valid, l.msg)...)
	}
	return errs
}

// isPrincipal is the principal rule: not empty, and at most one "*",
// first or last.
func isPrincipal(s string) bool {
	if s == "" {
		return false
	}
	switch strings.Count(s, "*") {
	case 0:
		return true
	case 1:
		return s[0] == '*' || s[len(s)-1] == '*'
	default:
		return false
	}
}

// isServiceAccount accepts "<name>" and "<namespace>/<name>": a DNS-1123
// label as namespace and a DNS-1123 subdomain (what Kubernetes allows for
// ServiceAccount names) as name.
func isServiceAccount(s string) bool {
	ns, name, found := strings.Cut(s, "/")
	if !found {
		name = s
	} else if !isDNSLabel(ns) {
		return false
	}
	return len(validation.IsDNS1123Subdomain(name)) == 0
}

// validateOperation checks one to entry.
func validateOperation(o *Operation, path *field.Path) field.ErrorList {
	if o.Ports == nil && o.NotPorts == nil && o.Methods == nil && o.NotMethods == nil &&
		o.Paths == nil && o.NotPaths == nil && o.Hosts == nil && o.NotHosts == nil {
		return field.ErrorList{field.Required(path, msgEmptyOp)}
	}
	var errs field.ErrorList
	for _, l := range []struct {
		name  string
		ports []int32
	}{{"ports", o.Ports}, {"notPorts", o.NotPorts}} {
		at := path.Child(l.name)
		errs = append(errs, listBounds(at, l.ports, 16)...)
		for i, p := range l.ports {
			errs = append(errs, portNumber(at.Index(i), p)...)
		}
	}
	errs = append(errs, stringList(path.Child("methods"), o.Methods, 16, 32, isMethod, msgMethod)...)
	errs = append(errs, stringList(path.Child("notMethods"), o.NotMethods, 16, 32, isMethod, msgMethod)...)
	for _, l := range []struct {
		name  string
		paths []PathMatch
	}{{"paths", o.Paths}, {"notPaths", o.NotPaths}} {
		at := path.Child(l.name)
		errs = append(errs, listBounds(at, l.paths, 16)...)
		for i := range l.paths {
			errs = append(errs, validatePathMatch(&l.paths[i], at.Index(i))...)
		}
	}
	errs = append(errs, stringList(path.Child("hosts"), o.Hosts, 16, 255, isHost, msgHost)...)
	errs = append(errs, stringList(path.Child("notHosts"), o.NotHosts, 16, 255, isHost, msgHost)...)
	return errs
}

// isMethod accepts upper-case words joined by "-" (GET, M-SEARCH).
func isMethod(s string) bool {
	for w := range strings.SplitSeq(s, "-") {
		if w == "" || strings.TrimLeft(w, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
			return false
		}
	}
	return true
}

// isHost accepts a host with no "*" but an optional leading "*.".
func isHost(s string) bool {
	rest := strings.TrimPrefix(s, "*.")
	return rest != "" && !strings.Contains(rest, "*")
}

// validatePathMatch checks one path match; an empty string counts as not
// set, as it does in the CEL rules.
func validatePathMatch(m *PathMatch, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	set := 0
	for _, f := range []struct {
		name, value string
		slash       bool
	}{{"exact", m.Exact, true}, {"prefix", m.Prefix, true}, {"suffix", m.Suffix, false}} {
		if f.value == "" {
			continue
		}
		set++
		at := path.Child(f.name)
		if l := maxLength(at, f.value, 1024); l != nil {
			errs = append(errs, l...)
		} else if f.slash && !strings.HasPrefix(f.value, "/") {
			errs = append(errs, field.Invalid(at, f.value, msgPathSlash))
		}
	}
	if set != 1 {
		errs = append(errs, field.Invalid(path, field.OmitValueType{}, msgPathOneOf))
	}
	return errs
}

// validateCondition checks one when entry.
func validateCondition(c *Condition, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	header := path.Child("header")
	if c.Header == "" {
		errs = append(errs, field.Required(header, msgEmptyString))
	} else if l := maxLength(header, c.Header, 256); l != nil {
		errs = append(errs, l...)
	} else if !isHTTPToken(c.Header) {
		errs = append(errs, field.Invalid(header, c.Header, msgHeaderName))
	}
	if c.Values == nil && c.NotValues == nil {
		errs = append(errs, field.Invalid(path, field.OmitValueType{}, msgConditionValues))
	}
	errs = append(errs, stringList(path.Child("values"), c.Values, 16, 1024, nil, "")...)
	errs = append(errs, stringList(path.Child("notValues"), c.NotValues, 16, 1024, nil, "")...)
	return errs
}
