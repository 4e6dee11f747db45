package route

import (
	"errors"
	"net/http"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
)

// Table is a compiled RouteConfiguration. It is immutable and safe for
// concurrent use.
type Table struct {
	name   string
	vhosts vhostIndex
}

// Name is the RouteConfiguration's name.
func (t *Table) Name() string { return t.name }

// virtualHost is a compiled VirtualHost.
type virtualHost struct {
	name   string
	routes []*compiledRoute
}

// compiledRoute is a compiled Route; exactly one of forward, redirect and
// direct is set.
type compiledRoute struct {
	pub      *Route
	match    routeMatcher
	forward  *forwardAction
	redirect *redirectAction
	direct   *DirectResponse
	// reqHeaders and respHeaders are the route's header chain (without a
	// weighted cluster's level).
	reqHeaders, respHeaders HeaderMutations
}

// defaultMaxDirectBody is Envoy's limit on an inline direct response body
// when max_direct_response_body_size_bytes is not set.
const defaultMaxDirectBody = 4096

// Compile validates a RouteConfiguration and compiles it. Every problem is
// reported, each naming the field path (`route_config "x":
// virtual_hosts[0].routes[2].match.safe_regex.regex: error parsing regexp:
// ...`); any field this package does not implement is one of them.
func Compile(rc *routev3.RouteConfiguration) (*Table, error) {
	if rc == nil {
		return nil, errors.New("route_config: missing")
	}
	p := newProblems(rc.GetName())
	p.OnlyFields("", rc, "name", "virtual_hosts", "response_headers_to_add", "response_headers_to_remove",
		"request_headers_to_add", "request_headers_to_remove", "most_specific_header_mutations_wins",
		"ignore_port_in_host_matching", "max_direct_response_body_size_bytes")
	cfg := compileConfig{maxBody: defaultMaxDirectBody, mostSpecificWins: rc.GetMostSpecificHeaderMutationsWins()}
	if m := rc.GetMaxDirectResponseBodySizeBytes(); m != nil {
		cfg.maxBody = int(m.GetValue())
	}
	cfg.req, cfg.resp = headerLists{
		reqAdd: rc.GetRequestHeadersToAdd(), reqRemove: rc.GetRequestHeadersToRemove(),
		respAdd: rc.GetResponseHeadersToAdd(), respRemove: rc.GetResponseHeadersToRemove(),
	}.compile(p, "")

	t := &Table{name: rc.GetName(), vhosts: vhostIndex{
		exact: map[string]*virtualHost{}, ignorePort: rc.GetIgnorePortInHostMatching(),
	}}
	domains := map[string]string{} // lower-cased domain -> path of its first use
	names := map[string]int{}
	for i, vhc := range rc.GetVirtualHosts() {
		path := index("virtual_hosts", i)
		vh := cfg.virtualHost(p, path, vhc)
		if vh.name != "" {
			if first, dup := names[vh.name]; dup {
				p.Addf(field(path, "name"), "duplicate virtual host name %q (also virtual_hosts[%d])", vh.name, first)
			} else {
				names[vh.name] = i
			}
		}
		if len(vhc.GetDomains()) == 0 {
			p.Addf(field(path, "domains"), "at least one domain is required")
		}
		for j, d := range vhc.GetDomains() {
			at := index(field(path, "domains"), j)
			if msg := checkDomain(d); msg != "" {
				p.Addf(at, "%s: %q", msg, d)
				continue
			}
			d = lowerASCII(d)
			if first, dup := domains[d]; dup {
				p.Addf(at, "duplicate domain %q (also %s)", d, first)
				continue
			}
			domains[d] = at
			t.vhosts.add(d, vh)
		}
	}
	if err := p.Err(); err != nil {
		return nil, err
	}
	return t, nil
}

// compileConfig carries what the configuration level gives every route.
type compileConfig struct {
	req, resp        *HeaderMutation
	mostSpecificWins bool
	maxBody          int
}

