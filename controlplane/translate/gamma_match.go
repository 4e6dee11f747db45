package translate

import (
	"cmp"
	"regexp"
	"strings"

	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcher "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// Path kinds in precedence order: an exact path beats a regular
// expression, which beats a prefix (Gateway API leaves regular expressions
// to the implementation; Envoy Gateway ranks them so too).
const (
	pathKindExact = iota
	pathKindRegex
	pathKindPrefix
)

// precedence is what Gateway API orders the matches of a Service's routes
// by: path kind, longer paths first, a method match, then more header and
// more query parameter matches.
type precedence struct {
	pathKind int
	pathLen  int
	method   bool
	headers  int
	query    int
}

// compare is negative when p comes before o.
func (p precedence) compare(o precedence) int {
	return cmp.Or(
		cmp.Compare(p.pathKind, o.pathKind),
		cmp.Compare(o.pathLen, p.pathLen),
		cmpBool(o.method, p.method),
		cmp.Compare(o.headers, p.headers),
		cmp.Compare(o.query, p.query),
	)
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	default:
		return -1
	}
}

// matchEntry is one translated match: the Envoy match, its precedence,
// and for a PathPrefix match the prefix (without trailing slashes, "" for
// "/") that ReplacePrefixMatch rewrites.
type matchEntry struct {
	match    *route.RouteMatch
	prec     precedence
	isPrefix bool
	prefix   string
}

// httpMatch translates one HTTPRouteMatch; f hears why it cannot be run,
// and ok is false then.
func httpMatch(hm *gwv1.HTTPRouteMatch, f *findings) (me matchEntry, ok bool) {
	ok = true
	me.match = &route.RouteMatch{}
	p := hm.Path
	kind := gwv1.PathMatchPathPrefix
	value := "/"
	if p != nil {
		if p.Type != nil {
			kind = *p.Type
		}
		if p.Value != nil {
			value = *p.Value
		}
	}
	switch kind {
	case gwv1.PathMatchExact:
		if !strings.HasPrefix(value, "/") {
			f.add(reasonUnsupportedValue, "path %q must start with /", value)
			ok = false
		}
		me.match.PathSpecifier = &route.RouteMatch_Path{Path: value}
		me.prec = precedence{pathKind: pathKindExact, pathLen: len(value)}
	case gwv1.PathMatchPathPrefix:
		if !strings.HasPrefix(value, "/") {
			f.add(reasonUnsupportedValue, "path prefix %q must start with /", value)
			ok = false
		}
		// Gateway API matches prefixes element by element, ignoring a
		// trailing slash: path_separated_prefix, which refuses one.
		trimmed := strings.TrimRight(value, "/")
		me.isPrefix, me.prefix = true, trimmed
		if trimmed == "" {
			me.match.PathSpecifier = &route.RouteMatch_Prefix{Prefix: "/"}
		} else {
			if strings.ContainsAny(trimmed, "?#") {
				f.add(reasonUnsupportedValue, "path prefix %q must not hold ? or #", value)
				ok = false
			}
			me.match.PathSpecifier = &route.RouteMatch_PathSeparatedPrefix{PathSeparatedPrefix: trimmed}
		}
		me.prec = precedence{pathKind: pathKindPrefix, pathLen: len(trimmed)}
	case gwv1.PathMatchRegularExpression:
		ok = checkRegex(value, "path", f) && ok
		me.match.PathSpecifier = &route.RouteMatch_SafeRegex{SafeRegex: &matcher.RegexMatcher{Regex: value}}
		me.prec = precedence{pathKind: pathKindRegex, pathLen: len(value)}
	default:
		f.add(reasonUnsupportedValue, "path match type %q is not supported", kind)
		ok = false
	}
	for _, h := range hm.Headers {
		hm, hok := routeHeaderMatcher(string(h.Name), h.Type == nil || *h.Type == gwv1.HeaderMatchExact,
			h.Type != nil && *h.Type == gwv1.HeaderMatchRegularExpression, h.Value, f)
		ok = ok && hok
		me.match.Headers = append(me.match.Headers, hm)
	}
	me.prec.headers = len(hm.Headers)
	for _, q := range hm.QueryParams {
		exact := q.Type == nil || *q.Type == gwv1.QueryParamMatchExact
		regex := q.Type != nil && *q.Type == gwv1.QueryParamMatchRegularExpression
		sm, sok := stringMatch(exact, regex, q.Value, "query parameter "+string(q.Name), f)
		if !validToken(string(q.Name)) {
			f.add(reasonUnsupportedValue, "query parameter name %q is not a token", q.Name)
			sok = false
		}
		ok = ok && sok
		me.match.QueryParameters = append(me.match.QueryParameters, &route.QueryParameterMatcher{
			Name:                         string(q.Name),
			QueryParameterMatchSpecifier: &route.QueryParameterMatcher_StringMatch{StringMatch: sm},
		})
	}
	me.prec.query = len(hm.QueryParams)
	if hm.Method != nil {
		me.match.Headers = append(me.match.Headers, &route.HeaderMatcher{
			Name:                 ":method",
			HeaderMatchSpecifier: exactHeader(string(*hm.Method)),
		})
		me.prec.method = true
	}
	return me, ok
}

