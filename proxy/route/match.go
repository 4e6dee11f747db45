package route

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
)

// pathMatcher is a compiled RouteMatch path specifier.
type pathMatcher struct {
	kind          pathKind
	value         string // lower-cased when !caseSensitive
	caseSensitive bool
	re            *regexp.Regexp
}

type pathKind uint8

const (
	pathPrefix pathKind = iota
	pathExact
	pathRegex
	pathSeparatedPrefix
)

// match reports whether the request's path matches: prefix against :path
// with its query string; exact, regex and path-separated prefix against
// :path without it.
func (m *pathMatcher) match(q *request) bool {
	switch m.kind {
	case pathPrefix:
		s := q.path
		if len(m.value) > len(s) && q.hasQuery {
			s = q.fullPath()
		}
		return m.hasPrefix(s)
	case pathExact:
		if m.caseSensitive {
			return q.path == m.value
		}
		return equalFoldASCII(q.path, m.value)
	case pathRegex:
		return m.re.MatchString(q.path)
	default:
		return m.hasPrefix(q.path) && (len(q.path) == len(m.value) || q.path[len(m.value)] == '/')
	}
}

func (m *pathMatcher) hasPrefix(s string) bool {
	if m.caseSensitive {
		return strings.HasPrefix(s, m.value)
	}
	return hasPrefixFoldASCII(s, m.value)
}

// headerMatcher is a compiled HeaderMatcher.
type headerMatcher struct {
	name         string // canonical, or a pseudo-header
	str          *stringMatcher
	present      *bool // present_match, also when no specifier is set
	rangeMatch   *[2]int64
	invert       bool
	missingEmpty bool
}

func (m *headerMatcher) match(q *request) bool {
	v, ok := q.header(m.name)
	if !ok && m.missingEmpty {
		v, ok = "", true
	}
	if m.present != nil {
		return (ok == *m.present) != m.invert
	}
	if !ok {
		return false
	}
	var matched bool
	if m.str != nil {
		matched = m.str.match(v)
	} else {
		n, err := strconv.ParseInt(v, 10, 64)
		matched = err == nil && m.rangeMatch[0] <= n && n < m.rangeMatch[1]
	}
	return matched != m.invert
}

// queryMatcher is a compiled QueryParameterMatcher: the parameter must be
// present, and its first value must match str when set.
type queryMatcher struct {
	name string
	str  *stringMatcher
}

func (m *queryMatcher) match(q *request) bool {
	v, ok := q.param(m.name)
	return ok && (m.str == nil || m.str.match(v))
}

// routeMatcher is a compiled RouteMatch: every part must match.
type routeMatcher struct {
	path    pathMatcher
	headers []headerMatcher
	query   []queryMatcher
}

func (m *routeMatcher) match(q *request) bool {
	if !m.path.match(q) {
		return false
	}
	for i := range m.headers {
		if !m.headers[i].match(q) {
			return false
		}
	}
	for i := range m.query {
		if !m.query[i].match(q) {
			return false
		}
	}
	return true
}

func compileRouteMatch(p *problems, path string, rm *routev3.RouteMatch) routeMatcher {
	var m routeMatcher
	if rm == nil {
		p.Addf(path, "missing")
		return m
	}
	p.OnlyFields(path, rm, "prefix", "path", "safe_regex", "path_separated_prefix",
		"case_sensitive", "headers", "query_parameters")
	m.path.caseSensitive = rm.GetCaseSensitive() == nil || rm.GetCaseSensitive().GetValue()
	switch ps := rm.GetPathSpecifier().(type) {
	case *routev3.RouteMatch_Prefix:
		m.path.kind, m.path.value = pathPrefix, ps.Prefix
	case *routev3.RouteMatch_Path:
		m.path.kind, m.path.value = pathExact, ps.Path
	case *routev3.RouteMatch_PathSeparatedPrefix:
		m.path.kind, m.path.value = pathSeparatedPrefix, ps.PathSeparatedPrefix
		v := ps.PathSeparatedPrefix
		if v == "" || strings.ContainsAny(v, "?#") || strings.HasSuffix(v, "/") {
			p.Addf(field(path, "path_separated_prefix"), "must be non-empty, without '?' or '#', and not end in '/'")
		}
	case *routev3.RouteMatch_SafeRegex:
		m.path.kind = pathRegex
		m.path.re = compileRegex(p, field(path, "safe_regex"), ps.SafeRegex, true)
		if rm.GetCaseSensitive() != nil {
			p.Addf(field(path, "case_sensitive"), "has no effect with safe_regex")
		}
	case nil:
		p.Addf(path, "one of prefix, path, safe_regex or path_separated_prefix is required")
	}
	if !m.path.caseSensitive {
		m.path.value = lowerASCII(m.path.value)
	}
	for i, hm := range rm.GetHeaders() {
		if c, ok := compileHeaderMatcher(p, index(field(path, "headers"), i), hm); ok {
			m.headers = append(m.headers, c)
		}
	}
	for i, qm := range rm.GetQueryParameters() {
		at := index(field(path, "query_parameters"), i)
		p.OnlyFields(at, qm, "name", "string_match", "present_match")
		if qm.GetName() == "" {
			p.Addf(field(at, "name"), "empty")
		}
		c := queryMatcher{name: qm.GetName()}
		if sm := qm.GetStringMatch(); sm != nil {
			c.str = compileStringMatcher(p, field(at, "string_match"), sm)
		} else if _, ok := qm.GetQueryParameterMatchSpecifier().(*routev3.QueryParameterMatcher_PresentMatch); ok && !qm.GetPresentMatch() {
			p.Addf(field(at, "present_match"), "false is not supported")
		}
		m.query = append(m.query, c)
	}
	return m
}

func compileHeaderMatcher(p *problems, path string, hm *routev3.HeaderMatcher) (headerMatcher, bool) {
	p.OnlyFields(path, hm, "name", "range_match", "present_match", "string_match", "invert_match", "treat_missing_header_as_empty")
	m := headerMatcher{invert: hm.GetInvertMatch(), missingEmpty: hm.GetTreatMissingHeaderAsEmpty()}
	name := hm.GetName()
	switch {
	case name == ":method", name == ":authority", name == ":path", name == ":scheme":
		m.name = name
	case strings.HasPrefix(name, ":"):
		p.Addf(field(path, "name"), "unsupported pseudo-header %q", name)
		return m, false
	case !validHeaderName(name):
		p.Addf(field(path, "name"), "invalid header name %q", name)
		return m, false
	default:
		m.name = http.CanonicalHeaderKey(name)
	}
	switch s := hm.GetHeaderMatchSpecifier().(type) {
	case *routev3.HeaderMatcher_StringMatch:
		m.str = compileStringMatcher(p, field(path, "string_match"), s.StringMatch)
		return m, m.str != nil
	case *routev3.HeaderMatcher_PresentMatch:
		present := s.PresentMatch
		m.present = &present
	case *routev3.HeaderMatcher_RangeMatch:
		r := s.RangeMatch
		p.OnlyFields(field(path, "range_match"), r, "start", "end")
		m.rangeMatch = &[2]int64{r.GetStart(), r.GetEnd()}
	case nil:
		present := true
		m.present = &present
	default:
		return m, false // reported by onlyFields
	}
	return m, true
}
