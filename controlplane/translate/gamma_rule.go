package translate

import (
	"errors"
	"regexp"
	"strings"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcher "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/weftmesh/weft/controlplane/model"
)

// failStatus answers the matches of a rule the proxy cannot run, and of a
// rule without backends (Gateway API: 500).
const failStatus = 500

// translatedRule is one rule of a route: its matches and what they do.
type translatedRule struct {
	matches []matchEntry
	action  *ruleAction
}

// ruleAction is what a rule does with the requests it matches: fail (a
// 500), redirect, or forward to backends, with its filters and timeouts.
type ruleAction struct {
	fail     bool
	redirect *gwv1.HTTPRequestRedirectFilter
	backends []weightedBackend
	headers  headerMods
	rewrite  *gwv1.HTTPURLRewriteFilter
	timeout  *time.Duration
	retry    *ruleRetry
	// mirrors get a copy of the requests forwarded (RequestMirror).
	mirrors []ruleMirror
}

// ruleMirror is one RequestMirror filter: the service port that gets the
// copies, and the share of requests copied.
type ruleMirror struct {
	ref      servicePortRef
	fraction *typev3.FractionalPercent
}

// refs are the service ports the rule sends to: its backends, then its
// mirrors. The proxy needs the cluster of each (addRouteBackends).
func (a *ruleAction) refs() []servicePortRef {
	out := make([]servicePortRef, 0, len(a.backends)+len(a.mirrors))
	for _, b := range a.backends {
		out = append(out, b.ref)
	}
	for _, mr := range a.mirrors {
		out = append(out, mr.ref)
	}
	return out
}

// backendCheck reports whether a route may send to a backendRef (nil:
// every reference may be followed); gateway routes need a ReferenceGrant
// to cross namespaces.
type backendCheck func(*gwv1.BackendObjectReference) bool

// weightedBackend is one backendRef that receives traffic.
type weightedBackend struct {
	ref     servicePortRef
	weight  uint32
	headers headerMods
}

// ruleRetry is a rule's own retry policy (nil policy: the
// TrafficPolicy's) and its backendRequest timeout.
type ruleRetry struct {
	policy *route.RetryPolicy
	perTry *time.Duration
}

// headerMods are header additions and removals of one level.
type headerMods struct {
	reqAdd, respAdd       []*core.HeaderValueOption
	reqRemove, respRemove []string
}

// translateHTTPRule translates one HTTPRoute rule of a route in namespace
// ns. A rule the proxy cannot run becomes a failing action for all its
// matches, and f hears why.
func translateHTTPRule(m *model.Mesh, ns string, rule *gwv1.HTTPRouteRule, f *findings) *translatedRule {
	return translateHTTPRuleFor(m, ns, rule, nil, f)
}

// translateHTTPRuleFor is translateHTTPRule where allow, when not nil,
// refuses some backendRefs (RefNotPermitted: the rule fails).
func translateHTTPRuleFor(m *model.Mesh, ns string, rule *gwv1.HTTPRouteRule, allow backendCheck, f *findings) *translatedRule {
	ok := true
	tr := &translatedRule{action: &ruleAction{}}
	matches := rule.Matches
	if len(matches) == 0 {
		matches = []gwv1.HTTPRouteMatch{{}}
	}
	for i := range matches {
		me, mok := httpMatch(&matches[i], f)
		ok = ok && mok
		tr.matches = append(tr.matches, me)
	}
	a := tr.action
	for i := range rule.Filters {
		ok = a.httpFilter(m, ns, &rule.Filters[i], allow, f) && ok
	}
	if a.redirect != nil && a.rewrite != nil {
		f.add(reasonUnsupportedValue, "RequestRedirect and URLRewrite cannot both be set")
		ok = false
	}
	if a.rewrite != nil && a.rewrite.Path != nil && a.rewrite.Path.Type == gwv1.PrefixMatchHTTPPathModifier ||
		a.redirect != nil && a.redirect.Path != nil && a.redirect.Path.Type == gwv1.PrefixMatchHTTPPathModifier {
		for _, me := range tr.matches {
			if !me.isPrefix {
				f.add(reasonUnsupportedValue, "ReplacePrefixMatch needs PathPrefix matches")
				ok = false
				break
			}
		}
	}
	if rule.SessionPersistence != nil {
		f.add(reasonUnsupportedValue, "sessionPersistence is not supported")
		ok = false
	}
	if t := rule.Timeouts; t != nil {
		ok = parseTimeout(t.Request, "timeouts.request", &a.timeout, f) && ok
		var perTry *time.Duration
		ok = parseTimeout(t.BackendRequest, "timeouts.backendRequest", &perTry, f) && ok
		if perTry != nil {
			a.retry = &ruleRetry{perTry: perTry}
		}
	}
	if rule.Retry != nil {
		ok = a.httpRetry(rule.Retry, f) && ok
	}
	if a.redirect == nil {
		for i := range rule.BackendRefs {
			br := &rule.BackendRefs[i]
			b, bok := backend(m, ns, &br.BackendRef, allow, f)
			ok = bok && ok
			for j := range br.Filters {
				ok = b.headers.httpFilter(&br.Filters[j], "backendRefs filter", f) && ok
			}
			if bok && b.weight > 0 {
				a.backends = append(a.backends, b)
			}
		}
		if len(a.backends) == 0 {
			a.fail = true // Gateway API: no backend to send to is a 500.
		}
	}
	if !ok {
		*a = ruleAction{fail: true}
	}
	return tr
}

