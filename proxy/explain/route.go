package explain

import (
	"fmt"
	"net/http"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/proto"

	"github.com/weftmesh/weft/proxy/route"
)

// routeMatch is the route a request takes, and its decision for each
// cluster it may go to.
type routeMatch struct {
	virtualHost string
	route       string // name, or routes[i]
	// decisions has one Decision per cluster (one for a cluster action,
	// one per weighted cluster of non-zero weight, in order), or one
	// Decision without cluster for redirects and direct responses.
	decisions []*route.Decision
	weights   []uint32
	total     uint32
}

// matchRoute compiles rc with package route, as the proxy does, and
// matches r; nil when no route matches (the proxy answers 404 NR).
func matchRoute(rc *routev3.RouteConfiguration, r *http.Request) (*routeMatch, error) {
	table, err := route.Compile(rc)
	if err != nil {
		return nil, err
	}
	dec, ok := table.Match(r, func() uint64 { return 0 })
	if !ok {
		return nil, nil
	}
	m := &routeMatch{virtualHost: dec.Route.VirtualHost}
	var vh *routev3.VirtualHost
	for _, v := range rc.GetVirtualHosts() {
		if v.GetName() == dec.Route.VirtualHost {
			vh = v
		}
	}
	i, err := routeIndex(vh, r)
	if err != nil {
		return nil, err
	}
	rt := vh.GetRoutes()[i]
	m.route = rt.GetName()
	if m.route == "" {
		m.route = fmt.Sprintf("routes[%d]", i)
	}
	wcs := rt.GetRoute().GetWeightedClusters().GetClusters()
	if len(wcs) == 0 {
		m.decisions = []*route.Decision{dec}
		return m, nil
	}
	// The route draws a value modulo the sum of the weights, each
	// cluster taking the range after the previous ones: drawing the
	// start of a cluster's range gives that cluster's decision, with its
	// own header mutations and host rewrite.
	var start uint64
	for _, wc := range wcs {
		w := wc.GetWeight().GetValue()
		m.total += w
		if w == 0 {
			continue
		}
		at := start
		d, _ := table.Match(r, func() uint64 { return at })
		m.decisions = append(m.decisions, d)
		m.weights = append(m.weights, w)
		start += uint64(w)
	}
	return m, nil
}

// routeIndex returns the index of the first route of vh that matches r:
// each route is compiled alone, by package route, in a virtual host for
// every authority, and matched in order, so that the index agrees with
// the table's own first match.
func routeIndex(vh *routev3.VirtualHost, r *http.Request) (int, error) {
	for i, rt := range vh.GetRoutes() {
		one := &routev3.RouteConfiguration{Name: "explain", VirtualHosts: []*routev3.VirtualHost{{
			Name: "explain", Domains: []string{"*"}, Routes: []*routev3.Route{proto.Clone(rt).(*routev3.Route)},
		}}}
		t, err := route.Compile(one)
		if err != nil {
			return 0, err
		}
		if _, ok := t.Match(r, func() uint64 { return 0 }); ok {
			return i, nil
		}
	}
	return 0, fmt.Errorf("virtual host %q: the route that matched cannot be found again", vh.GetName())
}
