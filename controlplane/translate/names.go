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