// translateGRPCRule is translateHTTPRule for a GRPCRoute rule.
func translateGRPCRule(m *model.Mesh, ns string, rule *gwv1.GRPCRouteRule, f *findings) *translatedRule {
	return translateGRPCRuleFor(m, ns, rule, nil, f)
}

// translateGRPCRuleFor is translateHTTPRuleFor for a GRPCRoute rule.
func translateGRPCRuleFor(m *model.Mesh, ns string, rule *gwv1.GRPCRouteRule, allow backendCheck, f *findings) *translatedRule {
	ok := true
	tr := &translatedRule{action: &ruleAction{}}
	matches := rule.Matches
	if len(matches) == 0 {
		matches = []gwv1.GRPCRouteMatch{{}}
	}
	for i := range matches {
		me, mok := grpcMatch(&matches[i], f)
		ok = ok && mok
		tr.matches = append(tr.matches, me)
	}
	a := tr.action
	for i := range rule.Filters {
		if fl := &rule.Filters[i]; fl.Type == gwv1.GRPCRouteFilterRequestMirror {
			ok = a.mirror(m, ns, fl.RequestMirror, allow, f) && ok
			continue
		}
		ok = a.headers.grpcFilter(&rule.Filters[i], "filter", f) && ok
	}
	if rule.SessionPersistence != nil {
		f.add(reasonUnsupportedValue, "sessionPersistence is not supported")
		ok = false
	}
	for i := range rule.BackendRefs {
		br := &rule.BackendRefs[i]
		b, bok := backend(m, ns, &br.BackendRef, allow, f)
		ok = bok && ok
		for j := range br.Filters {
			ok = b.headers.grpcFilter(&br.Filters[j], "backendRefs filter", f) && ok
		}
		if bok && b.weight > 0 {
			a.backends = append(a.backends, b)
		}
	}
	if len(a.backends) == 0 {
		a.fail = true
	}
	if !ok {
		*a = ruleAction{fail: true}
	}
	return tr
}

// httpFilter applies one rule-level HTTPRoute filter of a route in
// namespace ns.
func (a *ruleAction) httpFilter(m *model.Mesh, ns string, fl *gwv1.HTTPRouteFilter, allow backendCheck, f *findings) bool {
	switch fl.Type {
	case gwv1.HTTPRouteFilterRequestMirror:
		return a.mirror(m, ns, fl.RequestMirror, allow, f)
	case gwv1.HTTPRouteFilterRequestHeaderModifier, gwv1.HTTPRouteFilterResponseHeaderModifier:
		return a.headers.httpFilter(fl, "filter", f)
	case gwv1.HTTPRouteFilterURLRewrite:
		if fl.URLRewrite == nil {
			f.add(reasonUnsupportedValue, "filter URLRewrite has no urlRewrite")
			return false
		}
		a.rewrite = fl.URLRewrite
		return checkPathModifier(fl.URLRewrite.Path, f)
	case gwv1.HTTPRouteFilterRequestRedirect:
		r := fl.RequestRedirect
		if r == nil {
			f.add(reasonUnsupportedValue, "filter RequestRedirect has no requestRedirect")
			return false
		}
		a.redirect = r
		ok := checkPathModifier(r.Path, f)
		if _, sok := redirectCode(r.StatusCode); !sok {
			f.add(reasonUnsupportedValue, "requestRedirect.statusCode %d is not supported", *r.StatusCode)
			ok = false
		}
		if r.Scheme != nil && *r.Scheme != "http" && *r.Scheme != "https" {
			f.add(reasonUnsupportedValue, "requestRedirect.scheme %q is not supported", *r.Scheme)
			ok = false
		}
		return ok
	default:
		f.add(reasonUnsupportedValue, "filter %s is not supported", fl.Type)
		return false
	}
}

