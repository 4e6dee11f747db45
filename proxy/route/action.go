package route

import (
	"math/rand/v2"
	"regexp"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
)

// forwardAction is a compiled RouteAction.
type forwardAction struct {
	cluster  string
	weighted []weightedCluster // set instead of cluster for weighted_clusters
	total    uint64            // sum of the weights
	rewrite  pathRewrite
	host     string
	autoHost bool
}

// weightedCluster is one weighted_clusters entry with its header chain
// (its own level first, then the route's) built at compile time.
type weightedCluster struct {
	name        string
	end         uint64 // cumulative weight, exclusive
	host        string
	reqHeaders  HeaderMutations
	respHeaders HeaderMutations
}

// pick chooses a weighted cluster as Envoy does: a random value modulo
// the total weight, then the first cluster whose cumulative weight
// exceeds it.
func (a *forwardAction) pick(rnd func() uint64) *weightedCluster {
	if rnd == nil {
		rnd = rand.Uint64
	}
	v := rnd() % a.total
	for i := range a.weighted {
		if v < a.weighted[i].end {
			return &a.weighted[i]
		}
	}
	return &a.weighted[len(a.weighted)-1] // unreachable: the last end is total
}

// pathRewrite is a compiled prefix_rewrite or regex_rewrite.
type pathRewrite struct {
	prefix    string
	hasPrefix bool
	re        *regexp.Regexp
	subst     string // in regexp.Expand syntax
}

func (w *pathRewrite) set() bool { return w.hasPrefix || w.re != nil }

// apply returns the rewritten :path, query string kept. prefix_rewrite
// replaces the matched prefix of a prefix route and the whole path of the
// other routes; regex_rewrite substitutes every match in the path without
// its query string.
func (w *pathRewrite) apply(q *request, pm *pathMatcher) string {
	var out string
	switch {
	case w.re != nil:
		out = w.re.ReplaceAllString(q.path, w.subst) + querySuffix(q)
	case pm.kind == pathPrefix || pm.kind == pathSeparatedPrefix:
		out = w.prefix + q.fullPath()[len(pm.value):]
	default:
		out = w.prefix + querySuffix(q)
	}
	if out == "" {
		return "/"
	}
	return out
}

func querySuffix(q *request) string {
	if !q.hasQuery {
		return ""
	}
	return "?" + q.query
}

// compilePathRewrite compiles a RegexMatchAndSubstitute.
func compileRegexRewrite(p *problems, path string, rr *matcherv3.RegexMatchAndSubstitute) pathRewrite {
	p.OnlyFields(path, rr, "pattern", "substitution")
	re := compileRegex(p, field(path, "pattern"), rr.GetPattern(), false)
	if re == nil {
		return pathRewrite{}
	}
	subst, msg := goSubstitution(rr.GetSubstitution(), re.NumSubexp())
	if msg != "" {
		p.Addf(field(path, "substitution"), "%s", msg)
		return pathRewrite{}
	}
	return pathRewrite{re: re, subst: subst}
}

// goSubstitution turns an RE2 rewrite string (`\1` for a group, `\\` for
// a backslash) into regexp.Expand syntax.
func goSubstitution(s string, groups int) (string, string) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '$':
			b.WriteString("$$")
		case c != '\\':
			b.WriteByte(c)
		case i+1 < len(s) && s[i+1] == '\\':
			b.WriteByte('\\')
			i++
		case i+1 < len(s) && '0' <= s[i+1] && s[i+1] <= '9':
			n := int(s[i+1] - '0')
			if n > groups {
				return "", "refers to group \\" + string(s[i+1]) + " but the pattern has fewer groups"
			}
			b.WriteString("${" + string(s[i+1]) + "}")
			i++
		default:
			return "", `a backslash must be followed by a digit or a backslash`
		}
	}
	return b.String(), ""
}

