package dataplane

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/proto"

	"github.com/weftmesh/weft/proxy/httpproxy"
	"github.com/weftmesh/weft/proxy/route"
)

// OnRoutes validates and applies the complete set of RouteConfigurations
// that HTTP listeners take over RDS. Each is compiled whole; the new tables
// are swapped in atomically and used by the next request of every
// connection, established ones included. A listener whose route
// configuration is not in the set answers 503 with response flag NR.
func (d *Dataplane) OnRoutes(_ context.Context, routes []*routev3.RouteConfiguration) error {
	tables, err := parseRoutes(routes)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return ErrClosed
	}
	var all []*problems
	for _, rc := range routes {
		p := newProblems("route_config", rc.GetName())
		checkRouteClusters(p, "", rc, d.currentClusters())
		all = append(all, p)
	}
	if err := joinProblems(all); err != nil {
		return err
	}
	d.routes.Store(&tables)
	d.applied.routes = cloneRoutes(routes)
	d.log.Info("routes applied", "count", len(tables))
	return nil
}

// parseRoutes compiles a complete set of route configurations.
func parseRoutes(routes []*routev3.RouteConfiguration) (map[string]*route.Table, error) {
	tables := make(map[string]*route.Table, len(routes))
	var errs []error
	names := make([]string, 0, len(routes))
	for _, rc := range routes {
		if rc.GetName() == "" {
			errs = append(errs, missingName("route_config").Errs()...)
			continue
		}
		names = append(names, rc.GetName())
		t, err := route.Compile(rc)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		tables[rc.GetName()] = t
	}
	for _, p := range duplicates("route_config", names) {
		errs = append(errs, p.Errs()...)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return tables, nil
}

// rdsRouter returns the routes of the RDS configuration name as they are at
// each call.
func (d *Dataplane) rdsRouter(name string) func() httpproxy.Router {
	return func() httpproxy.Router {
		if t := d.routes.Load(); t != nil {
			if table := (*t)[name]; table != nil {
				return routeTable{table}
			}
		}
		return nil
	}
}

// routeTable adapts a compiled route table to the HTTP proxy.
type routeTable struct{ t *route.Table }

func (rt routeTable) Route(r *http.Request) (httpproxy.Action, bool) {
	dec, ok := rt.t.Match(r, nil)
	if !ok {
		return httpproxy.Action{}, false
	}
	a := httpproxy.Action{Cluster: dec.Cluster}
	if len(dec.ResponseHeaders) > 0 {
		a.ResponseHeaders = dec.ResponseHeaders.Apply
	}
	switch {
	case dec.Redirect != nil:
		a.Status = dec.Redirect.Status
		a.Header = http.Header{"Location": {dec.Redirect.Location}}
		return a, true
	case dec.Direct != nil:
		a.Status, a.Body = dec.Direct.Status, dec.Direct.Body
		return a, true
	}
	if dec.Route != nil {
		a.Route = dec.Route.Name
		a.Timeout = dec.Route.Timeout
		a.Retry = retryPolicy(dec.Route.Retry)
		a.HashPolicy = dec.Route.HashPolicy
		for _, m := range dec.Route.Mirrors {
			a.Mirrors = append(a.Mirrors, httpproxy.Mirror{Cluster: m.Cluster, Sampled: m.Sampled})
		}
	}
	a.Rewrite = func(out *http.Request) {
		dec.RequestHeaders.Apply(out.Header)
		if dec.Path != "" {
			if u, err := url.ParseRequestURI(dec.Path); err == nil {
				out.URL.Path, out.URL.RawPath, out.URL.RawQuery = u.Path, u.RawPath, u.RawQuery
			}
		}
		switch {
		case dec.Host != "":
			out.Host = dec.Host
		case dec.AutoHostRewrite:
			out.Host = out.URL.Host
		}
	}
	return a, true
}

func cloneRoutes(rs []*routev3.RouteConfiguration) []*routev3.RouteConfiguration {
	out := make([]*routev3.RouteConfiguration, len(rs))
	for i, r := range rs {
		out[i] = proto.Clone(r).(*routev3.RouteConfiguration)
	}
	return out
}