// mirror adds a RequestMirror filter: its backend must be a Service port
// like a backendRef's; percent or fraction (all requests when neither)
// become the share copied.
func (a *ruleAction) mirror(m *model.Mesh, ns string, rm *gwv1.HTTPRequestMirrorFilter, allow backendCheck, f *findings) bool {
	if rm == nil {
		f.add(reasonUnsupportedValue, "filter RequestMirror has no requestMirror")
		return false
	}
	b, ok := backend(m, ns, &gwv1.BackendRef{BackendObjectReference: rm.BackendRef}, allow, f)
	if !ok {
		return false
	}
	mr := ruleMirror{ref: b.ref}
	switch {
	case rm.Percent != nil && rm.Fraction != nil:
		f.add(reasonUnsupportedValue, "requestMirror: percent and fraction cannot both be set")
		return false
	case rm.Percent != nil:
		if *rm.Percent < 0 || *rm.Percent > 100 {
			f.add(reasonUnsupportedValue, "requestMirror.percent %d is not within 0-100", *rm.Percent)
			return false
		}
		mr.fraction = &typev3.FractionalPercent{Numerator: uint32(*rm.Percent), Denominator: typev3.FractionalPercent_HUNDRED}
	case rm.Fraction != nil:
		den := int32(100)
		if rm.Fraction.Denominator != nil {
			den = *rm.Fraction.Denominator
		}
		num := rm.Fraction.Numerator
		if den < 1 || num < 0 || num > den {
			f.add(reasonUnsupportedValue, "requestMirror.fraction %d/%d is not a fraction within 0-1", num, den)
			return false
		}
		mr.fraction = fractionalPercent(num, den)
	}
	a.mirrors = append(a.mirrors, mr)
	return true
}

// fractionalPercent is num/den (0 <= num <= den, den >= 1) as Envoy
// takes it: exactly over a denominator of 100, 10,000 or 1,000,000,
// otherwise rounded down to millionths.
func fractionalPercent(num, den int32) *typev3.FractionalPercent {
	switch den {
	case 100:
		return &typev3.FractionalPercent{Numerator: uint32(num), Denominator: typev3.FractionalPercent_HUNDRED} //nolint:gosec // 0 <= num <= den
	case 10_000:
		return &typev3.FractionalPercent{Numerator: uint32(num), Denominator: typev3.FractionalPercent_TEN_THOUSAND} //nolint:gosec // 0 <= num <= den
	}
	return &typev3.FractionalPercent{
		Numerator:   uint32(int64(num) * 1_000_000 / int64(den)), //nolint:gosec // at most 1,000,000
		Denominator: typev3.FractionalPercent_MILLION,
	}
}

// httpFilter applies a header modifier; any other filter is refused (at
// the backendRef level, the only ones the proxy runs).
func (h *headerMods) httpFilter(fl *gwv1.HTTPRouteFilter, what string, f *findings) bool {
	switch fl.Type {
	case gwv1.HTTPRouteFilterRequestHeaderModifier:
		return h.modify(fl.RequestHeaderModifier, true, f)
	case gwv1.HTTPRouteFilterResponseHeaderModifier:
		return h.modify(fl.ResponseHeaderModifier, false, f)
	default:
		f.add(reasonUnsupportedValue, "%s %s is not supported", what, fl.Type)
		return false
	}
}

// grpcFilter is httpFilter for GRPCRoute filters.
func (h *headerMods) grpcFilter(fl *gwv1.GRPCRouteFilter, what string, f *findings) bool {
	switch fl.Type {
	case gwv1.GRPCRouteFilterRequestHeaderModifier:
		return h.modify(fl.RequestHeaderModifier, true, f)
	case gwv1.GRPCRouteFilterResponseHeaderModifier:
		return h.modify(fl.ResponseHeaderModifier, false, f)
	default:
		f.add(reasonUnsupportedValue, "%s %s is not supported", what, fl.Type)
		return false
	}
}