func compileRouteAction(p *problems, path string, ra *routev3.RouteAction, chain levels) (*forwardAction, *Route) {
	p.OnlyFields(path, ra, "cluster", "weighted_clusters", "prefix_rewrite", "regex_rewrite",
		"host_rewrite_literal", "auto_host_rewrite", "timeout", "retry_policy", "hash_policy", "request_mirror_policies")
	a := &forwardAction{host: ra.GetHostRewriteLiteral(), autoHost: ra.GetAutoHostRewrite().GetValue()}
	switch cs := ra.GetClusterSpecifier().(type) {
	case *routev3.RouteAction_Cluster:
		a.cluster = cs.Cluster
		if a.cluster == "" {
			p.Addf(field(path, "cluster"), "empty")
		}
	case *routev3.RouteAction_WeightedClusters:
		compileWeighted(p, field(path, "weighted_clusters"), cs.WeightedClusters, a, chain)
	case nil:
		p.Addf(path, "one of cluster or weighted_clusters is required")
	}
	if _, ok := ra.GetHostRewriteSpecifier().(*routev3.RouteAction_HostRewriteLiteral); ok && a.host == "" {
		p.Addf(field(path, "host_rewrite_literal"), "empty")
	}
	if ra.GetPrefixRewrite() != "" {
		a.rewrite = pathRewrite{prefix: ra.GetPrefixRewrite(), hasPrefix: true}
	}
	if rr := ra.GetRegexRewrite(); rr != nil {
		if a.rewrite.hasPrefix {
			p.Addf(path, "only one of prefix_rewrite and regex_rewrite may be set")
		} else {
			a.rewrite = compileRegexRewrite(p, field(path, "regex_rewrite"), rr)
		}
	}
	pub := &Route{Timeout: DefaultTimeout}
	if t := ra.GetTimeout(); t != nil {
		pub.Timeout = duration(p, field(path, "timeout"), t)
	}
	if rp := ra.GetRetryPolicy(); rp != nil {
		pub.Retry = compileRetryPolicy(p, field(path, "retry_policy"), rp)
	}
	pub.Mirrors = compileMirrors(p, field(path, "request_mirror_policies"), ra.GetRequestMirrorPolicies()) // mirror.go
	for i, hp := range ra.GetHashPolicy() {
		if h, ok := compileHashPolicy(p, index(field(path, "hash_policy"), i), hp); ok {
			pub.HashPolicy = append(pub.HashPolicy, h)
		}
	}
	return a, pub
}

func compileWeighted(p *problems, path string, wc *routev3.WeightedCluster, a *forwardAction, chain levels) {
	p.OnlyFields(path, wc, "clusters")
	if len(wc.GetClusters()) == 0 {
		p.Addf(field(path, "clusters"), "at least one cluster is required")
		return
	}
	for i, cw := range wc.GetClusters() {
		at := index(field(path, "clusters"), i)
		p.OnlyFields(at, cw, "name", "weight", "request_headers_to_add", "request_headers_to_remove",
			"response_headers_to_add", "response_headers_to_remove", "host_rewrite_literal")
		if cw.GetName() == "" {
			p.Addf(field(at, "name"), "empty")
		}
		if _, ok := cw.GetHostRewriteSpecifier().(*routev3.WeightedCluster_ClusterWeight_HostRewriteLiteral); ok && cw.GetHostRewriteLiteral() == "" {
			p.Addf(field(at, "host_rewrite_literal"), "empty")
		}
		req, resp := headerLists{
			reqAdd: cw.GetRequestHeadersToAdd(), reqRemove: cw.GetRequestHeadersToRemove(),
			respAdd: cw.GetResponseHeadersToAdd(), respRemove: cw.GetResponseHeadersToRemove(),
		}.compile(p, at)
		a.total += uint64(cw.GetWeight().GetValue())
		host := cw.GetHostRewriteLiteral()
		if host == "" {
			host = a.host
		}
		a.weighted = append(a.weighted, weightedCluster{
			name: cw.GetName(), end: a.total, host: host,
			reqHeaders: chain.request(req), respHeaders: chain.response(resp),
		})
	}
	if a.total == 0 {
		p.Addf(field(path, "clusters"), "the sum of the weights must be greater than 0")
	}
}
