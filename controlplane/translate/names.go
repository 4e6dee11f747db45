package translate

import (
	"strconv"

	"github.com/weftmesh/weft/controlplane/model"
)

// SDS secret names the translator refers to. The proxy resolves both itself;
// they are never sent over xDS.
const (
	// SecretDefault names the proxy's own certificate and key (its SVID).
	SecretDefault = "default"
	// SecretRootCA names the trust bundle of the mesh's CA.
	SecretRootCA = "ROOTCA"
)

// ServiceDomain is the DNS suffix of service FQDNs: <svc>.<ns>.ServiceDomain.
const ServiceDomain = "svc.cluster.local"

// InboundName names both the inbound listener and the inbound cluster of a
// workload port: "inbound|<port>".
func InboundName(port uint32) string {
	return "inbound|" + strconv.FormatUint(uint64(port), 10)
}

// OutboundListenerName names the outbound listener for one service port:
// "outbound|<service>.<namespace>|<port>".
func OutboundListenerName(svc model.NamespacedName, port uint32) string {
	return "outbound|" + svc.Name + "." + svc.Namespace + "|" + strconv.FormatUint(uint64(port), 10)
}

// OutboundClusterName names the outbound cluster for one service port, and
// its ClusterLoadAssignment: "outbound|<port>||<service>.<namespace>.svc.cluster.local".
func OutboundClusterName(svc model.NamespacedName, port uint32) string {
	return "outbound|" + strconv.FormatUint(uint64(port), 10) + "||" + serviceFQDN(svc)
}

// upstreamSNI is the server name a client proxy sends to the service's
// endpoints: "outbound_.<port>_._.<service>.<namespace>.svc.cluster.local".
func upstreamSNI(svc model.NamespacedName, port uint32) string {
	return "outbound_." + strconv.FormatUint(uint64(port), 10) + "_._." + serviceFQDN(svc)
}

func serviceFQDN(svc model.NamespacedName) string {
	return svc.Name + "." + svc.Namespace + "." + ServiceDomain
}

// outboundVirtualHost names the virtual host of an outbound route
// configuration: "<service>.<namespace>.svc.cluster.local:<port>".
func outboundVirtualHost(svc model.NamespacedName, port uint32) string {
	return serviceFQDN(svc) + ":" + strconv.FormatUint(uint64(port), 10)
}

// Names and ports of a Pod's capture listeners and of their catch-all
// clusters (docs/capture.md, "Original destination"). The capture rules
// of proxy/capture send the pod's outbound TCP to CaptureOutboundPort and
// its inbound TCP to CaptureInboundPort.
const (
	// VirtualOutbound is the listener on CaptureOutboundPort: it hands a
	// connection to the listener of its original destination, or sends it
	// to PassthroughCluster or BlackHoleCluster.
	VirtualOutbound = "virtualOutbound"
	// VirtualInbound is the listener on CaptureInboundPort: its chains
	// match the original destination port.
	VirtualInbound = "virtualInbound"
	// PassthroughCluster (ORIGINAL_DST) carries outbound connections to a
	// destination the mesh does not know, in plaintext, under ALLOW_ANY.
	PassthroughCluster = "PassthroughCluster"
	// BlackHoleCluster has no endpoints: under REGISTRY_ONLY, outbound
	// connections to a destination the mesh does not know are closed.
	BlackHoleCluster = "BlackHoleCluster"
	// InboundPassthroughCluster (ORIGINAL_DST) carries inbound connections
	// to a port the pod does not declare on to the app.
	InboundPassthroughCluster = "InboundPassthroughCluster" //nolint:gosec // a cluster name, not a credential

	// CaptureOutboundPort is VirtualOutbound's port.
	CaptureOutboundPort = 15001
	// CaptureInboundPort is VirtualInbound's port.
	CaptureInboundPort = 15006
)