// modify adds one HTTPHeaderFilter: set overwrites, add appends, remove
// removes. The proxy cannot change Host or pseudo-headers of a request.
func (h *headerMods) modify(hf *gwv1.HTTPHeaderFilter, request bool, f *findings) bool {
	if hf == nil {
		f.add(reasonUnsupportedValue, "header modifier filter has no configuration")
		return false
	}
	ok := true
	check := func(name string) bool {
		if !validToken(name) || request && strings.EqualFold(name, "host") {
			f.add(reasonUnsupportedValue, "header %q cannot be modified", name)
			ok = false
			return false
		}
		return true
	}
	add := func(hs []gwv1.HTTPHeader, action core.HeaderValueOption_HeaderAppendAction) {
		for _, hd := range hs {
			if !check(string(hd.Name)) {
				continue
			}
			o := &core.HeaderValueOption{
				Header: &core.HeaderValue{
					Key: strings.ToLower(string(hd.Name)),
					// The proxy reads % as the start of a substitution.
					Value: strings.ReplaceAll(hd.Value, "%", "%%"),
				},
				AppendAction:   action,
				KeepEmptyValue: hd.Value == "",
			}
			if request {
				h.reqAdd = append(h.reqAdd, o)
			} else {
				h.respAdd = append(h.respAdd, o)
			}
		}
	}
	add(hf.Set, core.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD)
	add(hf.Add, core.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD)
	for _, name := range hf.Remove {
		if !check(name) {
			continue
		}
		if request {
			h.reqRemove = append(h.reqRemove, strings.ToLower(name))
		} else {
			h.respRemove = append(h.respRemove, strings.ToLower(name))
		}
	}
	return ok
}

// checkPathModifier refuses a path modifier without its value.
func checkPathModifier(pm *gwv1.HTTPPathModifier, f *findings) bool {
	if pm == nil {
		return true
	}
	switch {
	case pm.Type == gwv1.FullPathHTTPPathModifier && pm.ReplaceFullPath != nil,
		pm.Type == gwv1.PrefixMatchHTTPPathModifier && pm.ReplacePrefixMatch != nil:
		return true
	}
	f.add(reasonUnsupportedValue, "path modifier %q has no value", pm.Type)
	return false
}

// httpRetry is an HTTPRoute rule's retry: attempts, retriable status
// codes and back-off.
func (a *ruleAction) httpRetry(r *gwv1.HTTPRouteRetry, f *findings) bool {
	ok := true
	rp := &route.RetryPolicy{RetryOn: defaultRetryOn}
	if len(r.Codes) > 0 {
		rp.RetryOn = "retriable-status-codes,connect-failure,reset"
		for _, c := range r.Codes {
			rp.RetriableStatusCodes = append(rp.RetriableStatusCodes, uint32(c)) //nolint:gosec // 400-599 by the API
		}
	}
	if r.Attempts != nil {
		if *r.Attempts < 0 {
			f.add(reasonUnsupportedValue, "retry.attempts %d is negative", *r.Attempts)
			ok = false
		} else {
			rp.NumRetries = wrapperspb.UInt32(uint32(*r.Attempts)) //nolint:gosec // checked above
		}
	}
	var backoff *time.Duration
	ok = parseTimeout(r.Backoff, "retry.backoff", &backoff, f) && ok
	if backoff != nil {
		if *backoff < time.Millisecond {
			f.add(reasonUnsupportedValue, "retry.backoff %v is below 1ms", *backoff)
			ok = false
		} else {
			rp.RetryBackOff = &route.RetryPolicy_RetryBackOff{BaseInterval: durationpb.New(*backoff)}
		}
	}
	if a.retry == nil {
		a.retry = &ruleRetry{}
	}
	a.retry.policy = rp
	return ok
}

// parseTimeout parses a Gateway API duration into *to; unset leaves it.
func parseTimeout(d *gwv1.Duration, field string, to **time.Duration, f *findings) bool {
	if d == nil {
		return true
	}
	v, err := parseGatewayDuration(string(*d))
	if err != nil {
		f.add(reasonUnsupportedValue, "%s: %v", field, err)
		return false
	}
	*to = &v
	return true
}

// gatewayDuration is the GEP-2257 duration syntax: one to four numbers of
// at most five digits, each with a unit h, m, s or ms.
var gatewayDuration = regexp.MustCompile(`^([0-9]{1,5}(h|m|s|ms)){1,4}$`)

