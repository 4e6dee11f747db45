// Package gateway is Weft's Gateway API implementation for north-south
// traffic (docs/gateway.md). Resolve decides, from a model.Mesh alone,
// which Gateways of the weft GatewayClass are accepted, which routes
// attach to which of their listeners, which certificates each listener
// may serve (its own namespace's Secrets, or another's where a
// ReferenceGrant allows), and the status conditions that say so. The
// translator turns a Resolution into the gateway proxy's listeners,
// routes, clusters and SDS secrets; the Kubernetes control plane writes
// its conditions to the objects' status. Package gateway/deploy makes the
// Deployment and LoadBalancer Service that run each Gateway.
package gateway

import gwv1 "sigs.k8s.io/gateway-api/apis/v1"

// Names every user-facing piece of the gateway shares.
const (
	// ControllerName is the GatewayClass controllerName Weft handles.
	ControllerName gwv1.GatewayController = "weft.dev/gateway-controller"
	// ClassName is the GatewayClass the chart installs.
	ClassName = "weft"
	// NameLabel marks the Pods (and the Deployment and Service) that run
	// a Gateway, with the Gateway's name as its value (GEP-1762).
	NameLabel = gwv1.GatewayNameLabelKey
	// TrustedHopsAnnotation on a Gateway is the number of proxies in
	// front of it (load balancers) whose X-Forwarded-For entries it
	// trusts; default 0: the client is the connection's peer.
	TrustedHopsAnnotation = "gateway.weft.dev/trusted-hops"
	// ProxyProtocolAnnotation "true" on a Gateway makes every listener
	// expect a PROXY protocol v1 or v2 header (for load balancers that
	// send one); the client address is then the header's source.
	ProxyProtocolAnnotation = "gateway.weft.dev/proxy-protocol"
)

// SecretName is the SDS name under which the control plane sends the
// gateway proxy the certificate of a kubernetes.io/tls Secret.
func SecretName(namespace, name string) string {
	return "kubernetes://" + namespace + "/" + name
}
