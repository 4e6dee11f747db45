package translate

import (
	"cmp"
	"slices"
	"strings"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	router "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxy "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/types/known/wrapperspb"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/weftmesh/weft/controlplane/model"
	"github.com/weftmesh/weft/gateway"
)

func wrapBool(v bool) *wrapperspb.BoolValue { return wrapperspb.Bool(v) }

// gatewayLogged: a gateway logs every request and connection, whatever
// the mesh's AccessLog, which is for sidecars; its log is the record of
// what entered the mesh.
const gatewayLogged = true

// gatewayResolution is gateway.Resolve(m), computed once per Batch.
func (b *Batch) gatewayResolution(m *model.Mesh) *gateway.Resolution {
	if b == nil {
		return gateway.Resolve(m)
	}
	b.gatewayOnce.Do(func() { b.gateways = gateway.Resolve(b.m) })
	return b.gateways
}

// gatewayHTTPChain is a filter chain named name with the gateway's HTTP
// connection manager over RDS routes rds, behind ts when not nil: the
// client's address is the connection's peer (or the PROXY header's), the
// last opts.trustedHops X-Forwarded-For entries are kept, client
// certificate details are removed, and requests get a new X-Request-Id
// unless hops are trusted and they bring one.
func gatewayHTTPChain(name, rds string, opts gatewayOptions, ts *core.TransportSocket) (*listener.FilterChain, error) {
	routerCfg, err := typed(&router.Router{})
	if err != nil {
		return nil, err
	}
	logs, err := stdoutAccessLogs()
	if err != nil {
		return nil, err
	}
	f, err := networkFilter(wellknown.HTTPConnectionManager, &hcm.HttpConnectionManager{
		StatPrefix:                rds,
		CodecType:                 hcm.HttpConnectionManager_AUTO,
		UseRemoteAddress:          wrapBool(true),
		XffNumTrustedHops:         opts.trustedHops,
		ForwardClientCertDetails:  hcm.HttpConnectionManager_SANITIZE,
		GenerateRequestId:         wrapBool(true),
		PreserveExternalRequestId: opts.trustedHops > 0,
		AccessLog:                 logs,
		HttpFilters: []*hcm.HttpFilter{{
			Name:       wellknown.Router,
			ConfigType: &hcm.HttpFilter_TypedConfig{TypedConfig: routerCfg},
		}},
		RouteSpecifier: &hcm.HttpConnectionManager_Rds{Rds: &hcm.Rds{ConfigSource: adsSource(), RouteConfigName: rds}},
	})
	if err != nil {
		return nil, err
	}
	return &listener.FilterChain{Name: name, Filters: []*listener.Filter{f}, TransportSocket: ts}, nil
}

// gatewayTCPProxy is the tcp_proxy of a TLSRoute or TCPRoute in namespace
// ns, whose rules have the backendRefs rules: to the one valid backend's
// cluster, or weighted_clusters between several, with the stdout access
// log that every gateway has. Invalid backends (and those of weight 0)
// get no share; with none left it returns nil, and the caller leaves the
// chain out (connections are closed). Check reports the invalid ones.
func gatewayTCPProxy(m *model.Mesh, stat, kind, ns string, rules [][]gwv1.BackendRef) (*listener.Filter, []servicePortRef, error) {
	allow := func(ref *gwv1.BackendObjectReference) bool { return gateway.BackendAllowed(m, kind, ns, ref) }
	var bs []weightedBackend
	for _, refs := range rules {
		for i := range refs {
			if b, ok := backend(m, ns, &refs[i], allow, nil); ok && b.weight > 0 {
				bs = append(bs, b)
			}
		}
	}
	if len(bs) == 0 {
		return nil, nil, nil
	}
	tp := &tcpproxy.TcpProxy{StatPrefix: stat}
	refs := make([]servicePortRef, 0, len(bs))
	for _, b := range bs {
		refs = append(refs, b.ref)
	}
	if len(bs) == 1 {
		tp.ClusterSpecifier = &tcpproxy.TcpProxy_Cluster{Cluster: OutboundClusterName(bs[0].ref.service, bs[0].ref.port)}
	} else {
		wc := &tcpproxy.TcpProxy_WeightedCluster{}
		for _, b := range bs {
			wc.Clusters = append(wc.Clusters, &tcpproxy.TcpProxy_WeightedCluster_ClusterWeight{
				Name: OutboundClusterName(b.ref.service, b.ref.port), Weight: b.weight,
			})
		}
		tp.ClusterSpecifier = &tcpproxy.TcpProxy_WeightedClusters{WeightedClusters: wc}
	}
	f, err := tcpProxyNetworkFilter(tp, gatewayLogged)
	if err != nil {
		return nil, nil, err
	}
	return f, refs, nil
}