// parseGatewayDuration parses a Gateway API duration ("10s", "1m",
// "500ms", "1h30m").
func parseGatewayDuration(s string) (time.Duration, error) {
	if !gatewayDuration.MatchString(s) {
		return 0, errors.New("invalid duration " + `"` + s + `"` + " (want e.g. 10s, 1m, 500ms)")
	}
	return time.ParseDuration(s)
}

// backend checks one backendRef of a route in namespace ns: a Service
// (group "" or core, kind Service) that exists, with a port it has, and
// that allow (when not nil) lets the route use.
func backend(m *model.Mesh, ns string, br *gwv1.BackendRef, allow backendCheck, f *findings) (weightedBackend, bool) {
	group, kind := "", "Service"
	if br.Group != nil {
		group = string(*br.Group)
	}
	if br.Kind != nil {
		kind = string(*br.Kind)
	}
	svcNS := ns
	if br.Namespace != nil {
		svcNS = string(*br.Namespace)
	}
	ref := model.NamespacedName{Namespace: svcNS, Name: string(br.Name)}
	b := weightedBackend{weight: 1}
	if br.Weight != nil {
		if *br.Weight < 0 {
			f.add(reasonUnsupportedValue, "backendRef %s: weight %d is negative", ref, *br.Weight)
			return b, false
		}
		b.weight = uint32(*br.Weight)
	}
	if (group != "" && group != "core") || kind != "Service" {
		f.add(reasonInvalidKind, "backendRef %s: kind %s in group %q is not a Service", ref, kind, group)
		return b, false
	}
	if br.Port == nil {
		f.add(reasonBackendNotFound, "backendRef %s: a Service backend needs a port", ref)
		return b, false
	}
	b.ref = servicePortRef{service: ref, port: uint32(*br.Port)} //nolint:gosec // a PortNumber is 1-65535
	if allow != nil && !allow(&br.BackendObjectReference) {
		f.add(reasonRefNotPermitted, "backendRef %s: no ReferenceGrant in namespace %s allows this route to use it", ref, ref.Namespace)
		return b, false
	}
	if m.Service(ref) == nil {
		f.add(reasonBackendNotFound, "backendRef %s: no such Service", ref)
		return b, false
	}
	if _, _, found := servicePort(m, ref, b.ref.port); !found {
		f.add(reasonBackendNotFound, "backendRef %s: the Service has no port %d", ref, b.ref.port)
		return b, false
	}
	return b, true
}

// redirectCode is the Envoy response code of a redirect status (302 when
// unset).
func redirectCode(status *int) (route.RedirectAction_RedirectResponseCode, bool) {
	if status == nil {
		return route.RedirectAction_FOUND, true
	}
	switch *status {
	case 301:
		return route.RedirectAction_MOVED_PERMANENTLY, true
	case 302:
		return route.RedirectAction_FOUND, true
	case 303:
		return route.RedirectAction_SEE_OTHER, true
	case 307:
		return route.RedirectAction_TEMPORARY_REDIRECT, true
	case 308:
		return route.RedirectAction_PERMANENT_REDIRECT, true
	}
	return 0, false
}

// envoyRoute is the route of one match of the rule a belongs to.
func (a *ruleAction) envoyRoute(m *model.Mesh, name string, me matchEntry, d routeDefaults) *route.Route {
	r := &route.Route{Name: name, Match: me.match}
	switch {
	case a.fail:
		r.Action = &route.Route_DirectResponse{DirectResponse: &route.DirectResponseAction{Status: failStatus}}
		return r
	case a.redirect != nil:
		r.Action = &route.Route_Redirect{Redirect: redirectAction(a.redirect, me)}
	default:
		ra := &route.RouteAction{}
		refs := make([]servicePortRef, 0, len(a.backends))
		for _, b := range a.backends {
			refs = append(refs, b.ref)
		}
		if len(a.backends) == 1 && a.backends[0].headers.empty() {
			ra.ClusterSpecifier = &route.RouteAction_Cluster{Cluster: OutboundClusterName(refs[0].service, refs[0].port)}
		} else {
			wc := &route.WeightedCluster{}
			for _, b := range a.backends {
				wc.Clusters = append(wc.Clusters, &route.WeightedCluster_ClusterWeight{
					Name:                    OutboundClusterName(b.ref.service, b.ref.port),
					Weight:                  wrapperspb.UInt32(b.weight),
					RequestHeadersToAdd:     b.headers.reqAdd,
					RequestHeadersToRemove:  b.headers.reqRemove,
					ResponseHeadersToAdd:    b.headers.respAdd,
					ResponseHeadersToRemove: b.headers.respRemove,
				})
			}
			ra.ClusterSpecifier = &route.RouteAction_WeightedClusters{WeightedClusters: wc}
		}
		if rw := a.rewrite; rw != nil {
			if rw.Hostname != nil {
				ra.HostRewriteSpecifier = &route.RouteAction_HostRewriteLiteral{HostRewriteLiteral: string(*rw.Hostname)}
			}
			if rw.Path != nil {
				ra.PrefixRewrite, ra.RegexRewrite = pathRewrite(rw.Path, me)
			}
		}
		applyRouteDefaults(ra, d, a.timeout, a.retry)
		ra.HashPolicy = routeHashPolicies(m, refs)
		for _, mr := range a.mirrors {
			p := &route.RouteAction_RequestMirrorPolicy{Cluster: OutboundClusterName(mr.ref.service, mr.ref.port)}
			if mr.fraction != nil {
				p.RuntimeFraction = &core.RuntimeFractionalPercent{DefaultValue: mr.fraction}
			}
			ra.RequestMirrorPolicies = append(ra.RequestMirrorPolicies, p)
		}
		r.Action = &route.Route_Route{Route: ra}
	}
	r.RequestHeadersToAdd = a.headers.reqAdd
	r.RequestHeadersToRemove = a.headers.reqRemove
	r.ResponseHeadersToAdd = a.headers.respAdd
	r.ResponseHeadersToRemove = a.headers.respRemove
	return r
}

