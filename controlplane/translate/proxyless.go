package translate

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/controlplane/model"
)

// ProxylessListenerName names what a proxyless gRPC client asks for to
// reach one service port: the target of
// xds:///<service>.<namespace>.svc.cluster.local:<port>, which is the name
// of its Listener, of the RouteConfiguration that Listener names, and the
// only domain of that RouteConfiguration's virtual host.
func ProxylessListenerName(svc model.NamespacedName, port uint32) string {
	return outboundVirtualHost(svc, port)
}

// Proxyless returns the resources of a proxyless gRPC workload w (a
// grpc-go client with the xds:/// resolver and no sidecar) in mesh m, as
// docs/kubernetes.md ("Proxyless gRPC") specifies. For every port of
// every Service in w's scope that may carry HTTP/2 (proxylessPort) it
// returns:
//
//   - a Listener named ProxylessListenerName with an api_listener: an
//     HTTP connection manager that takes the RouteConfiguration of the
//     same name over ADS and runs the router only;
//   - that RouteConfiguration: one virtual host whose one domain is the
//     name, with the routes a sidecar gets for the port (outboundRoutes:
//     the GAMMA HTTPRoute and GRPCRoute rules the client follows, then
//     the Service's default route);
//
// and, for those ports and every backend their routes send to, an EDS
// cluster over ADS without transport socket (the client speaks plaintext
// to its backends) and its ClusterLoadAssignment (proxylessCluster).
// Settings grpc-go would refuse are left out or moved to the nearest it
// runs, and route timeouts become call deadlines (proxylessRoutes,
// proxylessLB), so that one Service's TrafficPolicy or route cannot make
// the client refuse everything.
//
// w's own Ports and Outbound entries add nothing: a proxyless server
// would need server-side listeners, which Weft does not make yet. The
// mesh must be sorted. Proxyless fails only on a mesh without a trust
// domain, a workload without a valid identity, a service port outside
// 1-65535, or two resources with the same name.
func Proxyless(m *model.Mesh, w *model.Workload) (Resources, error) {
	if m == nil || w == nil {
		return nil, errors.New("translate: nil mesh or workload")
	}
	res, err := proxyless(m, w)
	if err != nil {
		return nil, fmt.Errorf("translating proxyless workload %s: %w", w.Key(), err)
	}
	return res, nil
}

func proxyless(m *model.Mesh, w *model.Workload) (Resources, error) {
	if m.TrustDomain.IsZero() {
		return nil, errors.New("mesh has no trust domain")
	}
	if _, err := m.Identity(w); err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	res := make(Resources, 4)
	for _, typ := range resourceTypes() {
		res[typ] = []types.Resource{}
	}
	var refs []servicePortRef
	for _, svc := range scope(m, w) {
		for i, sp := range svc.Ports {
			ref := servicePortRef{service: svc.Key(), port: sp.Port}
			if !validPort(sp.Port) {
				return nil, fmt.Errorf("service %s: port %d must be within 1-65535", ref.service, sp.Port)
			}
			if !proxylessPort(sp) || slices.ContainsFunc(svc.Ports[:i], func(p model.ServicePort) bool { return p.Port == sp.Port }) {
				continue
			}
			name := ProxylessListenerName(ref.service, ref.port)
			l, err := apiListener(name)
			if err != nil {
				return nil, fmt.Errorf("service %s port %d: %w", ref.service, sp.Port, err)
			}
			rc, backends := outboundRoutes(m, w, ref, name)
			rc.GetVirtualHosts()[0].Domains = []string{name}
			proxylessRoutes(rc)
			res[resource.ListenerType] = append(res[resource.ListenerType], l)
			res[resource.RouteType] = append(res[resource.RouteType], rc)
			refs = append(refs, ref)
			refs = append(refs, backends...)
		}
	}
	seen := make(map[servicePortRef]bool, len(refs))
	for _, ref := range refs {
		if seen[ref] {
			continue
		}
		seen[ref] = true
		c, cla := proxylessCluster(m, ref)
		res[resource.ClusterType] = append(res[resource.ClusterType], c)
		res[resource.EndpointType] = append(res[resource.EndpointType], cla)
	}
	for _, typ := range resourceTypes() {
		rs := res[typ]
		slices.SortFunc(rs, func(a, b types.Resource) int {
			return cmp.Compare(cache.GetResourceName(a), cache.GetResourceName(b))
		})
		for i := 1; i < len(rs); i++ {
			if name := cache.GetResourceName(rs[i]); name == cache.GetResourceName(rs[i-1]) {
				return nil, fmt.Errorf("two %s resources named %q", typeName(typ), name)
			}
		}
	}
	return res, nil
}

// proxylessPort reports whether a proxyless client gets a target for a
// service port: one that may carry HTTP/2, that is declared http2, grpc or
// kubernetes.io/h2c (by appProtocol or name), or that declares nothing
// (many gRPC Services do not say). A gRPC client speaks nothing but
// HTTP/2, so TCP ports and HTTP/1.1 ("http") ports get none.
func proxylessPort(sp model.ServicePort) bool {
	p := model.PortProtocol(sp)
	return p.IsHTTP2() || p == model.ProtocolAuto
}

