package translate

import (
	"errors"
	"fmt"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"

	"github.com/weftmesh/weft/controlplane/model"
)

// inbound returns the mTLS listener on Address:Port and the STATIC
// plaintext cluster to the app on LocalAddress:TargetPort for one port. The
// listener proxies TCP, or routes HTTP when every service port targeting the
// port is HTTP (model.Mesh.InboundProtocol); the cluster then speaks h2c to
// an app that speaks HTTP/2. A port that declares no protocol sniffs the
// decrypted stream (autoListener) and speaks HTTP/1.1 to the app.
func inbound(m *model.Mesh, w *model.Workload, p model.WorkloadPort) (*listener.Listener, *cluster.Cluster, error) {
	target := orDefault(p.TargetPort, p.Port)
	if !validPort(p.Port) {
		return nil, nil, errors.New("port must be within 1-65535")
	}
	if !validPort(target) {
		return nil, nil, fmt.Errorf("target port %d must be within 1-65535", target)
	}
	name := InboundName(p.Port)
	protocol := m.InboundProtocol(w, p)

	sniffed := protocol == model.ProtocolAuto
	var alpn []string
	if protocol.IsHTTP() || sniffed {
		alpn = []string{alpnH2, alpnHTTP11}
	}
	ts, err := downstreamTLS(m.TrustDomain, alpn)
	if err != nil {
		return nil, nil, err
	}

	var f *listener.Filter
	if protocol.IsHTTP() || sniffed {
		f, err = httpFilter(name, routeConfig(name, name, name))
	} else {
		f, err = tcpProxyFilter(name)
	}
	if err != nil {
		return nil, nil, err
	}
	l := oneFilterListener(name, w.Address, p.Port, f, ts)
	if sniffed {
		tcp, err := tcpProxyFilter(name)
		if err != nil {
			return nil, nil, err
		}
		if l, err = autoListener(l, f, tcp, ts); err != nil {
			return nil, nil, err
		}
	}

	c := baseCluster(name, cluster.Cluster_STATIC)
	c.LoadAssignment = loadAssignment(name, []*endpoint.LbEndpoint{lbEndpoint(w.LocalAddress, target)})
	if protocol.IsHTTP2() {
		if c.TypedExtensionProtocolOptions, err = http2Options(); err != nil {
			return nil, nil, err
		}
	}
	return l, c, nil
}