// grpcMatch translates one GRPCRouteMatch: a service and method become a
// path, a service alone a prefix, a method alone or a regular expression
// a safe_regex over /<service>/<method>.
func grpcMatch(gm *gwv1.GRPCRouteMatch, f *findings) (me matchEntry, ok bool) {
	ok = true
	me.match = &route.RouteMatch{}
	m := gm.Method
	var svc, method string
	if m != nil && m.Service != nil {
		svc = *m.Service
	}
	if m != nil && m.Method != nil {
		method = *m.Method
	}
	regex := m != nil && m.Type != nil && *m.Type == gwv1.GRPCMethodMatchRegularExpression
	switch {
	case m != nil && m.Type != nil && !regex && *m.Type != gwv1.GRPCMethodMatchExact:
		f.add(reasonUnsupportedValue, "method match type %q is not supported", *m.Type)
		ok = false
		me.match.PathSpecifier = &route.RouteMatch_Prefix{Prefix: "/"}
	case regex:
		svcOK, methodOK := checkRegex(svc, "method.service", f), checkRegex(method, "method.method", f)
		ok = svcOK && methodOK
		re := "/(?:" + cmp.Or(svc, "[^/]+") + ")/(?:" + cmp.Or(method, "[^/]+") + ")"
		me.match.PathSpecifier = &route.RouteMatch_SafeRegex{SafeRegex: &matcher.RegexMatcher{Regex: re}}
		me.prec = precedence{pathKind: pathKindRegex, pathLen: len(svc) + len(method)}
	case svc != "" && method != "":
		path := "/" + svc + "/" + method
		me.match.PathSpecifier = &route.RouteMatch_Path{Path: path}
		me.prec = precedence{pathKind: pathKindExact, pathLen: len(path)}
	case svc != "":
		prefix := "/" + svc + "/"
		me.match.PathSpecifier = &route.RouteMatch_Prefix{Prefix: prefix}
		me.prec = precedence{pathKind: pathKindPrefix, pathLen: len(prefix)}
	case method != "":
		re := "/[^/]+/" + regexp.QuoteMeta(method)
		me.match.PathSpecifier = &route.RouteMatch_SafeRegex{SafeRegex: &matcher.RegexMatcher{Regex: re}}
		me.prec = precedence{pathKind: pathKindRegex, pathLen: len(method)}
	default:
		me.match.PathSpecifier = &route.RouteMatch_Prefix{Prefix: "/"}
		me.prec = precedence{pathKind: pathKindPrefix, pathLen: 1}
	}
	if strings.ContainsAny(svc+method, "/") && !regex {
		f.add(reasonUnsupportedValue, "method %q/%q must not hold /", svc, method)
		ok = false
	}
	for _, h := range gm.Headers {
		hm, hok := routeHeaderMatcher(string(h.Name), h.Type == nil || *h.Type == gwv1.GRPCHeaderMatchExact,
			h.Type != nil && *h.Type == gwv1.GRPCHeaderMatchRegularExpression, h.Value, f)
		ok = ok && hok
		me.match.Headers = append(me.match.Headers, hm)
	}
	me.prec.headers = len(gm.Headers)
	return me, ok
}

// routeHeaderMatcher matches header name exactly or by regular expression.
func routeHeaderMatcher(name string, exact, regex bool, value string, f *findings) (*route.HeaderMatcher, bool) {
	sm, ok := stringMatch(exact, regex, value, "header "+name, f)
	if !validToken(name) {
		f.add(reasonUnsupportedValue, "header name %q is not a token", name)
		ok = false
	}
	return &route.HeaderMatcher{
		Name:                 strings.ToLower(name),
		HeaderMatchSpecifier: &route.HeaderMatcher_StringMatch{StringMatch: sm},
	}, ok
}

func exactHeader(v string) *route.HeaderMatcher_StringMatch {
	return &route.HeaderMatcher_StringMatch{StringMatch: &matcher.StringMatcher{
		MatchPattern: &matcher.StringMatcher_Exact{Exact: v},
	}}
}

// stringMatch is an exact or a safe_regex string matcher.
func stringMatch(exact, regex bool, value, what string, f *findings) (*matcher.StringMatcher, bool) {
	switch {
	case exact:
		return &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Exact{Exact: value}}, true
	case regex:
		ok := checkRegex(value, what, f)
		return &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_SafeRegex{
			SafeRegex: &matcher.RegexMatcher{Regex: value},
		}}, ok
	default:
		f.add(reasonUnsupportedValue, "%s: match type is not supported", what)
		return &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Exact{Exact: value}}, false
	}
}

// checkRegex reports a regular expression the proxy (RE2 syntax, Go's
// regexp) cannot compile.
func checkRegex(re, what string, f *findings) bool {
	if re == "" {
		return true
	}
	if _, err := regexp.Compile(re); err != nil {
		f.add(reasonUnsupportedValue, "%s: invalid regular expression %q: %v", what, re, err)
		return false
	}
	return true
}

// validToken reports whether s is an RFC 9110 token, as header names are.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}
