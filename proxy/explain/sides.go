package explain

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"

	"github.com/weftmesh/weft/proxy/httpguard"
	"github.com/weftmesh/weft/proxy/rbac"
	"github.com/weftmesh/weft/proxy/route"
)

// sides carries one explanation from the source proxy to the destination.
type sides struct {
	req      Request
	r        *http.Request // normalized, as the source proxy routes it
	rep      *Report
	from     Proxy
	to       *Proxy
	src      *chain
	forwards []*http.Request // per cluster of rep.Source.Clusters: the request as forwarded
}

// tcp explains a tcp_proxy chain: the request's bytes go to one cluster.
func (s *sides) tcp() (*Report, error) {
	s.rep.Source.Protocol = "tcp"
	if s.src.authz.Len() > 0 {
		a := decide(s.src.authz, s.input("", 0, nil))
		s.rep.Source.Authz = &a
		if !a.Allowed {
			s.rep.Outcome = Outcome{Summary: "the connection is closed by the source proxy's RBAC: " + a.Summary}
			return s.rep, nil
		}
	}
	c, err := s.from.Dump.explainCluster(s.src.cluster, nil, nil)
	if err != nil {
		return nil, err
	}
	s.rep.Source.Clusters = []Cluster{c}
	s.forwards = []*http.Request{s.r}
	return s.destination()
}

// http explains an HTTP connection manager chain: RBAC, route, clusters.
func (s *sides) http() (*Report, error) {
	src := &s.rep.Source
	src.Protocol = "http"
	src.RouteConfig = s.src.routeConfig
	if s.src.authz.Len() > 0 {
		a := decide(s.src.authz, s.input("", 0, s.r))
		src.Authz = &a
		if !a.Allowed {
			s.rep.Outcome = Outcome{Status: http.StatusForbidden, Flag: "RBAC", Summary: "403 RBAC at the source proxy: " + a.Summary}
			return s.rep, nil
		}
	}
	if s.src.routes == nil {
		s.rep.Outcome = Outcome{Status: http.StatusServiceUnavailable, Flag: "NR",
			Summary: fmt.Sprintf("503 NR: route configuration %q has not arrived", s.src.routeConfig)}
		return s.rep, nil
	}
	m, err := matchRoute(s.src.routes, s.r)
	if err != nil {
		return nil, err
	}
	if m == nil {
		s.rep.Outcome = Outcome{Status: http.StatusNotFound, Flag: "NR",
			Summary: fmt.Sprintf("404 NR: no route of %q matches %s %s (authority %q)", s.src.routeConfig, s.r.Method, s.r.URL.RequestURI(), s.r.Host)}
		return s.rep, nil
	}
	src.VirtualHost, src.Route = m.virtualHost, m.route
	if d := m.decisions[0]; d.Cluster == "" {
		switch {
		case d.Redirect != nil:
			s.rep.Outcome = Outcome{Status: d.Redirect.Status, Summary: fmt.Sprintf("%d redirect to %s, by the route", d.Redirect.Status, d.Redirect.Location)}
		case d.Direct != nil:
			s.rep.Outcome = Outcome{Status: d.Direct.Status, Summary: fmt.Sprintf("%d direct response of the route", d.Direct.Status)}
		}
		return s.rep, nil
	}
	for i, d := range m.decisions {
		var hash []route.HashPolicy
		if d.Route != nil {
			hash = d.Route.HashPolicy
		}
		c, err := s.from.Dump.explainCluster(d.Cluster, s.r, hash)
		if err != nil {
			return nil, err
		}
		if len(m.weights) > 0 {
			c.Weight, c.TotalWeight = m.weights[i], m.total
		}
		fw := forwarded(s.r, d, c.Picked)
		if p := fw.URL.RequestURI(); p != s.r.URL.RequestURI() {
			c.Path = p
		}
		if fw.Host != s.r.Host {
			c.Host = fw.Host
		}
		src.Clusters = append(src.Clusters, c)
		s.forwards = append(s.forwards, fw)
	}
	return s.destination()
}

