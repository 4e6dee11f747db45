package configdir

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// Route validation refuses what the Gateway API CRDs' schema and CEL rules
// would (with their messages), plus two things a mesh route needs: a
// parentRef, and regular expressions that compile (RE2, as in Envoy).
// Whether the Services named exist, and whether their ports speak HTTP,
// is for the translator's checks: it depends on other objects.

var (
	hostnamePattern        = regexp.MustCompile(`^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	preciseHostnamePattern = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	groupPattern           = regexp.MustCompile(`^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	kindPattern            = regexp.MustCompile(`^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$`)
	headerNamePattern      = regexp.MustCompile(`^[A-Za-z0-9!#$%&'*+\-.^_` + "`" + `|~]+$`)
	durationPattern        = regexp.MustCompile(`^([0-9]{1,5}(h|m|s|ms)){1,4}$`)
	pathCharsPattern       = regexp.MustCompile(`^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|[%][0-9a-fA-F]{2})+$`)
	grpcServicePattern     = regexp.MustCompile(`^(?i)\.?[a-z_][a-z_0-9]*(\.[a-z_][a-z_0-9]*)*$`)
	grpcMethodPattern      = regexp.MustCompile(`^[A-Za-z_][A-Za-z_0-9]*$`)
)

func validateHTTPRoute(doc document, _ spiffeid.TrustDomain, r *gwv1.HTTPRoute) []Problem {
	c := &checker{doc: doc}
	c.metadata(r, validation.IsDNS1123Subdomain)
	spec := field.NewPath("spec")
	errs := validateCommonRoute(spec, &r.Spec.CommonRouteSpec, r.Spec.Hostnames)
	rules := spec.Child("rules")
	errs = append(errs, maxItems(rules, len(r.Spec.Rules), 16)...)
	if len(r.Spec.Rules) == 0 { // written "rules: []": absent rules get a default
		errs = append(errs, field.Required(rules, "must have at least 1 item"))
	}
	matches := 0
	for i := range r.Spec.Rules {
		rule := &r.Spec.Rules[i]
		path := rules.Index(i)
		matches += len(rule.Matches)
		errs = append(errs, validateRuleName(path, rule.Name)...)
		errs = append(errs, maxItems(path.Child("matches"), len(rule.Matches), 64)...)
		for j := range rule.Matches {
			errs = append(errs, validateHTTPMatch(path.Child("matches").Index(j), &rule.Matches[j])...)
		}
		errs = append(errs, validateHTTPFilters(path.Child("filters"), rule.Filters, rule.Matches)...)
		errs = append(errs, maxItems(path.Child("backendRefs"), len(rule.BackendRefs), 16)...)
		for j := range rule.BackendRefs {
			b := &rule.BackendRefs[j]
			bp := path.Child("backendRefs").Index(j)
			errs = append(errs, validateBackendRef(bp, &b.BackendRef)...)
			errs = append(errs, validateHTTPFilters(bp.Child("filters"), b.Filters, rule.Matches)...)
		}
		if len(rule.BackendRefs) > 0 {
			for j, f := range rule.Filters {
				if f.RequestRedirect != nil {
					errs = append(errs, field.Invalid(path.Child("filters").Index(j), string(f.Type),
						"RequestRedirect filter must not be used together with backendRefs"))
				}
			}
		}
		errs = append(errs, validateTimeouts(path.Child("timeouts"), rule.Timeouts)...)
		errs = append(errs, validateRetry(path.Child("retry"), rule.Retry)...)
		errs = append(errs, validateSessionPersistence(path.Child("sessionPersistence"), rule.SessionPersistence)...)
	}
	if matches > 128 {
		errs = append(errs, field.Invalid(rules, matches,
			"While 16 rules and 64 matches per rule are allowed, the total number of matches across all rules in a route must be less than 128"))
	}
	c.fieldErrors(errs)
	return c.problems
}

func validateGRPCRoute(doc document, _ spiffeid.TrustDomain, r *gwv1.GRPCRoute) []Problem {
	c := &checker{doc: doc}
	c.metadata(r, validation.IsDNS1123Subdomain)
	spec := field.NewPath("spec")
	errs := validateCommonRoute(spec, &r.Spec.CommonRouteSpec, r.Spec.Hostnames)
	rules := spec.Child("rules")
	errs = append(errs, maxItems(rules, len(r.Spec.Rules), 16)...)
	matches := 0
	for i := range r.Spec.Rules {
		rule := &r.Spec.Rules[i]
		path := rules.Index(i)
		matches += len(rule.Matches)
		errs = append(errs, validateRuleName(path, rule.Name)...)
		errs = append(errs, maxItems(path.Child("matches"), len(rule.Matches), 64)...)
		for j := range rule.Matches {
			errs = append(errs, validateGRPCMatch(path.Child("matches").Index(j), &rule.Matches[j])...)
		}
		errs = append(errs, validateGRPCFilters(path.Child("filters"), rule.Filters)...)
		errs = append(errs, maxItems(path.Child("backendRefs"), len(rule.BackendRefs), 16)...)
		for j := range rule.BackendRefs {
			b := &rule.BackendRefs[j]
			bp := path.Child("backendRefs").Index(j)
			errs = append(errs, validateBackendRef(bp, &b.BackendRef)...)
			errs = append(errs, validateGRPCFilters(bp.Child("filters"), b.Filters)...)
		}
		errs = append(errs, validateSessionPersistence(path.Child("sessionPersistence"), rule.SessionPersistence)...)
	}
	if matches > 128 {
		errs = append(errs, field.Invalid(rules, matches,
			"While 16 rules and 64 matches per rule are allowed, the total number of matches across all rules in a route must be less than 128"))
	}
	c.fieldErrors(errs)
	return c.problems
}

// validateCommonRoute checks parentRefs and hostnames. Unlike the CRD, it
// requires a parentRef: a mesh route without one would attach to nothing.
func validateCommonRoute(spec *field.Path, common *gwv1.CommonRouteSpec, hostnames []gwv1.Hostname) field.ErrorList {
	var errs field.ErrorList
	refs := spec.Child("parentRefs")
	if len(common.ParentRefs) == 0 {
		errs = append(errs, field.Required(refs,
			`a mesh route needs a parentRef naming a Service (group: "", kind: Service, name)`))
	}
	errs = append(errs, maxItems(refs, len(common.ParentRefs), 32)...)
	seen := make(map[string]int, len(common.ParentRefs))
	for i, ref := range common.ParentRefs {
		path := refs.Index(i)
		errs = append(errs, validateName(path.Child("name"), string(ref.Name))...)
		errs = append(errs, validateGroupKind(path, ref.Group, ref.Kind)...)
		errs = append(errs, validateNamespaceRef(path.Child("namespace"), ref.Namespace)...)
		if ref.SectionName != nil {
			errs = append(errs, sectionName(path.Child("sectionName"), *ref.SectionName)...)
		}
		errs = append(errs, validatePort(path.Child("port"), ref.Port)...)
		key := fmt.Sprintf("%v/%v/%v/%s/%v/%v", deref0(ref.Group), deref0(ref.Kind), deref0(ref.Namespace), ref.Name,
			deref0(ref.SectionName), deref0(ref.Port))
		if first, dup := seen[key]; dup {
			errs = append(errs, field.Duplicate(path, fmt.Sprintf("the same parent as parentRefs[%d]", first)))
		} else {
			seen[key] = i
		}
	}
	hp := spec.Child("hostnames")
	errs = append(errs, maxItems(hp, len(hostnames), 16)...)
	for i, h := range hostnames {
		errs = append(errs, matchPattern(hp.Index(i), string(h), 253, hostnamePattern)...)
	}
	return errs
}

func validateRuleName(path *field.Path, name *gwv1.SectionName) field.ErrorList {
	if name == nil {
		return nil
	}
	return sectionName(path.Child("name"), *name)
}

func sectionName(path *field.Path, name gwv1.SectionName) field.ErrorList {
	return matchPattern(path, string(name), 253, preciseHostnamePattern)
}

func validateHTTPMatch(path *field.Path, m *gwv1.HTTPRouteMatch) field.ErrorList {
	var errs field.ErrorList
	if p := m.Path; p != nil && p.Type != nil && p.Value != nil {
		errs = append(errs, validatePathMatch(path.Child("path"), *p.Type, *p.Value)...)
	}
	errs = append(errs, validateHeaderMatches(path.Child("headers"), len(m.Headers), func(i int) (string, string, string) {
		h := m.Headers[i]
		return string(h.Name), string(deref0(h.Type)), h.Value
	}, 4096)...)
	errs = append(errs, validateHeaderMatches(path.Child("queryParams"), len(m.QueryParams), func(i int) (string, string, string) {
		q := m.QueryParams[i]
		return string(q.Name), string(deref0(q.Type)), q.Value
	}, 1024)...)
	if m.Method != nil {
		errs = append(errs, oneOf(path.Child("method"), string(*m.Method),
			"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")...)
	}
	return errs
}

// validatePathMatch applies the CRD's rules for a path match.
func validatePathMatch(path *field.Path, typ gwv1.PathMatchType, value string) field.ErrorList {
	errs := oneOf(path.Child("type"), string(typ), "Exact", "PathPrefix", "RegularExpression")
	vp := path.Child("value")
	if len(value) > 1024 {
		errs = append(errs, field.TooLong(vp, "", 1024))
	}
	switch typ {
	case gwv1.PathMatchRegularExpression:
		errs = append(errs, validateRegex(vp, value)...)
	case gwv1.PathMatchExact, gwv1.PathMatchPathPrefix:
		const when = " when type one of ['Exact', 'PathPrefix']"
		bad := func(msg string) { errs = append(errs, field.Invalid(vp, value, msg)) }
		if !strings.HasPrefix(value, "/") {
			bad("value must be an absolute path and start with '/'" + when)
		}
		for _, s := range []string{"//", "/./", "/../", "%2f", "%2F", "#"} {
			if strings.Contains(value, s) {
				bad("must not contain '" + s + "'" + when)
			}
		}
		for _, s := range []string{"/..", "/."} {
			if strings.HasSuffix(value, s) {
				bad("must not end with '" + s + "'" + when)
			}
		}
		if !pathCharsPattern.MatchString(value) {
			bad("must only contain valid characters (matching " + pathCharsPattern.String() + ") for types ['Exact', 'PathPrefix']")
		}
	}
	return errs
}

// validateHeaderMatches checks n header or query parameter matches, which
// get returns as name, type and value.
func validateHeaderMatches(path *field.Path, n int, get func(int) (name, typ, value string), maxValue int) field.ErrorList {
	errs := maxItems(path, n, 16)
	seen := make(map[string]bool, n)
	for i := range n {
		name, typ, value := get(i)
		p := path.Index(i)
		errs = append(errs, matchPattern(p.Child("name"), name, 256, headerNamePattern)...)
		if seen[name] {
			errs = append(errs, field.Duplicate(p.Child("name"), name))
		}
		seen[name] = true
		errs = append(errs, oneOf(p.Child("type"), typ, "Exact", "RegularExpression")...)
		errs = append(errs, length(p.Child("value"), value, 1, maxValue)...)
		if typ == "RegularExpression" {
			errs = append(errs, validateRegex(p.Child("value"), value)...)
		}
	}
	return errs
}

func validateGRPCMatch(path *field.Path, m *gwv1.GRPCRouteMatch) field.ErrorList {
	var errs field.ErrorList
	if mm := m.Method; mm != nil {
		mp := path.Child("method")
		typ := string(deref0(mm.Type))
		errs = append(errs, oneOf(mp.Child("type"), typ, "Exact", "RegularExpression")...)
		if mm.Service == nil && mm.Method == nil {
			errs = append(errs, field.Invalid(mp, "", "One or both of 'service' or 'method' must be specified"))
		}
		for _, part := range []struct {
			name    string
			value   *string
			pattern *regexp.Regexp
		}{{"service", mm.Service, grpcServicePattern}, {"method", mm.Method, grpcMethodPattern}} {
			if part.value == nil {
				continue
			}
			p := mp.Child(part.name)
			if len(*part.value) > 1024 {
				errs = append(errs, field.TooLong(p, "", 1024))
			}
			switch {
			case typ == "RegularExpression":
				errs = append(errs, validateRegex(p, *part.value)...)
			case !part.pattern.MatchString(*part.value):
				errs = append(errs, field.Invalid(p, *part.value, fmt.Sprintf(
					"%s must only contain valid characters (matching %s)", part.name, part.pattern)))
			}
		}
	}
	errs = append(errs, validateHeaderMatches(path.Child("headers"), len(m.Headers), func(i int) (string, string, string) {
		h := m.Headers[i]
		return string(h.Name), string(deref0(h.Type)), h.Value
	}, 4096)...)
	return errs
}

func validateBackendRef(path *field.Path, b *gwv1.BackendRef) field.ErrorList {
	errs := validateObjectRef(path, &b.BackendObjectReference)
	if w := b.Weight; w != nil && (*w < 0 || *w > 1000000) {
		errs = append(errs, field.Invalid(path.Child("weight"), *w, "must be between 0 and 1000000"))
	}
	return errs
}

func validateObjectRef(path *field.Path, b *gwv1.BackendObjectReference) field.ErrorList {
	errs := validateName(path.Child("name"), string(b.Name))
	errs = append(errs, validateGroupKind(path, b.Group, b.Kind)...)
	errs = append(errs, validateNamespaceRef(path.Child("namespace"), b.Namespace)...)
	errs = append(errs, validatePort(path.Child("port"), b.Port)...)
	if deref0(b.Group) == "" && deref0(b.Kind) == serviceKind && b.Port == nil {
		errs = append(errs, field.Required(path.Child("port"), "Must have port for Service reference"))
	}
	return errs
}

func validateTimeouts(path *field.Path, t *gwv1.HTTPRouteTimeouts) field.ErrorList {
	if t == nil {
		return nil
	}
	request, errs := parseDuration(path.Child("request"), t.Request)
	backend, berrs := parseDuration(path.Child("backendRequest"), t.BackendRequest)
	errs = append(errs, berrs...)
	if t.Request != nil && t.BackendRequest != nil && len(errs) == 0 && request != 0 && backend > request {
		errs = append(errs, field.Invalid(path.Child("backendRequest"), *t.BackendRequest,
			"backendRequest timeout cannot be longer than request timeout"))
	}
	return errs
}

func validateRetry(path *field.Path, r *gwv1.HTTPRouteRetry) field.ErrorList {
	if r == nil {
		return nil
	}
	var errs field.ErrorList
	seen := make(map[gwv1.HTTPRouteRetryStatusCode]bool, len(r.Codes))
	for i, code := range r.Codes {
		if code < 400 || code > 599 {
			errs = append(errs, field.Invalid(path.Child("codes").Index(i), code, "must be between 400 and 599"))
		}
		if seen[code] {
			errs = append(errs, field.Duplicate(path.Child("codes").Index(i), code))
		}
		seen[code] = true
	}
	if r.Attempts != nil && *r.Attempts < 1 {
		errs = append(errs, field.Invalid(path.Child("attempts"), *r.Attempts, "must be at least 1"))
	}
	_, derrs := parseDuration(path.Child("backoff"), r.Backoff)
	return append(errs, derrs...)
}

func validateSessionPersistence(path *field.Path, sp *gwv1.SessionPersistence) field.ErrorList {
	if sp == nil {
		return nil
	}
	_, errs := parseDuration(path.Child("absoluteTimeout"), sp.AbsoluteTimeout)
	if sp.SessionName != nil && len(*sp.SessionName) > 128 {
		errs = append(errs, field.TooLong(path.Child("sessionName"), "", 128))
	}
	typ := deref0(sp.Type)
	errs = append(errs, oneOf(path.Child("type"), string(typ), "Cookie", "Header")...)
	if cc := sp.CookieConfig; cc != nil {
		if typ != gwv1.CookieBasedSessionPersistence {
			errs = append(errs, field.Invalid(path.Child("cookieConfig"), "", "cookieConfig can only be set with type Cookie"))
		}
		lt := deref0(cc.LifetimeType)
		errs = append(errs, oneOf(path.Child("cookieConfig", "lifetimeType"), string(lt), "Permanent", "Session")...)
		if lt == gwv1.PermanentCookieLifetimeType && sp.AbsoluteTimeout == nil {
			errs = append(errs, field.Required(path.Child("absoluteTimeout"),
				"AbsoluteTimeout must be specified when cookie lifetimeType is Permanent"))
		}
	}
	return errs
}

// parseDuration parses a Gateway API duration (GEP-2257): up to four
// parts of up to five digits, each with a unit of h, m, s or ms.
func parseDuration(path *field.Path, d *gwv1.Duration) (time.Duration, field.ErrorList) {
	if d == nil {
		return 0, nil
	}
	s := string(*d)
	if !durationPattern.MatchString(s) {
		return 0, field.ErrorList{field.Invalid(path, s,
			`must be a Gateway API duration: up to four numbers of at most five digits, each with a unit h, m, s or ms (such as "1h30m" or "500ms")`)}
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, field.ErrorList{field.Invalid(path, s, err.Error())}
	}
	return v, nil
}

func validateName(path *field.Path, name string) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(path, "")}
	}
	if len(name) > 253 {
		return field.ErrorList{field.TooLong(path, "", 253)}
	}
	return nil
}