// apiListener is a proxyless client's Listener: no address, only an
// api_listener holding the HTTP connection manager httpFilter makes (RDS
// over ADS for the RouteConfiguration name, the router as its last and
// only HTTP filter).
func apiListener(name string) (*listener.Listener, error) {
	f, err := httpFilter(name, nil, false) // a gRPC client logs nothing for the mesh
	if err != nil {
		return nil, err
	}
	return &listener.Listener{
		Name:        name,
		ApiListener: &listener.ApiListener{ApiListener: f.GetTypedConfig()},
	}, nil
}

// proxylessRoutes adapts rc to grpc-go. It removes what grpc-go refuses: a
// retry policy with num_retries 0 (applyRouteDefaults makes one to carry
// a backendRequest timeout alone, which grpc-go does not run either)
// would make it refuse the whole RouteConfiguration. It gives a route's
// timeout, which grpc-go ignores, as the max_stream_duration grpc-go
// applies as each call's deadline. What grpc-go ignores (header changes,
// rewrites) or fails per call (direct responses, redirects) stays, as a
// sidecar gets it.
func proxylessRoutes(rc *route.RouteConfiguration) {
	for _, vh := range rc.GetVirtualHosts() {
		for _, r := range vh.GetRoutes() {
			ra := r.GetRoute()
			if ra == nil {
				continue
			}
			if rp := ra.GetRetryPolicy(); rp != nil && rp.GetNumRetries() != nil && rp.GetNumRetries().GetValue() == 0 {
				ra.RetryPolicy = nil
			}
			if to := ra.GetTimeout(); to.AsDuration() > 0 {
				ra.MaxStreamDuration = &route.RouteAction_MaxStreamDuration{MaxStreamDuration: to}
			}
		}
	}
}

// proxylessCluster returns the EDS cluster of one service port for a
// proxyless client and its load assignment: the Service's TrafficPolicy
// shapes it as for a sidecar (applyTrafficPolicy, then proxylessLB), but
// it has no transport socket and no HTTP/2 options (a gRPC client speaks
// HTTP/2 in plaintext), and its endpoints are those that accept
// plaintext: a workload whose port runs STRICT mTLS would refuse the
// client. The endpoints sit in one locality of weight 1, since grpc-go
// refuses a locality without ID and skips one without weight. A missing
// service or port gives an assignment without endpoints.
func proxylessCluster(m *model.Mesh, ref servicePortRef) (*cluster.Cluster, *endpoint.ClusterLoadAssignment) {
	name := OutboundClusterName(ref.service, ref.port)
	c := baseCluster(name, cluster.Cluster_EDS)
	c.EdsClusterConfig = &cluster.Cluster_EdsClusterConfig{EdsConfig: adsSource()}
	svc, sp, found := servicePort(m, ref.service, ref.port)
	if !found {
		return c, proxylessAssignment(name, nil)
	}
	applyTrafficPolicy(c, m.TrafficPolicy(ref.service), nil)
	proxylessLB(c)
	var lbs []*endpoint.LbEndpoint
	var last model.Endpoint
	for _, ep := range m.Endpoints(svc, sp) {
		// grpc-go refuses an assignment that lists an address twice;
		// Endpoints sorts by address.
		if endpointMode(m, ep) == v1alpha1.MTLSStrict || (len(lbs) > 0 && ep.Address == last.Address) {
			continue
		}
		last = ep
		lbs = append(lbs, lbEndpoint(ep.Address.Addr(), uint32(ep.Address.Port())))
	}
	return c, proxylessAssignment(name, lbs)
}

// proxylessAssignment puts eps in one locality with an empty ID and
// weight 1; no endpoints give no locality.
func proxylessAssignment(clusterName string, eps []*endpoint.LbEndpoint) *endpoint.ClusterLoadAssignment {
	cla := loadAssignment(clusterName, eps)
	for _, l := range cla.GetEndpoints() {
		l.Locality = &core.Locality{}
		l.LoadBalancingWeight = wrapperspb.UInt32(1)
	}
	return cla
}

// proxylessLB moves a load-balancing policy grpc-go does not run to the
// nearest one it does: MAGLEV to RING_HASH (both consistent hashing, with
// the translator's ring sizes and xxHash, the only hash grpc-go takes),
// RANDOM to ROUND_ROBIN.
func proxylessLB(c *cluster.Cluster) {
	switch c.GetLbPolicy() {
	case cluster.Cluster_MAGLEV:
		c.LbPolicy = cluster.Cluster_RING_HASH
		c.LbConfig = &cluster.Cluster_RingHashLbConfig_{RingHashLbConfig: &cluster.Cluster_RingHashLbConfig{
			MinimumRingSize: wrapperspb.UInt64(ringHashMinSize),
			MaximumRingSize: wrapperspb.UInt64(ringHashMaxSize),
			HashFunction:    cluster.Cluster_RingHashLbConfig_XX_HASH,
		}}
	case cluster.Cluster_ROUND_ROBIN, cluster.Cluster_RING_HASH, cluster.Cluster_LEAST_REQUEST:
	default:
		c.LbPolicy = cluster.Cluster_ROUND_ROBIN
		c.LbConfig = nil
	}
}
