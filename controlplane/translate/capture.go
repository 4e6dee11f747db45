package translate

import (
	"fmt"
	"net/netip"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/weftmesh/weft/controlplane/model"
)

// A Pod's sidecar does not listen where the app connects: the capture
// rules (docs/capture.md) redirect the pod's outbound TCP to
// VirtualOutbound and its inbound TCP to VirtualInbound, and the proxy
// recovers where each connection was going. This file builds the outbound
// side; capture_inbound.go the inbound one.

// Wildcard addresses of the capture listeners: IPv4, plus IPv6 as an
// additional address, so that one listener serves both families.
var (
	anyIPv4 = netip.IPv4Unspecified()
	anyIPv6 = netip.IPv6Unspecified()
)

// captureListener is a listener on 0.0.0.0:port and [::]:port, serving
// traffic of direction dir.
func captureListener(name string, port uint32, dir core.TrafficDirection) *listener.Listener {
	return &listener.Listener{
		Name:                name,
		Address:             socketAddress(anyIPv4, port),
		AdditionalAddresses: []*listener.AdditionalAddress{{Address: socketAddress(anyIPv6, port)}},
		TrafficDirection:    dir,
	}
}

// virtualOutbound is the listener the pod's outbound TCP is redirected
// to. use_original_dst hands each connection to the listener whose
// address is its original destination (a Service's ClusterIP and port,
// podServiceListener). A destination no listener has takes one of its
// chains: the meshed pod IPs of dests (other than self, the pod's own)
// on their ports take mTLS to that pod (podIPChains); anything else
// tcp_proxy to PassthroughCluster under ALLOW_ANY (or no policy), to
// BlackHoleCluster under REGISTRY_ONLY (m.OutboundTrafficPolicy). Both
// clusters are returned whatever the policy, so that switching it changes
// only the listener. Every chain logs with m.AccessLog.
func virtualOutbound(m *model.Mesh, dests [][]podDest, self netip.Addr, b *Batch) (*listener.Listener, []*cluster.Cluster, error) {
	policy := m.OutboundTrafficPolicy
	if err := policy.Validate(); err != nil {
		return nil, nil, err
	}
	target := PassthroughCluster
	if policy == model.OutboundRegistryOnly {
		target = BlackHoleCluster
	}
	f, err := tcpProxyFilter(target, m.AccessLog)
	if err != nil {
		return nil, nil, err
	}
	l := captureListener(VirtualOutbound, CaptureOutboundPort, core.TrafficDirection_OUTBOUND)
	l.UseOriginalDst = wrapperspb.Bool(true)
	podChains, podClusters, err := podIPChains(dests, self, target, m.AccessLog, b)
	if err != nil {
		return nil, nil, err
	}
	l.FilterChains = append(podChains, &listener.FilterChain{Filters: []*listener.Filter{f}})

	blackHole := baseCluster(BlackHoleCluster, cluster.Cluster_STATIC)
	blackHole.LoadAssignment = loadAssignment(BlackHoleCluster, nil)
	return l, append([]*cluster.Cluster{originalDstCluster(PassthroughCluster), blackHole}, podClusters...), nil
}

// originalDstCluster is a plaintext cluster whose one endpoint is each
// connection's original destination.
func originalDstCluster(name string) *cluster.Cluster {
	c := baseCluster(name, cluster.Cluster_ORIGINAL_DST)
	c.LbPolicy = cluster.Cluster_CLUSTER_PROVIDED
	return c
}

// podServiceListener is the listener of one service port for a Pod: the
// listener a declared Outbound gets for it (serviceListener), on the
// Service's first ClusterIP and the service port, with the other
// ClusterIPs (the other family of a dual-stack Service) as additional
// addresses. It does not bind: virtualOutbound hands it the connections
// whose original destination it is. svc must have ClusterIPs.
func podServiceListener(m *model.Mesh, w *model.Workload, svc *model.Service, ref servicePortRef) (*outboundResources, error) {
	ips := svc.ClusterIPs
	for _, ip := range ips {
		if !ip.IsValid() {
			return nil, fmt.Errorf("service %s has an invalid ClusterIP", ref.service)
		}
	}
	out, err := serviceListener(m, w, ref, ips[0], ref.port)
	if err != nil {
		return nil, err
	}
	for _, ip := range ips[1:] {
		out.listener.AdditionalAddresses = append(out.listener.AdditionalAddresses,
			&listener.AdditionalAddress{Address: socketAddress(ip, ref.port)})
	}
	out.listener.BindToPort = wrapperspb.Bool(false)
	return out, nil
}
