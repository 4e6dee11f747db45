package translate

import (
	"errors"
	"fmt"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/weftmesh/weft/controlplane/model"
)

// outboundResources are what one outbound entry needs.
type outboundResources struct {
	listener   *listener.Listener
	cluster    *cluster.Cluster
	assignment *endpoint.ClusterLoadAssignment
	// routes is the listener's RDS RouteConfiguration; nil for TCP.
	routes *route.RouteConfiguration
}

// outbound returns, for one outbound entry, the plaintext listener on
// LocalAddress:LocalPort, the EDS cluster with upstream mTLS, and the
// cluster's load assignment. For an HTTP service port the listener routes
// through the RouteConfiguration it returns too, and the cluster speaks
// HTTP/2 over its mTLS connections. A port that declares no protocol gets
// both: the HTTP inspector picks the chain (autoListener).
func outbound(m *model.Mesh, w *model.Workload, o model.Outbound) (*outboundResources, error) {
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
	listenerName := OutboundListenerName(o.Service, o.Port)
	clusterName := OutboundClusterName(o.Service, o.Port)

	svc, sp, found := servicePort(m, o.Service, o.Port)
	protocol := model.ProtocolTCP
	var backends []model.Endpoint
	if found {
		protocol = model.PortProtocol(sp)
		backends = m.Endpoints(svc, sp)
	}
	out := &outboundResources{}

	// An auto port routes what it sniffs as HTTP like an HTTP port, and
	// its cluster speaks HTTP/2 between sidecars; the rest is TCP.
	l7 := protocol.IsHTTP() || protocol == model.ProtocolAuto
	var f *listener.Filter
	var err error
	if l7 {
		f, err = httpFilter(listenerName, nil)
		out.routes = routeConfig(listenerName, outboundVirtualHost(o.Service, o.Port), clusterName)
	} else {
		f, err = tcpProxyFilter(clusterName)
	}
	if err != nil {
		return nil, err
	}
	out.listener = oneFilterListener(listenerName, w.LocalAddress, local, f, nil)
	if protocol == model.ProtocolAuto {
		tcp, err := tcpProxyFilter(clusterName)
		if err != nil {
			return nil, err
		}
		if out.listener, err = autoListener(out.listener, f, tcp, nil); err != nil {
			return nil, err
		}
	}

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
	ts, err := upstreamTLS(upstreamSNI(o.Service, o.Port), ids, alpn)
	if err != nil {
		return nil, err
	}
	c := baseCluster(clusterName, cluster.Cluster_EDS)
	c.EdsClusterConfig = &cluster.Cluster_EdsClusterConfig{EdsConfig: adsSource()}
	c.TransportSocket = ts
	if l7 {
		if c.TypedExtensionProtocolOptions, err = http2Options(); err != nil {
			return nil, err
		}
	}
	out.cluster = c
	out.assignment = loadAssignment(clusterName, lbs)
	return out, nil
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