func (c *compileConfig) virtualHost(p *problems, path string, vhc *routev3.VirtualHost) *virtualHost {
	p.OnlyFields(path, vhc, "name", "domains", "routes", "request_headers_to_add", "request_headers_to_remove",
		"response_headers_to_add", "response_headers_to_remove")
	vh := &virtualHost{name: vhc.GetName()}
	if vh.name == "" {
		p.Addf(field(path, "name"), "empty")
	}
	vreq, vresp := headerLists{
		reqAdd: vhc.GetRequestHeadersToAdd(), reqRemove: vhc.GetRequestHeadersToRemove(),
		respAdd: vhc.GetResponseHeadersToAdd(), respRemove: vhc.GetResponseHeadersToRemove(),
	}.compile(p, path)
	for i, rc := range vhc.GetRoutes() {
		at := index(field(path, "routes"), i)
		p.OnlyFields(at, rc, "name", "match", "route", "redirect", "direct_response",
			"request_headers_to_add", "request_headers_to_remove", "response_headers_to_add", "response_headers_to_remove")
		rreq, rresp := headerLists{
			reqAdd: rc.GetRequestHeadersToAdd(), reqRemove: rc.GetRequestHeadersToRemove(),
			respAdd: rc.GetResponseHeadersToAdd(), respRemove: rc.GetResponseHeadersToRemove(),
		}.compile(p, at)
		chain := levels{
			req:              [3]*HeaderMutation{rreq, vreq, c.req},
			resp:             [3]*HeaderMutation{rresp, vresp, c.resp},
			mostSpecificWins: c.mostSpecificWins,
		}
		r := &compiledRoute{
			match:       compileRouteMatch(p, field(at, "match"), rc.GetMatch()),
			reqHeaders:  chain.request(nil),
			respHeaders: chain.response(nil),
		}
		switch a := rc.GetAction().(type) {
		case *routev3.Route_Route:
			r.forward, r.pub = compileRouteAction(p, field(at, "route"), a.Route, chain)
		case *routev3.Route_Redirect:
			r.redirect = compileRedirect(p, field(at, "redirect"), a.Redirect)
			r.reqHeaders = nil
		case *routev3.Route_DirectResponse:
			r.direct = c.directResponse(p, field(at, "direct_response"), a.DirectResponse)
			r.reqHeaders = nil
		case nil:
			p.Addf(at, "one of route, redirect or direct_response is required")
		}
		if r.pub == nil {
			r.pub = &Route{}
		}
		r.pub.Name, r.pub.VirtualHost = rc.GetName(), vh.name
		vh.routes = append(vh.routes, r)
	}
	return vh
}

func (c *compileConfig) directResponse(p *problems, path string, dr *routev3.DirectResponseAction) *DirectResponse {
	p.OnlyFields(path, dr, "status", "body")
	d := &DirectResponse{Status: int(dr.GetStatus())}
	if d.Status < 200 || d.Status > 599 {
		p.Addf(field(path, "status"), "%d is not in [200, 599]", dr.GetStatus())
	}
	if b := dr.GetBody(); b != nil {
		at := field(path, "body")
		p.OnlyFields(at, b, "inline_bytes", "inline_string")
		switch s := b.GetSpecifier().(type) {
		case *corev3.DataSource_InlineBytes:
			d.Body = s.InlineBytes
		case *corev3.DataSource_InlineString:
			d.Body = []byte(s.InlineString)
		}
		if len(d.Body) > c.maxBody {
			p.Addf(at, "%d bytes is more than max_direct_response_body_size_bytes (%d)", len(d.Body), c.maxBody)
		}
	}
	return d
}

// levels is a route's header mutations from the most specific level to
// the least (route, virtual host, configuration).
type levels struct {
	req, resp        [3]*HeaderMutation
	mostSpecificWins bool
}

func (l levels) request(cluster *HeaderMutation) HeaderMutations  { return l.build(cluster, l.req) }
func (l levels) response(cluster *HeaderMutation) HeaderMutations { return l.build(cluster, l.resp) }

// build orders the levels as Envoy applies them: a weighted cluster's
// level first, then route, virtual host and configuration, or the
// reverse of those three with most_specific_header_mutations_wins, so
// that the level applied last wins an overwrite.
func (l levels) build(cluster *HeaderMutation, ms [3]*HeaderMutation) HeaderMutations {
	var out HeaderMutations
	if cluster != nil {
		out = append(out, cluster)
	}
	for i := range ms {
		m := ms[i]
		if l.mostSpecificWins {
			m = ms[len(ms)-1-i]
		}
		if m != nil {
			out = append(out, m)
		}
	}
	return out
}

// Match picks the virtual host for the request's authority, then the first
// of its routes that matches, and returns what to do. It reports false
// when no virtual host or route matches (Envoy answers 404). It never
// modifies r. rnd draws the weighted cluster; nil uses math/rand/v2.
func (t *Table) Match(r *http.Request, rnd func() uint64) (*Decision, bool) {
	vh := t.vhosts.find(r.Host)
	if vh == nil {
		return nil, false
	}
	q := newRequest(r)
	for _, rt := range vh.routes {
		if rt.match.match(&q) {
			return rt.decide(&q, rnd), true
		}
	}
	return nil, false
}

func (rt *compiledRoute) decide(q *request, rnd func() uint64) *Decision {
	d := &Decision{Route: rt.pub, ResponseHeaders: rt.respHeaders}
	switch {
	case rt.direct != nil:
		d.Direct = rt.direct
	case rt.redirect != nil:
		d.Redirect = &Redirect{Status: rt.redirect.status, Location: rt.redirect.location(q, &rt.match.path)}
	default:
		a := rt.forward
		d.Cluster, d.Host, d.RequestHeaders = a.cluster, a.host, rt.reqHeaders
		if a.weighted != nil {
			w := a.pick(rnd)
			d.Cluster, d.Host = w.name, w.host
			d.RequestHeaders, d.ResponseHeaders = w.reqHeaders, w.respHeaders
		}
		d.AutoHostRewrite = a.autoHost && d.Host == ""
		if a.rewrite.set() {
			d.Path = a.rewrite.apply(q, &rt.match.path)
		}
	}
	return d
}
