package route

import (
	"strconv"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
)

// redirectAction is a compiled RedirectAction.
type redirectAction struct {
	scheme       string // "" keeps the request's
	host         string // "" keeps the request's
	port         string // ":<port>", or ""
	path         string // path_redirect
	hasPath      bool
	pathHasQuery bool
	rewrite      pathRewrite
	status       int
	stripQuery   bool
}

// location computes the Location of the redirect for q as Envoy does:
// the scheme, host, port and path are each replaced or kept; the port of
// the request's authority is dropped when a new port is set, or when the
// scheme changes and the port is the old scheme's default; a path_redirect
// without a query string keeps the request's query; strip_query drops it
// (but never a query written in path_redirect).
func (a *redirectAction) location(q *request, pm *pathMatcher) string {
	reqScheme := q.scheme()
	scheme := reqScheme
	if a.scheme != "" {
		scheme = a.scheme
	}
	host := a.host
	if host == "" {
		host = q.r.Host
		if i := portStart(host); i >= 0 {
			port := host[i:]
			drop := a.port != "" ||
				(scheme != reqScheme && ((reqScheme == "https" && port == ":443") || (reqScheme == "http" && port == ":80")))
			if drop {
				host = host[:i]
			}
		}
	}
	var path string
	switch {
	case a.hasPath && (a.pathHasQuery || !q.hasQuery):
		path = a.path
	case a.hasPath:
		path = a.path + "?" + q.query
	case a.rewrite.set():
		path = a.rewrite.apply(q, pm)
	default:
		path = q.fullPath()
	}
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	if a.stripQuery && !a.pathHasQuery {
		if i := strings.IndexByte(path, '?'); i >= 0 {
			path = path[:i]
		}
	}
	return scheme + "://" + host + a.port + path
}

// redirectStatus is the HTTP status of a RedirectAction response code.
func redirectStatus(c routev3.RedirectAction_RedirectResponseCode) (int, bool) {
	switch c {
	case routev3.RedirectAction_MOVED_PERMANENTLY:
		return 301, true
	case routev3.RedirectAction_FOUND:
		return 302, true
	case routev3.RedirectAction_SEE_OTHER:
		return 303, true
	case routev3.RedirectAction_TEMPORARY_REDIRECT:
		return 307, true
	case routev3.RedirectAction_PERMANENT_REDIRECT:
		return 308, true
	}
	return 0, false
}

func compileRedirect(p *problems, path string, ra *routev3.RedirectAction) *redirectAction {
	p.OnlyFields(path, ra, "https_redirect", "scheme_redirect", "host_redirect", "port_redirect",
		"path_redirect", "prefix_rewrite", "regex_rewrite", "response_code", "strip_query")
	a := &redirectAction{host: ra.GetHostRedirect(), stripQuery: ra.GetStripQuery()}
	switch s := ra.GetSchemeRewriteSpecifier().(type) {
	case *routev3.RedirectAction_HttpsRedirect:
		if s.HttpsRedirect {
			a.scheme = "https"
		}
	case *routev3.RedirectAction_SchemeRedirect:
		a.scheme = strings.ToLower(s.SchemeRedirect)
		if !validScheme(a.scheme) {
			p.Addf(field(path, "scheme_redirect"), "invalid scheme %q", s.SchemeRedirect)
		}
	}
	if strings.ContainsAny(a.host, "/?#@ \t\r\n") {
		p.Addf(field(path, "host_redirect"), "invalid host %q", a.host)
	}
	switch port := ra.GetPortRedirect(); {
	case port > 65535:
		p.Addf(field(path, "port_redirect"), "%d is not a port", port)
	case port > 0:
		a.port = ":" + strconv.FormatUint(uint64(port), 10)
	}
	switch ps := ra.GetPathRewriteSpecifier().(type) {
	case *routev3.RedirectAction_PathRedirect:
		a.path, a.hasPath = ps.PathRedirect, true
		a.pathHasQuery = strings.Contains(a.path, "?")
		if strings.ContainsAny(a.path, "\x00\r\n") {
			p.Addf(field(path, "path_redirect"), "invalid character")
		}
	case *routev3.RedirectAction_PrefixRewrite:
		a.rewrite = pathRewrite{prefix: ps.PrefixRewrite, hasPrefix: true}
	case *routev3.RedirectAction_RegexRewrite:
		a.rewrite = compileRegexRewrite(p, field(path, "regex_rewrite"), ps.RegexRewrite)
	}
	status, ok := redirectStatus(ra.GetResponseCode())
	if !ok {
		p.Addf(field(path, "response_code"), "unknown code %d", ra.GetResponseCode())
	}
	a.status = status
	return a
}

func validScheme(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '+' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}
