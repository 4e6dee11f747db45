package translate

import (
	"errors"
	"fmt"
	"net/netip"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/controlplane/model"
)

// outboundResources are what one outbound entry needs.
type outboundResources struct {
	listener   *listener.Listener
	cluster    *cluster.Cluster
	assignment *endpoint.ClusterLoadAssignment
	// routes is the listener's RDS RouteConfiguration; nil for TCP.
	routes *route.RouteConfiguration
	// backends are the other service ports routes sends to, whose
	// clusters and assignments the proxy needs too (addRouteBackends).
	backends []servicePortRef
}

// outbound returns, for one outbound entry, the plaintext listener on
// LocalAddress:LocalPort (serviceListener), the EDS cluster with upstream
// mTLS, and the cluster's load assignment (shared within b when not nil).
func outbound(m *model.Mesh, w *model.Workload, o model.Outbound, b *Batch) (*outboundResources, error) {
	if o.Service.Name == "" || o.Service.Namespace == "" {
		return nil, errors.New("service needs a name and a namespace")
	}
	local := orDefault(o.LocalPort, o.Port)
	if !validPort(o.Port) {
		return nil, errors.New("port must be within 1-65535")
	}
	if !validPort(local) {
		return nil, fmt.Errorf("local port %d must be within 1-65535", local)
	}
	ref := servicePortRef{o.Service, o.Port}
	out, err := serviceListener(m, w, ref, w.LocalAddress, local)
	if err != nil {
		return nil, err
	}
	if out.cluster, out.assignment, err = b.outboundCluster(m, ref); err != nil { // shared in a Batch
		return nil, err
	}
	return out, nil
}

// serviceListener returns the plaintext listener of one service port on
// addr:port, named OutboundListenerName, and for HTTP its routes: a
// declared Outbound's listener (outbound) and a Pod's listener on the
// Service's ClusterIP (podServiceListener) are this one. For an HTTP
// service port the listener routes through the RouteConfiguration it
// returns (its cluster speaks HTTP/2 over its mTLS connections). A port
// that declares no protocol gets both: the HTTP inspector picks the chain
// (autoListener). The Service's TrafficPolicy shapes the TCP chain's
// hash; on HTTP ports its routes and those of HTTPRoutes and GRPCRoutes
// come from outboundRoutes, whose backends the caller adds
// (addRouteBackends). The cluster and assignment are left to the caller.
func serviceListener(m *model.Mesh, w *model.Workload, ref servicePortRef, addr netip.Addr, port uint32) (*outboundResources, error) {
	listenerName := OutboundListenerName(ref.service, ref.port)
	clusterName := OutboundClusterName(ref.service, ref.port)

	_, sp, found := servicePort(m, ref.service, ref.port)
	protocol := model.ProtocolTCP
	var tp *v1alpha1.TrafficPolicy
	if found {
		protocol = model.PortProtocol(sp)
		tp = m.TrafficPolicy(ref.service)
	}
	out := &outboundResources{}

	// An auto port routes what it sniffs as HTTP like an HTTP port, and
	// its cluster speaks HTTP/2 between sidecars; the rest is TCP.
	l7 := protocol.IsHTTP() || protocol == model.ProtocolAuto
	var f *listener.Filter
	var err error
	if l7 {
		f, err = httpFilter(listenerName, nil, m.AccessLog)
		out.routes, out.backends = outboundRoutes(m, w, ref, listenerName)
	} else {
		f, err = outboundTCPProxy(clusterName, tp, m.AccessLog)
	}
	if err != nil {
		return nil, err
	}
	out.listener = oneFilterListener(listenerName, addr, port, f, nil)
	if protocol == model.ProtocolAuto {
		tcp, err := outboundTCPProxy(clusterName, tp, m.AccessLog)
		if err != nil {
			return nil, err
		}
		if out.listener, err = autoListener(out.listener, f, tcp, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// outboundCluster returns the EDS cluster of one service port, with
// upstream mTLS to the identities behind it, shaped by the Service's
// TrafficPolicy, and its load assignment. A missing service or port gives
// a cluster without SAN matchers and an assignment without endpoints. Both
// declared outbound entries and route backends use it, so that a cluster
// reached both ways is one resource.
func outboundCluster(m *model.Mesh, ref servicePortRef) (*cluster.Cluster, *endpoint.ClusterLoadAssignment, error) {
	return outboundClusterOf(m, ref, lookupServicePort(m, ref))
}

// servicePortView is one service port and its endpoints, looked up once
// for both the port's cluster and its pods' pod-IP chains (podDests).
type servicePortView struct {
	svc   *model.Service
	sp    model.ServicePort
	found bool // the service and the port exist
	eps   []model.Endpoint
}

func lookupServicePort(m *model.Mesh, ref servicePortRef) servicePortView {
	svc, sp, found := servicePort(m, ref.service, ref.port)
	v := servicePortView{svc: svc, sp: sp, found: found}
	if found {
		v.eps = m.Endpoints(svc, sp)
	}
	return v
}

// outboundClusterOf is outboundCluster of the service port v.
func outboundClusterOf(m *model.Mesh, ref servicePortRef, v servicePortView) (*cluster.Cluster, *endpoint.ClusterLoadAssignment, error) {
	clusterName := OutboundClusterName(ref.service, ref.port)
	protocol := model.ProtocolTCP
	var backends []model.Endpoint
	var tp *v1alpha1.TrafficPolicy
	// plaintext: every endpoint runs DISABLE (upstreamEndpoints).
	var plaintext bool
	if v.found {
		protocol = model.PortProtocol(v.sp)
		backends, plaintext = upstreamEndpoints(m, v.eps)
		tp = m.TrafficPolicy(ref.service)
	}
	l7 := protocol.IsHTTP() || protocol == model.ProtocolAuto

	ids := make([]spiffeid.ID, 0, len(backends))
	lbs := make([]*endpoint.LbEndpoint, 0, len(backends))
	for _, ep := range backends {
		ids = append(ids, ep.Identity)
		lbs = append(lbs, lbEndpoint(ep.Address.Addr(), uint32(ep.Address.Port())))
	}

	var alpn []string
	if l7 {
		alpn = []string{alpnH2}
	}
	ts, err := upstreamTLS(upstreamSNI(ref.service, ref.port), ids, alpn)
	if err != nil {
		return nil, nil, err
	}
	c := baseCluster(clusterName, cluster.Cluster_EDS)
	c.EdsClusterConfig = &cluster.Cluster_EdsClusterConfig{EdsConfig: adsSource()}
	if !plaintext {
		c.TransportSocket = ts
	}
	if l7 {
		if c.TypedExtensionProtocolOptions, err = http2Options(); err != nil {
			return nil, nil, err
		}
	}
	applyTrafficPolicy(c, tp, nil)
	return c, loadAssignment(clusterName, lbs), nil
}

// servicePort finds one port of a service; found is false when the service
// or the port does not exist.
func servicePort(m *model.Mesh, ref model.NamespacedName, port uint32) (svc *model.Service, sp model.ServicePort, found bool) {
	svc = m.Service(ref)
	if svc == nil {
		return nil, model.ServicePort{}, false
	}
	for _, sp := range svc.Ports {
		if sp.Port == port {
			return svc, sp, true
		}
	}
	return nil, model.ServicePort{}, false
}