// forwarded is the request as the source proxy sends it upstream: the
// route's rewrites and header mutations applied, hop-by-hop fields gone.
func forwarded(r *http.Request, d *route.Decision, picked string) *http.Request {
	out := r.Clone(r.Context())
	d.RequestHeaders.Apply(out.Header)
	if d.Path != "" {
		if u, err := url.ParseRequestURI(d.Path); err == nil {
			out.URL.Path, out.URL.RawPath, out.URL.RawQuery = u.Path, u.RawPath, u.RawQuery
		}
	}
	switch {
	case d.Host != "":
		out.Host = d.Host
	case d.AutoHostRewrite && picked != "":
		out.Host = picked
	}
	httpguard.StripHopByHop(out.Header)
	return out
}

// input is what RBAC filters decide on.
func (s *sides) input(peer string, port uint16, r *http.Request) *rbac.Input {
	in := &rbac.Input{PeerID: peer, RemoteIP: s.req.SourceIP, DestinationPort: port}
	if r != nil {
		in.Request = &rbac.Request{Method: r.Method, Authority: r.Host, Path: r.URL.RequestURI(), Header: r.Header}
	}
	return in
}

// destination explains the destination proxy's side, for the first
// endpoint it serves among the clusters' (the picked one first).
func (s *sides) destination() (*Report, error) {
	s.rep.Outcome = Outcome{Forwarded: true, Summary: "forwarded: " + s.upstreams()}
	if s.to == nil {
		return s.rep, nil
	}
	for ci, c := range s.rep.Source.Clusters {
		cands := c.Endpoints
		switch {
		case c.Type == "ORIGINAL_DST":
			// The app's own destination: a pod IP's cluster dials it
			// with mTLS (c.MTLS), PassthroughCluster in plaintext; inbound
			// picks the chain by that.
			cands = []Endpoint{{Address: s.rep.Request.Destination}}
		case c.Picked != "":
			cands = []Endpoint{{Address: c.Picked}}
		}
		for _, ep := range cands {
			ap, err := netip.ParseAddrPort(ep.Address)
			if err != nil {
				continue
			}
			if l := s.to.Dump.inboundListener(ap, s.to.Address); l != nil {
				return s.inbound(ci, ap, l)
			}
		}
	}
	s.rep.Outcome.Summary += fmt.Sprintf("; proxy %s serves none of these endpoints", s.to.Name)
	return s.rep, nil
}

// upstreams says where the request goes, in words.
func (s *sides) upstreams() string {
	var parts []string
	for _, c := range s.rep.Source.Clusters {
		p := c.Name
		if c.Weight > 0 {
			p = fmt.Sprintf("%s (%d/%d)", c.Name, c.Weight, c.TotalWeight)
		}
		switch {
		case c.Picked != "":
			p += " → " + c.Picked
		case len(c.Endpoints) > 0:
			p += " → " + c.Pick
		default:
			p += ": " + c.Pick
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, ", ")
}

// inboundListener is the listener of the destination proxy that takes a
// connection to ep: a bound one on its address, else virtualInbound
// (the original_dst listener filter) when it has a chain for its port or
// a default one.
func (d *Dump) inboundListener(ep netip.AddrPort, self netip.Addr) *listenerv3.Listener {
	if self.IsValid() && ep.Addr().Unmap() != self.Unmap() {
		return nil
	}
	for _, want := range []int{2, 1} {
		for _, l := range d.Listeners {
			if !virtual(l) && d.takes(l, ep) == want {
				return l
			}
		}
	}
	for _, l := range d.Listeners {
		if !restoresDst(l) {
			continue
		}
		for _, fc := range l.GetFilterChains() {
			if fc.GetFilterChainMatch().GetDestinationPort().GetValue() == uint32(ep.Port()) || self.IsValid() {
				return l
			}
		}
	}
	return nil
}

// restoresDst reports virtualInbound: the original_dst listener filter.
func restoresDst(l *listenerv3.Listener) bool {
	fs := l.GetListenerFilters()
	return len(fs) > 0 && fs[0].GetName() == "envoy.filters.listener.original_dst"
}
