package translate

import (
	"errors"
	"fmt"
	"net/netip"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/controlplane/model"
)

// inbound returns the listener on Address:Port and the STATIC plaintext
// cluster to the app on app:TargetPort for one port: app is LocalAddress
// for a standalone workload, and the pod's own address for a Pod, whose
// virtualInbound takes the listener's chains (podInbound). The listener
// proxies TCP, or routes HTTP when every service port targeting the port
// is HTTP (model.Mesh.InboundProtocol); the cluster then speaks h2c to an
// app that speaks HTTP/2. A port that declares no protocol sniffs the
// decrypted stream and speaks HTTP/1.1 to the app.
//
// The port's mTLS mode (model.Mesh.MTLSMode) decides whether its chains
// require mTLS, refuse it, or come twice (applyMTLSMode), and the
// authorization policies covering the workload put RBAC filters on every
// chain: HTTP filters before the router, network filters before tcp_proxy.
func inbound(m *model.Mesh, w *model.Workload, p model.WorkloadPort, app netip.Addr) (*listener.Listener, *cluster.Cluster, error) {
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
	l7 := protocol.IsHTTP() || sniffed

	var alpn []string
	if l7 {
		alpn = []string{alpnH2, alpnHTTP11}
	}
	ts, err := downstreamTLS(m.TrustDomain, alpn)
	if err != nil {
		return nil, nil, err
	}

	policies := m.AuthorizationPolicies(w)
	var chains []inboundChain
	if l7 {
		c, err := inboundHTTPChain(m, policies, name, p.Port)
		if err != nil {
			return nil, nil, err
		}
		if sniffed {
			c.kind = "http"
			c.applicationProtocols = sniffedHTTP
		}
		chains = append(chains, c)
	}
	if !l7 || sniffed {
		c, err := inboundTCPChain(m, policies, name, p.Port)
		if err != nil {
			return nil, nil, err
		}
		if sniffed {
			c.kind = "tcp"
		}
		chains = append(chains, c)
	}
	l := &listener.Listener{Name: name, Address: socketAddress(w.Address, p.Port)}
	if err := applyMTLSMode(l, m.MTLSMode(w, p.Port), chains, ts, sniffed); err != nil {
		return nil, nil, err
	}

	c := baseCluster(name, cluster.Cluster_STATIC)
	c.LoadAssignment = loadAssignment(name, []*endpoint.LbEndpoint{lbEndpoint(app, target)})
	if protocol.IsHTTP2() {
		if c.TypedExtensionProtocolOptions, err = http2Options(); err != nil {
			return nil, nil, err
		}
	}
	return l, c, nil
}

// inboundHTTPChain is the HTTP connection manager with the inline route
// to cluster name, behind the HTTP RBAC filters of policies.
func inboundHTTPChain(m *model.Mesh, policies []*v1alpha1.AuthorizationPolicy, name string, port uint32) (inboundChain, error) {
	rules, err := rbacRules(m.TrustDomain, policies, port, false)
	if err != nil {
		return inboundChain{}, err
	}
	pre, err := httpRBACFilters(rules)
	if err != nil {
		return inboundChain{}, err
	}
	f, err := httpFilter(name, routeConfig(name, name, name), m.AccessLog)
	if err != nil {
		return inboundChain{}, err
	}
	if f, err = withHTTPFilters(f, pre); err != nil {
		return inboundChain{}, err
	}
	return inboundChain{filters: []*listener.Filter{f}}, nil
}

// inboundTCPChain is tcp_proxy to cluster name behind the network RBAC
// filters of policies, reduced to what TCP can evaluate; it logs each
// connection, denied ones included, with the mesh's AccessLog.
func inboundTCPChain(m *model.Mesh, policies []*v1alpha1.AuthorizationPolicy, name string, port uint32) (inboundChain, error) {
	rules, err := rbacRules(m.TrustDomain, policies, port, true)
	if err != nil {
		return inboundChain{}, err
	}
	fs, err := networkRBACFilters(name, rules)
	if err != nil {
		return inboundChain{}, err
	}
	f, err := tcpProxyFilter(name, m.AccessLog)
	if err != nil {
		return inboundChain{}, err
	}
	return inboundChain{filters: append(fs, f)}, nil
}
