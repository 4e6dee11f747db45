package translate

import (
	"errors"
	"fmt"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/weftmesh/weft/controlplane/model"
)

// outbound returns, for one outbound entry, the plaintext listener on
// LocalAddress:LocalPort, the EDS cluster with upstream mTLS, and the
// cluster's load assignment.
func outbound(m *model.Mesh, w *model.Workload, o model.Outbound) (*listener.Listener, *cluster.Cluster, *endpoint.ClusterLoadAssignment, error) {
	if o.Service.Name == "" || o.Service.Namespace == "" {
		return nil, nil, nil, errors.New("service needs a name and a namespace")
	}
	local := orDefault(o.LocalPort, o.Port)
	if !validPort(o.Port) {
		return nil, nil, nil, errors.New("port must be within 1-65535")
	}
	if !validPort(local) {
		return nil, nil, nil, fmt.Errorf("local port %d must be within 1-65535", local)
	}
	clusterName := OutboundClusterName(o.Service, o.Port)

	l, err := tcpListener(OutboundListenerName(o.Service, o.Port), w.LocalAddress, local, clusterName, nil)
	if err != nil {
		return nil, nil, nil, err
	}

	backends := serviceEndpoints(m, o.Service, o.Port)
	ids := make([]spiffeid.ID, 0, len(backends))
	lbs := make([]*endpoint.LbEndpoint, 0, len(backends))
	for _, ep := range backends {
		ids = append(ids, ep.Identity)
		lbs = append(lbs, lbEndpoint(ep.Address.Addr(), uint32(ep.Address.Port())))
	}

	ts, err := upstreamTLS(upstreamSNI(o.Service, o.Port), ids)
	if err != nil {
		return nil, nil, nil, err
	}
	c := baseCluster(clusterName, cluster.Cluster_EDS)
	c.EdsClusterConfig = &cluster.Cluster_EdsClusterConfig{EdsConfig: &core.ConfigSource{
		ConfigSourceSpecifier: &core.ConfigSource_Ads{Ads: &core.AggregatedConfigSource{}},
		ResourceApiVersion:    core.ApiVersion_V3,
	}}
	c.TransportSocket = ts

	return l, c, loadAssignment(clusterName, lbs), nil
}

// serviceEndpoints returns the endpoints behind one port of a service,
// sorted by address; none when the service or the port does not exist.
func serviceEndpoints(m *model.Mesh, ref model.NamespacedName, port uint32) []model.Endpoint {
	svc := m.Service(ref)
	if svc == nil {
		return nil
	}
	for _, sp := range svc.Ports {
		if sp.Port == port {
			return m.Endpoints(svc, sp)
		}
	}
	return nil
}
