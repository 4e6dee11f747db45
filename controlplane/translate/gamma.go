package translate

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"time"

	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/weftmesh/weft/controlplane/model"
)

// Kinds of the route objects, as Problems name them.
const (
	kindHTTPRoute     = "HTTPRoute"
	kindGRPCRoute     = "GRPCRoute"
	kindTrafficPolicy = "TrafficPolicy"
)

// kindOrder puts HTTPRoutes before GRPCRoutes when all else ties.
func kindOrder(kind string) int {
	if kind == kindHTTPRoute {
		return 0
	}
	return 1
}

// servicePortRef names one port of one Service.
type servicePortRef struct {
	service model.NamespacedName
	port    uint32
}

// meshRoutes are the routes attached to one service port that one client
// follows (GAMMA): the consumer routes of the client's namespace when it
// has any, else the producer routes, those in the Service's namespace.
// Routes of a third namespace steer that namespace's clients only.
func meshRoutes(m *model.Mesh, client *model.Workload, parent servicePortRef) ([]*gwv1.HTTPRoute, []*gwv1.GRPCRoute) {
	https := m.HTTPRoutes(parent.service, parent.port)
	grpcs := m.GRPCRoutes(parent.service, parent.port)
	consumer := client.Namespace != parent.service.Namespace &&
		(slices.ContainsFunc(https, func(r *gwv1.HTTPRoute) bool { return r.Namespace == client.Namespace }) ||
			slices.ContainsFunc(grpcs, func(r *gwv1.GRPCRoute) bool { return r.Namespace == client.Namespace }))
	ns := parent.service.Namespace
	if consumer {
		ns = client.Namespace
	}
	https = slices.DeleteFunc(https, func(r *gwv1.HTTPRoute) bool { return r.Namespace != ns })
	grpcs = slices.DeleteFunc(grpcs, func(r *gwv1.GRPCRoute) bool { return r.Namespace != ns })
	return https, grpcs
}

// routeEntry is one match of one rule, on its way to becoming one route.
type routeEntry struct {
	prec    precedence
	created time.Time
	ns      string
	name    string
	kind    int // kindOrder
	rule    int
	match   int
	route   *route.Route
}

// compareEntries orders routes by Gateway API precedence, then the oldest
// route, namespace/name, HTTPRoutes before GRPCRoutes, rule and match
// order.
func compareEntries(a, b *routeEntry) int {
	return cmp.Or(
		a.prec.compare(b.prec),
		a.created.Compare(b.created),
		cmp.Compare(a.ns, b.ns),
		cmp.Compare(a.name, b.name),
		cmp.Compare(a.kind, b.kind),
		cmp.Compare(a.rule, b.rule),
		cmp.Compare(a.match, b.match),
	)
}

// outboundRoutes is the RouteConfiguration name of a client's outbound
// HTTP (or sniffed) port parent, and the service ports its routes send to
// besides parent. Without routes and TrafficPolicy it is routeConfig's
// single route; the Service's TrafficPolicy adds its timeout, retries and
// hash policy to every forwarding route, and each match of each rule of the
// routes the client follows (meshRoutes) comes before the Service's own
// default route, ordered by precedence.
func outboundRoutes(m *model.Mesh, client *model.Workload, parent servicePortRef, name string) (*route.RouteConfiguration, []servicePortRef) {
	parentCluster := OutboundClusterName(parent.service, parent.port)
	rc := routeConfig(name, outboundVirtualHost(parent.service, parent.port), parentCluster)
	tp := m.TrafficPolicy(parent.service)
	defaults := trafficRouteDefaults(tp, nil)
	def := rc.GetVirtualHosts()[0].GetRoutes()[0]
	applyRouteDefaults(def.GetRoute(), defaults, nil, nil)
	def.GetRoute().HashPolicy = routeHashPolicy(tp)

	https, grpcs := meshRoutes(m, client, parent)
	if len(https) == 0 && len(grpcs) == 0 {
		return rc, nil
	}
	var entries []*routeEntry
	var backends []servicePortRef
	add := func(kind string, meta *routeMeta, rules []*translatedRule) {
		for i, tr := range rules {
			for j, me := range tr.matches {
				entries = append(entries, &routeEntry{
					prec: me.prec, created: meta.created, ns: meta.ns, name: meta.name, kind: kindOrder(kind), rule: i, match: j,
					route: tr.action.envoyRoute(m, ruleRouteName(kind, meta, i, j), me, defaults),
				})
			}
			for _, ref := range tr.action.refs() {
				if ref != parent {
					backends = append(backends, ref)
				}
			}
		}
	}
	for _, r := range https {
		meta := metaOf(r.Namespace, r.Name, r.CreationTimestamp.Time)
		rules := make([]*translatedRule, 0, len(r.Spec.Rules))
		for i := range r.Spec.Rules {
			rules = append(rules, translateHTTPRule(m, r.Namespace, &r.Spec.Rules[i], nil))
		}
		add(kindHTTPRoute, meta, rules)
	}
	for _, r := range grpcs {
		meta := metaOf(r.Namespace, r.Name, r.CreationTimestamp.Time)
		rules := make([]*translatedRule, 0, len(r.Spec.Rules))
		for i := range r.Spec.Rules {
			rules = append(rules, translateGRPCRule(m, r.Namespace, &r.Spec.Rules[i], nil))
		}
		add(kindGRPCRoute, meta, rules)
	}
	slices.SortFunc(entries, compareEntries)

	vh := rc.GetVirtualHosts()[0]
	routes := make([]*route.Route, 0, len(entries)+1)
	for _, e := range entries {
		routes = append(routes, e.route)
	}
	vh.Routes = append(routes, def)

	slices.SortFunc(backends, func(a, b servicePortRef) int {
		return cmp.Or(cmp.Compare(a.service.Namespace, b.service.Namespace), cmp.Compare(a.service.Name, b.service.Name), cmp.Compare(a.port, b.port))
	})
	return rc, slices.Compact(backends)
}