func (h *headerMods) empty() bool {
	return len(h.reqAdd) == 0 && len(h.respAdd) == 0 && len(h.reqRemove) == 0 && len(h.respRemove) == 0
}

// redirectAction is a RequestRedirect for one match.
func redirectAction(rr *gwv1.HTTPRequestRedirectFilter, me matchEntry) *route.RedirectAction {
	ra := &route.RedirectAction{}
	ra.ResponseCode, _ = redirectCode(rr.StatusCode)
	if rr.Scheme != nil {
		ra.SchemeRewriteSpecifier = &route.RedirectAction_SchemeRedirect{SchemeRedirect: *rr.Scheme}
	}
	if rr.Hostname != nil {
		ra.HostRedirect = string(*rr.Hostname)
	}
	if rr.Port != nil {
		ra.PortRedirect = uint32(*rr.Port) //nolint:gosec // a PortNumber is 1-65535
	}
	if pm := rr.Path; pm != nil {
		if pm.Type == gwv1.FullPathHTTPPathModifier {
			ra.PathRewriteSpecifier = &route.RedirectAction_PathRedirect{PathRedirect: *pm.ReplaceFullPath}
		} else {
			prefix, re := pathRewrite(pm, me)
			if re != nil {
				ra.PathRewriteSpecifier = &route.RedirectAction_RegexRewrite{RegexRewrite: re}
			} else if prefix != "" {
				ra.PathRewriteSpecifier = &route.RedirectAction_PrefixRewrite{PrefixRewrite: prefix}
			}
		}
	}
	return ra
}

// pathRewrite is a path modifier as Envoy runs it on one match: a full
// path replaces the whole path (query kept); a prefix replacement
// replaces the matched prefix, path element by element, as Gateway API
// defines it ("/foo" to "/" turns "/foo/bar" into "/bar", not "//bar").
func pathRewrite(pm *gwv1.HTTPPathModifier, me matchEntry) (string, *matcher.RegexMatchAndSubstitute) {
	if pm.Type == gwv1.FullPathHTTPPathModifier {
		return "", &matcher.RegexMatchAndSubstitute{
			Pattern:      &matcher.RegexMatcher{Regex: "^/.*$"},
			Substitution: escapeSubstitution(*pm.ReplaceFullPath),
		}
	}
	repl := strings.TrimRight(*pm.ReplacePrefixMatch, "/")
	switch {
	case me.prefix == "" && repl == "":
		return "", nil // "/" to "/": nothing changes
	case me.prefix == "":
		return repl + "/", nil // the matched prefix is "/"
	case repl == "":
		return "", &matcher.RegexMatchAndSubstitute{
			Pattern:      &matcher.RegexMatcher{Regex: "^" + regexp.QuoteMeta(me.prefix) + "/*"},
			Substitution: "/",
		}
	default:
		return repl, nil
	}
}

// escapeSubstitution quotes backslashes, which start group references in
// a regex_rewrite substitution.
func escapeSubstitution(s string) string { return strings.ReplaceAll(s, `\`, `\\`) }
