package translate

import (
	"fmt"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	httpinspector "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/http_inspector/v3"
	originaldst "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/original_dst/v3"
	tlsinspector "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/controlplane/model"
)

// passthroughChain names VirtualInbound's chains for the ports the pod
// does not declare: chain names of declared ports start with "inbound|".
const passthroughChain = "passthrough"

// virtualInbound is the listener the pod's inbound TCP is redirected to,
// and the clusters its chains use. For every port w serves (servedPorts:
// its container ports, and the target ports of its Services), it holds the chains of the listener a standalone
// workload gets for that port (inbound: the port's mTLS mode,
// authorization and protocol), each matching that destination_port and
// forwarding to the app on the pod's address (cluster inbound|<port>).
// The chains without destination_port take the ports the pod does not
// declare, under the workload's own mode: STRICT accepts only mTLS (a
// "tls" chain that terminates it), PERMISSIVE and DISABLE anything; both
// pass the bytes on to InboundPassthroughCluster, the connection's
// original destination, behind the workload's authorization policies
// (reduced to what TCP can evaluate, as on a declared TCP port).
//
// Listener filters: original_dst first (the chains match the original
// destination port), then the TLS and HTTP inspectors when some chain
// matches what they report, in that order.
func virtualInbound(m *model.Mesh, w *model.Workload) (*listener.Listener, []*cluster.Cluster, error) {
	l := captureListener(VirtualInbound, CaptureInboundPort, core.TrafficDirection_INBOUND)
	var clusters []*cluster.Cluster
	var tlsInspected, httpInspected bool
	// The ports' protocols (model.Mesh.InboundProtocol) are looked up
	// among the ports served, declared or not.
	served := *w
	served.Ports = servedPorts(m, w)
	for _, p := range served.Ports {
		pl, c, err := inbound(m, &served, p, w.Address)
		if err != nil {
			return nil, nil, fmt.Errorf("port %d: %w", p.Port, err)
		}
		for _, lf := range pl.GetListenerFilters() {
			tlsInspected = tlsInspected || lf.GetName() == wellknown.TLSInspector
			httpInspected = httpInspected || lf.GetName() == wellknown.HTTPInspector
		}
		for _, fc := range pl.GetFilterChains() {
			fc.Name = portChainName(p.Port, fc, len(pl.GetFilterChains()))
			if fc.FilterChainMatch == nil {
				fc.FilterChainMatch = &listener.FilterChainMatch{}
			}
			fc.FilterChainMatch.DestinationPort = wrapperspb.UInt32(p.Port)
			l.FilterChains = append(l.FilterChains, fc)
		}
		clusters = append(clusters, c)
	}

	pass, err := passthroughChains(m, w)
	if err != nil {
		return nil, nil, err
	}
	for _, fc := range pass {
		tlsInspected = tlsInspected || fc.GetFilterChainMatch().GetTransportProtocol() != ""
	}
	l.FilterChains = append(l.FilterChains, pass...)

	od, err := listenerFilter(wellknown.OriginalDestination, &originaldst.OriginalDst{})
	if err != nil {
		return nil, nil, err
	}
	l.ListenerFilters = []*listener.ListenerFilter{od}
	if tlsInspected {
		f, err := listenerFilter(wellknown.TLSInspector, &tlsinspector.TlsInspector{})
		if err != nil {
			return nil, nil, err
		}
		l.ListenerFilters = append(l.ListenerFilters, f)
	}
	if httpInspected {
		f, err := listenerFilter(wellknown.HTTPInspector, &httpinspector.HttpInspector{})
		if err != nil {
			return nil, nil, err
		}
		l.ListenerFilters = append(l.ListenerFilters, f)
	}
	return l, append(clusters, originalDstCluster(InboundPassthroughCluster)), nil
}

// servedPorts are the ports VirtualInbound serves: the pod's declared
// ports (its containers' TCP containerPorts), then the numeric target
// ports of the Services of its namespace that select it which no container
// declares (Kubernetes does not require declaring them, and a mesh client
// sends them mTLS, HTTP/2 on HTTP ports), each port once. A named target
// port is a declared one.
func servedPorts(m *model.Mesh, w *model.Workload) []model.WorkloadPort {
	out := make([]model.WorkloadPort, 0, len(w.Ports))
	seen := make(map[uint32]bool, len(w.Ports))
	add := func(p model.WorkloadPort) {
		if !seen[p.Port] { // declared by two containers: one socket, one set of chains
			seen[p.Port] = true
			out = append(out, p)
		}
	}
	for _, p := range w.Ports {
		add(p)
	}
	lo, hi := namespaceServices(m.Services, w.Namespace)
	for i := lo; i < hi; i++ {
		svc := &m.Services[i]
		if !svc.Selects(w) {
			continue
		}
		for _, sp := range svc.Ports {
			if target := orDefault(sp.TargetPort, sp.Port); sp.TargetPortName == "" && validPort(target) {
				add(model.WorkloadPort{Port: target, TargetPort: target})
			}
		}
	}
	return out
}

// portChainName names a chain of port's listener within VirtualInbound:
// "inbound|<port>", then the chain's own name (PERMISSIVE: "mtls",
// "plaintext-http", …), or, for the two unnamed chains of a sniffed
// STRICT or DISABLE port, "http" for the one that matches HTTP and "tcp"
// for the default one.
func portChainName(port uint32, fc *listener.FilterChain, chains int) string {
	name := InboundName(port)
	switch {
	case fc.GetName() != "":
		return name + "|" + fc.GetName()
	case chains == 1:
		return name
	case len(fc.GetFilterChainMatch().GetApplicationProtocols()) > 0:
		return name + "|http"
	default:
		return name + "|tcp"
	}
}

// passthroughChains are VirtualInbound's chains without destination_port,
// under the workload's mode for a port it does not declare (model's
// workload level: port 0 has no port-level mode).
func passthroughChains(m *model.Mesh, w *model.Workload) ([]*listener.FilterChain, error) {
	c, err := inboundTCPChain(m, m.AuthorizationPolicies(w), InboundPassthroughCluster, 0)
	if err != nil {
		return nil, err
	}
	if m.MTLSMode(w, 0) != v1alpha1.MTLSStrict {
		return []*listener.FilterChain{c.filterChain(passthroughChain, "", nil)}, nil
	}
	ts, err := downstreamTLS(m.TrustDomain, nil)
	if err != nil {
		return nil, err
	}
	return []*listener.FilterChain{c.filterChain(passthroughChain+"-mtls", transportTLS, ts)}, nil
}