// gatewayRoutes is the RouteConfiguration name of HTTP or HTTPS
// listeners ls (several HTTP listeners of one port share it) and the
// service ports it sends to: one virtual host per hostname the listeners
// and their routes share ("*" when neither names one), holding the
// routes of every match of every rule of the HTTPRoutes and GRPCRoutes
// attached there, in Gateway API precedence as between sidecars
// (compareEntries). Where two listeners would serve one hostname, the
// more specific listener (an exact hostname, then the longest wildcard,
// then none) has it.
func gatewayRoutes(m *model.Mesh, name string, ls []*gateway.Listener) (*route.RouteConfiguration, []servicePortRef) {
	ls = slices.Clone(ls)
	slices.SortStableFunc(ls, func(a, b *gateway.Listener) int { return compareListenerHosts(a.Spec.Hostname, b.Spec.Hostname) })
	vhosts := map[string][]*routeEntry{}
	var order []string
	var backends []servicePortRef
	for _, gl := range ls {
		mine := map[string]bool{} // the hostnames this listener adds
		add := func(hosts []string, entries []*routeEntry, refs []servicePortRef) {
			if len(hosts) == 0 {
				hosts = []string{"*"}
			}
			used := false
			for _, h := range hosts {
				if _, taken := vhosts[h]; taken && !mine[h] {
					continue // a more specific listener has it
				}
				if !mine[h] {
					mine[h] = true
					order = append(order, h)
				}
				vhosts[h] = append(vhosts[h], entries...)
				used = true
			}
			if used {
				backends = append(backends, refs...)
			}
		}
		for _, r := range gl.HTTPRoutes {
			hosts, ok := gateway.Hostnames(gl.Spec.Hostname, r.Spec.Hostnames)
			if !ok {
				continue
			}
			allow := func(ref *gwv1.BackendObjectReference) bool {
				return gateway.BackendAllowed(m, gateway.KindHTTPRoute, r.Namespace, ref)
			}
			meta := metaOf(r.Namespace, r.Name, r.CreationTimestamp.Time)
			var entries []*routeEntry
			var refs []servicePortRef
			for i := range r.Spec.Rules {
				tr := translateHTTPRuleFor(m, r.Namespace, &r.Spec.Rules[i], allow, nil)
				entries = append(entries, gatewayEntries(m, kindHTTPRoute, meta, i, tr)...)
				refs = append(refs, tr.action.refs()...)
			}
			add(hosts, entries, refs)
		}
		for _, r := range gl.GRPCRoutes {
			hosts, ok := gateway.Hostnames(gl.Spec.Hostname, r.Spec.Hostnames)
			if !ok {
				continue
			}
			allow := func(ref *gwv1.BackendObjectReference) bool {
				return gateway.BackendAllowed(m, gateway.KindGRPCRoute, r.Namespace, ref)
			}
			meta := metaOf(r.Namespace, r.Name, r.CreationTimestamp.Time)
			var entries []*routeEntry
			var refs []servicePortRef
			for i := range r.Spec.Rules {
				tr := translateGRPCRuleFor(m, r.Namespace, &r.Spec.Rules[i], allow, nil)
				entries = append(entries, gatewayEntries(m, kindGRPCRoute, meta, i, tr)...)
				refs = append(refs, tr.action.refs()...)
			}
			add(hosts, entries, refs)
		}
	}
	slices.Sort(order)
	rc := &route.RouteConfiguration{Name: name}
	for _, h := range order {
		entries := vhosts[h]
		slices.SortStableFunc(entries, compareEntries)
		vh := &route.VirtualHost{Name: h, Domains: []string{h}}
		for _, e := range entries {
			vh.Routes = append(vh.Routes, e.route)
		}
		rc.VirtualHosts = append(rc.VirtualHosts, vh)
	}
	return rc, backends
}

// gatewayEntries are the routes of rule i of one route: one per match.
// The rule's timeout and retries default to the TrafficPolicy of its
// first backend's Service, as a sidecar's routes to that Service do.
func gatewayEntries(m *model.Mesh, kind string, meta *routeMeta, i int, tr *translatedRule) []*routeEntry {
	d := trafficRouteDefaults(nil, nil)
	if len(tr.action.backends) > 0 {
		d = trafficRouteDefaults(m.TrafficPolicy(tr.action.backends[0].ref.service), nil)
	}
	out := make([]*routeEntry, 0, len(tr.matches))
	for j, me := range tr.matches {
		out = append(out, &routeEntry{
			prec: me.prec, created: meta.created, ns: meta.ns, name: meta.name, kind: kindOrder(kind), rule: i, match: j,
			route: tr.action.envoyRoute(m, ruleRouteName(kind, meta, i, j), me, d),
		})
	}
	return out
}

// compareListenerHosts orders listener hostnames from the most specific:
// exact names, then wildcards (longest first), then none.
func compareListenerHosts(a, b *gwv1.Hostname) int {
	rank := func(h *gwv1.Hostname) (int, int) {
		switch {
		case h == nil:
			return 2, 0
		case strings.HasPrefix(string(*h), "*"):
			return 1, -len(*h)
		default:
			return 0, 0
		}
	}
	ar, al := rank(a)
	br, bl := rank(b)
	return cmp.Or(cmp.Compare(ar, br), cmp.Compare(al, bl))
}