func validateGroupKind(path *field.Path, group *gwv1.Group, kind *gwv1.Kind) field.ErrorList {
	var errs field.ErrorList
	if group != nil {
		if g := string(*group); len(g) > 253 || !groupPattern.MatchString(g) {
			errs = append(errs, field.Invalid(path.Child("group"), g, "must be empty or a DNS subdomain, such as gateway.networking.k8s.io"))
		}
	}
	if kind != nil {
		errs = append(errs, matchPattern(path.Child("kind"), string(*kind), 63, kindPattern)...)
	}
	return errs
}

func validateNamespaceRef(path *field.Path, ns *gwv1.Namespace) field.ErrorList {
	if ns == nil {
		return nil
	}
	var errs field.ErrorList
	for _, msg := range validation.IsDNS1123Label(string(*ns)) {
		errs = append(errs, field.Invalid(path, string(*ns), msg))
	}
	return errs
}

func validatePort(path *field.Path, port *gwv1.PortNumber) field.ErrorList {
	if port != nil && (*port < 1 || *port > 65535) {
		return field.ErrorList{field.Invalid(path, *port, "must be between 1 and 65535")}
	}
	return nil
}

func validateRegex(path *field.Path, expr string) field.ErrorList {
	if _, err := regexp.Compile(expr); err != nil {
		return field.ErrorList{field.Invalid(path, expr, "must be a valid RE2 regular expression: "+err.Error())}
	}
	return nil
}

func matchPattern(path *field.Path, s string, maxLen int, pattern *regexp.Regexp) field.ErrorList {
	errs := length(path, s, 1, maxLen)
	if s != "" && !pattern.MatchString(s) {
		errs = append(errs, field.Invalid(path, s, "must match "+pattern.String()))
	}
	return errs
}

func length(path *field.Path, s string, minLen, maxLen int) field.ErrorList {
	switch {
	case len(s) < minLen && s == "":
		return field.ErrorList{field.Required(path, "")}
	case len(s) < minLen:
		return field.ErrorList{field.Invalid(path, s, fmt.Sprintf("must be at least %d characters long", minLen))}
	case len(s) > maxLen:
		return field.ErrorList{field.TooLong(path, "", maxLen)}
	}
	return nil
}

func oneOf(path *field.Path, v string, allowed ...string) field.ErrorList {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return field.ErrorList{field.NotSupported(path, v, allowed)}
}

func maxItems(path *field.Path, n, limit int) field.ErrorList {
	if n > limit {
		return field.ErrorList{field.TooMany(path, n, limit)}
	}
	return nil
}

// deref0 returns *p, or the zero value when p is nil.
func deref0[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}
