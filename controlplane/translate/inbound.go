package translate

import (
	"errors"
	"fmt"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/weftmesh/weft/controlplane/model"
)

// inbound returns the mTLS listener on Address:Port and the STATIC
// plaintext cluster to the app on LocalAddress:TargetPort for one port.
func inbound(td spiffeid.TrustDomain, w *model.Workload, p model.WorkloadPort) (*listener.Listener, *cluster.Cluster, error) {
	target := orDefault(p.TargetPort, p.Port)
	if !validPort(p.Port) {
		return nil, nil, errors.New("port must be within 1-65535")
	}
	if !validPort(target) {
		return nil, nil, fmt.Errorf("target port %d must be within 1-65535", target)
	}
	name := InboundName(p.Port)

	ts, err := downstreamTLS(td)
	if err != nil {
		return nil, nil, err
	}
	l, err := tcpListener(name, w.Address, p.Port, name, ts)
	if err != nil {
		return nil, nil, err
	}

	c := baseCluster(name, cluster.Cluster_STATIC)
	c.LoadAssignment = loadAssignment(name, []*endpoint.LbEndpoint{lbEndpoint(w.LocalAddress, target)})
	return l, c, nil
}