// routeMeta is what precedence needs of a route object.
type routeMeta struct {
	ns, name string
	created  time.Time
}

func metaOf(ns, name string, created time.Time) *routeMeta {
	return &routeMeta{ns: ns, name: name, created: created}
}

// ruleRouteName names the route of match j of rule i:
// "<kind>/<namespace>/<name>/rules[i]/matches[j]".
func ruleRouteName(kind string, meta *routeMeta, i, j int) string {
	return kind + "/" + meta.ns + "/" + meta.name + "/rules[" + strconv.Itoa(i) + "]/matches[" + strconv.Itoa(j) + "]"
}

// applyRouteDefaults sets a forwarding route's timeout and retry policy:
// the rule's own when it has them (timeout, retry), else the Service's
// TrafficPolicy's (d). A backendRequest timeout (perTry) becomes the retry
// policy's per_try_timeout, with no retries when nothing else asks for them.
func applyRouteDefaults(ra *route.RouteAction, d routeDefaults, timeout *time.Duration, r *ruleRetry) {
	to := d.timeout
	if timeout != nil {
		to = *timeout
	}
	ra.Timeout = durationpb.New(to)
	var rp *route.RetryPolicy
	switch {
	case r != nil && r.policy != nil:
		rp = proto.Clone(r.policy).(*route.RetryPolicy)
	case d.retry != nil:
		rp = proto.Clone(d.retry).(*route.RetryPolicy)
	}
	if r != nil && r.perTry != nil {
		if rp == nil {
			rp = &route.RetryPolicy{NumRetries: wrapperspb.UInt32(0)}
		}
		rp.PerTryTimeout = durationpb.New(*r.perTry)
	}
	ra.RetryPolicy = rp
}

// routeHashPolicies is the hash_policy of a route to refs: that of each
// distinct Service's TrafficPolicy, in order.
func routeHashPolicies(m *model.Mesh, refs []servicePortRef) []*route.RouteAction_HashPolicy {
	var out []*route.RouteAction_HashPolicy
	seen := map[model.NamespacedName]bool{}
	for _, r := range refs {
		if seen[r.service] {
			continue
		}
		seen[r.service] = true
		for _, hp := range routeHashPolicy(m.TrafficPolicy(r.service)) {
			if !slices.ContainsFunc(out, func(o *route.RouteAction_HashPolicy) bool { return proto.Equal(o, hp) }) {
				out = append(out, hp)
			}
		}
	}
	return out
}

// addRouteBackends adds to res the cluster and assignment of each service
// port that routes send to, unless res has it already (a declared
// outbound entry, or another route's backend); b, when not nil, shares
// them between the workloads of one Batch.
func addRouteBackends(m *model.Mesh, res Resources, refs []servicePortRef, b *Batch) error {
	have := map[string]bool{}
	for _, r := range res[resource.ClusterType] {
		have[cache.GetResourceName(r)] = true
	}
	for _, ref := range refs {
		name := OutboundClusterName(ref.service, ref.port)
		if have[name] {
			continue
		}
		have[name] = true
		c, cla, err := b.outboundCluster(m, ref) // shared in a Batch
		if err != nil {
			return fmt.Errorf("route backend %s port %d: %w", ref.service, ref.port, err)
		}
		res[resource.ClusterType] = append(res[resource.ClusterType], c)
		res[resource.EndpointType] = append(res[resource.EndpointType], cla)
	}
	return nil
}
