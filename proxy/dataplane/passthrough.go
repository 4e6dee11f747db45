package dataplane

import (
	"fmt"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
)

// ORIGINAL_DST clusters (PassthroughCluster, InboundPassthroughCluster in
// docs/capture.md) send a connection where it was going before the
// capture rules redirected it: to its original destination, in
// plaintext, or over mTLS with a transport_socket (a meshed pod dialled
// by its IP). They have no endpoints of their own, so only tcp_proxy can
// use them; an HTTP route to one is refused.

// parseOriginalDstCluster checks an ORIGINAL_DST cluster: lb_policy
// CLUSTER_PROVIDED, an optional connect_timeout and upstream TLS
// transport_socket, and nothing else.
func (d *Dataplane) parseOriginalDstCluster(p *problems, c *clusterv3.Cluster) *clusterConfig {
	const why = "unsupported on an ORIGINAL_DST cluster, which dials each connection's original destination"
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"load_assignment", c.GetLoadAssignment() != nil},
		{"eds_cluster_config", c.GetEdsClusterConfig() != nil},
		{"typed_extension_protocol_options", len(c.GetTypedExtensionProtocolOptions()) > 0},
		{"circuit_breakers", c.GetCircuitBreakers() != nil},
		{"outlier_detection", c.GetOutlierDetection() != nil},
	} {
		if f.set {
			p.Addf(f.name, "%s", why)
		}
	}
	p.OnlyFields("", c, "name", "type", "connect_timeout", "lb_policy",
		"load_assignment", "eds_cluster_config", "transport_socket", "typed_extension_protocol_options", "circuit_breakers", "outlier_detection")
	if c.GetLbPolicy() != clusterv3.Cluster_CLUSTER_PROVIDED {
		p.Addf("lb_policy", "an ORIGINAL_DST cluster needs CLUSTER_PROVIDED, got %s", c.GetLbPolicy())
	}
	cc := &clusterConfig{
		name:           c.GetName(),
		originalDst:    true,
		connectTimeout: parseDuration(p, "connect_timeout", c.GetConnectTimeout(), defaultConnectTimeout),
	}
	if cc.connectTimeout == 0 {
		cc.connectTimeout = defaultConnectTimeout
	}
	cc.tls = d.parseClusterTLS(p, c)
	return cc
}

// routeClusterRef is a cluster named by a route, and the field naming it.
type routeClusterRef struct {
	cluster, path string
}

// routeClusterRefs lists the clusters the routes of rc send to.
func routeClusterRefs(rc *routev3.RouteConfiguration) []routeClusterRef {
	var out []routeClusterRef
	for i, vh := range rc.GetVirtualHosts() {
		vpath := index("virtual_hosts", i)
		for j, r := range vh.GetRoutes() {
			rpath := field(index(field(vpath, "routes"), j), "route")
			ra := r.GetRoute()
			if name := ra.GetCluster(); name != "" {
				out = append(out, routeClusterRef{name, field(rpath, "cluster")})
			}
			for k, wc := range ra.GetWeightedClusters().GetClusters() {
				out = append(out, routeClusterRef{wc.GetName(), field(index(field(rpath, "weighted_clusters.clusters"), k), "name")})
			}
		}
	}
	return out
}

// checkRouteClusters reports, at path, the routes of rc that send HTTP
// requests to an ORIGINAL_DST cluster of clusters.
func checkRouteClusters(p *problems, path string, rc *routev3.RouteConfiguration, clusters map[string]*clusterConfig) {
	for _, ref := range routeClusterRefs(rc) {
		if c := clusters[ref.cluster]; c != nil && c.originalDst {
			p.Addf(field(path, ref.path), "cluster %q is ORIGINAL_DST, which only tcp_proxy can use", ref.cluster)
		}
	}
}

// currentClusters is the cluster table applied now, empty before the
// first OnClusters.
func (d *Dataplane) currentClusters() map[string]*clusterConfig {
	if t := d.clusters.Load(); t != nil {
		return *t
	}
	return nil
}

// checkOriginalDstUse refuses a cluster set in which an ORIGINAL_DST
// cluster is named by an HTTP route applied now: over RDS (routes) or
// inline in a listener's HTTP connection manager (listeners). Called
// with d.mu held.
func checkOriginalDstUse(clusters map[string]*clusterConfig, routes []*routev3.RouteConfiguration, listeners []*listenerv3.Listener) error {
	var all []*problems
	check := func(where string, rc *routev3.RouteConfiguration) {
		for _, ref := range routeClusterRefs(rc) {
			if c := clusters[ref.cluster]; c != nil && c.originalDst {
				p := newProblems("cluster", ref.cluster)
				p.Addf("type", "ORIGINAL_DST, which only tcp_proxy can use, but %s: %s sends HTTP requests to it", where, ref.path)
				all = append(all, p)
			}
		}
	}
	for _, rc := range routes {
		check(fmt.Sprintf("route_config %q", rc.GetName()), rc)
	}
	for _, l := range listeners {
		for i, fc := range l.GetFilterChains() {
			for j, f := range fc.GetFilters() {
				var hcm hcmv3.HttpConnectionManager
				if f.GetTypedConfig().GetTypeUrl() != hcmTypeURL || f.GetTypedConfig().UnmarshalTo(&hcm) != nil {
					continue
				}
				if rc := hcm.GetRouteConfig(); rc != nil {
					check(fmt.Sprintf("listener %q: filter_chains[%d].filters[%d].typed_config.route_config", l.GetName(), i, j), rc)
				}
			}
		}
	}
	return joinProblems(all)
}
