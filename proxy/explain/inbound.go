package explain

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
)

// Transports of a connection between proxies, as the report names them.
const (
	transportMTLS      = "mtls"
	transportPlaintext = "plaintext"
)

// inbound explains what the destination proxy's listener l does with the
// connection of cluster ci of the source to ep, and the request on it.
func (s *sides) inbound(ci int, ep netip.AddrPort, l *listenerv3.Listener) (*Report, error) {
	c := s.rep.Source.Clusters[ci]
	dst := &Destination{Proxy: s.to.Name, ID: s.to.ID, Cluster: c.Name, Endpoint: ep.String(), Listener: l.GetName(), Port: ep.Port()}
	s.rep.Destination = dst
	transport, peer := "raw_buffer", ""
	dst.Transport = transportPlaintext
	if c.MTLS {
		transport, peer, dst.Transport = "tls", s.from.ID, transportMTLS
	}
	// Sidecars speak HTTP/2 to each other when the cluster says so; a
	// tcp_proxy carries the app's own HTTP/1.1 bytes.
	protocol := "http/1.1"
	if s.rep.Source.Protocol == "http" && c.HTTP2 {
		protocol = "h2c"
	}
	closed := func(why string) (*Report, error) {
		s.rep.Outcome = Outcome{Status: http.StatusServiceUnavailable, Flag: "UF",
			Summary: "503: the destination proxy closes the connection: " + why}
		if s.rep.Source.Protocol == "tcp" {
			s.rep.Outcome = Outcome{Summary: "the connection is closed: " + why}
		}
		return s.rep, nil
	}
	i, fc := chooseChain(l, ep, transport, protocol)
	if fc == nil {
		return closed(fmt.Sprintf("listener %q has no filter chain for a %s %s connection to port %d (no_filter_chain)", l.GetName(), dst.Transport, protocol, ep.Port()))
	}
	dst.Chain = chainName(i, fc)
	switch terminates := fc.GetTransportSocket() != nil; {
	case terminates && !c.MTLS:
		return closed(fmt.Sprintf("chain %s requires mTLS (STRICT) but cluster %q dials in plaintext", dst.Chain, c.Name))
	case !terminates && c.MTLS:
		return closed(fmt.Sprintf("chain %s is plaintext but cluster %q dials with mTLS", dst.Chain, c.Name))
	}
	if c.MTLS && s.to.ID != "" && len(c.ServerIDs) > 0 && !acceptsID(c.ServerIDs, s.to.ID) {
		return closed(fmt.Sprintf("the source refuses the server's identity %s: cluster %q accepts %s", s.to.ID, c.Name, strings.Join(c.ServerIDs, ", ")))
	}
	ch, err := s.to.Dump.readChain(l, i, fc)
	if err != nil {
		return nil, err
	}
	fw := s.forwards[ci]
	if !ch.http {
		dst.Protocol = "tcp"
		a := decide(ch.authz, s.input(peer, ep.Port(), nil))
		dst.Authz = &a
		if !dst.Authz.Allowed {
			return closed("RBAC: " + dst.Authz.Summary)
		}
		up, err := s.to.Dump.explainCluster(ch.cluster, nil, nil)
		if err != nil {
			return nil, err
		}
		return s.delivered(dst, ch.cluster, up)
	}
	dst.Protocol = "http"
	in, err := normalize(fw)
	if err != nil {
		s.rep.Outcome = Outcome{Status: http.StatusBadRequest, Summary: "400: the destination proxy refuses the path: " + err.Error()}
		return s.rep, nil
	}
	a := decide(ch.authz, s.input(peer, ep.Port(), in))
	dst.Authz = &a
	if !dst.Authz.Allowed {
		s.rep.Outcome = Outcome{Status: http.StatusForbidden, Flag: "RBAC", Summary: "403 RBAC: " + dst.Authz.Summary}
		return s.rep, nil
	}
	if ch.routes == nil {
		s.rep.Outcome = Outcome{Status: http.StatusServiceUnavailable, Flag: "NR",
			Summary: fmt.Sprintf("503 NR: the destination's route configuration %q has not arrived", ch.routeConfig)}
		return s.rep, nil
	}
	m, err := matchRoute(ch.routes, in)
	if err != nil {
		return nil, err
	}
	if m == nil {
		s.rep.Outcome = Outcome{Status: http.StatusNotFound, Flag: "NR", Summary: fmt.Sprintf("404 NR: no inbound route of %q matches", ch.routeConfig)}
		return s.rep, nil
	}
	dst.Route = m.route
	d := m.decisions[0]
	if d.Cluster == "" {
		s.rep.Outcome = Outcome{Summary: "the destination's route answers by itself"}
		if d.Redirect != nil {
			s.rep.Outcome.Status = d.Redirect.Status
		} else if d.Direct != nil {
			s.rep.Outcome.Status = d.Direct.Status
		}
		return s.rep, nil
	}
	up, err := s.to.Dump.explainCluster(d.Cluster, in, d.Route.HashPolicy)
	if err != nil {
		return nil, err
	}
	return s.delivered(dst, d.Cluster, up)
}

// delivered completes a report whose request reaches the destination's
// upstream cluster (the app).
func (s *sides) delivered(dst *Destination, cluster string, up Cluster) (*Report, error) {
	dst.UpstreamCluster = cluster
	switch {
	case up.Type == "ORIGINAL_DST":
		dst.Upstream = "the original destination " + dst.Endpoint
	case up.Picked != "":
		dst.Upstream = up.Picked
	case len(up.Endpoints) > 0:
		dst.Upstream = up.Pick
	default:
		s.rep.Outcome = Outcome{Status: http.StatusServiceUnavailable, Flag: "UH", Summary: fmt.Sprintf("503 at the destination: cluster %q: %s", cluster, up.Pick)}
		return s.rep, nil
	}
	s.rep.Outcome = Outcome{Forwarded: true, Summary: fmt.Sprintf("forwarded to %s (%s), which answers", dst.Upstream, cluster)}
	return s.rep, nil
}

// acceptsID reports whether a cluster's SAN matchers (exact IDs, or
// prefixes written with a trailing *) accept id.
func acceptsID(ids []string, id string) bool {
	for _, want := range ids {
		if p, ok := strings.CutSuffix(want, "*"); ok && strings.HasPrefix(id, p) || want == id {
			return true
		}
	}
	return false
}
