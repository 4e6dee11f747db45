// Package model is the control plane's view of the mesh: services, the
// workloads behind them, and their identities. Kubernetes mode and
// standalone mode both build a Mesh; the translator turns a Mesh into Envoy
// configuration. A Mesh is a value: it is built whole, never mutated after,
// and safe to share between goroutines.
package model

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/weftmesh/weft/meshid"
)

// DefaultTrustDomain is the trust domain used when none is configured.
const DefaultTrustDomain = "cluster.local"

// Mesh is everything the translator needs. Services and Workloads are sorted
// by namespace, then name, so that translation is deterministic.
type Mesh struct {
	TrustDomain spiffeid.TrustDomain
	Services    []Service
	Workloads   []Workload
	// Policies are the mesh's PeerAuthentications, AuthorizationPolicies,
	// TrafficPolicies and Service-attached routes.
	Policies Policies
	// OutboundTrafficPolicy is what a Pod's sidecar does with a captured
	// connection to a destination the mesh does not know: a setting of
	// the control plane (--outbound-traffic-policy), not of the source.
	OutboundTrafficPolicy OutboundTrafficPolicy
	// AccessLog makes sidecars write one JSON line per HTTP request and
	// per TCP connection, to their stdout (`kubectl logs`): a setting of
	// the control plane (--access-log). Gateways always do.
	AccessLog bool
	// Ingress holds the Gateways, their TLS and TCP routes, grants and
	// certificates (docs/gateway.md).
	Ingress Ingress
}

// OutboundTrafficPolicy says where a Pod's sidecar sends a captured
// outbound connection whose original destination is no Service of its
// scope (docs/capture.md): the empty value means OutboundAllowAny.
type OutboundTrafficPolicy string

const (
	// OutboundAllowAny passes such connections through, in plaintext, to
	// where the app was going: the mesh does not get in the way of
	// destinations it does not know (the default).
	OutboundAllowAny OutboundTrafficPolicy = "ALLOW_ANY"
	// OutboundRegistryOnly closes them: pods reach only the Services of
	// the mesh.
	OutboundRegistryOnly OutboundTrafficPolicy = "REGISTRY_ONLY"
)

// Validate fails on anything but "", ALLOW_ANY and REGISTRY_ONLY.
func (p OutboundTrafficPolicy) Validate() error {
	switch p {
	case "", OutboundAllowAny, OutboundRegistryOnly:
		return nil
	default:
		return fmt.Errorf("outbound traffic policy %q must be %s or %s", string(p), OutboundAllowAny, OutboundRegistryOnly)
	}
}

// Service is a named set of ports backed by the workloads its selector picks.
type Service struct {
	Name      string
	Namespace string
	// Selector picks workloads in the same namespace by label; a nil or
	// empty selector picks none (as for a Kubernetes Service).
	Selector map[string]string
	Ports    []ServicePort
	// ClusterIPs are the Service's virtual addresses (Kubernetes mode;
	// none in standalone mode). Captured traffic is matched on them.
	ClusterIPs []netip.Addr
	// Slices, when not nil, are the Service's endpoints as its
	// EndpointSlices list them (Kubernetes mode): Endpoints then follows
	// them rather than the selector, so readiness and terminating pods
	// count as Kubernetes says.
	Slices []SliceEndpoint
}

// SliceEndpoint is one endpoint of an EndpointSlice.
type SliceEndpoint struct {
	Address netip.Addr
	// Ports maps the name of a service port ("" for an unnamed one) to
	// the endpoint's port number for it.
	Ports map[string]uint32
	// Ready is the slice's ready condition (serving and not terminating).
	Ready bool
	// Pod is the Pod behind the endpoint (its targetRef), if any.
	Pod *NamespacedName
}

// ServicePort is one port of a Service.
type ServicePort struct {
	Name string
	Port uint32
	// TargetPort is the workload port traffic goes to: a number, or the name
	// of a workload port when TargetPortName is set.
	TargetPort     uint32
	TargetPortName string
	// AppProtocol is the declared protocol ("tcp", "http", "grpc", ...),
	// empty when undeclared.
	AppProtocol string
}

// Workload is one instance of an application with its sidecar.
type Workload struct {
	Name           string
	Namespace      string
	ServiceAccount string
	Labels         map[string]string
	// Address is where other sidecars reach this workload's sidecar.
	Address netip.Addr
	// LocalAddress is the loopback address the app and its sidecar share.
	LocalAddress netip.Addr
	Ports        []WorkloadPort
	Outbound     []Outbound
	// BootstrapTokenSHA256 is the hex digest of the workload's CA bootstrap
	// token; empty when the workload has none.
	BootstrapTokenSHA256 string
	// Dependencies are the Services outside its namespace this workload
	// calls (Kubernetes mode: the Pod annotation weft.dev/dependencies);
	// a Name of "*" stands for every Service of Namespace. A sidecar's
	// configuration covers its own namespace's Services and these, so that
	// its memory grows with what it calls, not with the cluster.
	Dependencies []NamespacedName
	// Pod is true for a Kubernetes Pod: its sidecar captures the pod's
	// traffic rather than listening on explicit ports (Ports, Outbound).
	Pod bool
	// Proxyless is true for a gRPC application that is its own xDS client
	// (grpc-go's xds:/// resolver) and has no sidecar: it gets
	// translate.Proxyless's resources instead of a sidecar's.
	Proxyless bool
	// Gateway, when set, is the Gateway (of the workload's namespace)
	// this workload's proxy serves as an ingress gateway: it gets the
	// Gateway's listeners, routes and certificates (translate, package
	// gateway) instead of a sidecar's configuration.
	Gateway *NamespacedName
}

// WorkloadPort is a port the workload serves: the sidecar accepts mTLS on
// Address:Port and forwards to the app on LocalAddress:TargetPort.
type WorkloadPort struct {
	Name       string
	Port       uint32
	TargetPort uint32
}

// Outbound is a local listener on LocalAddress:LocalPort that carries the
// app's traffic to one port of one Service.
type Outbound struct {
	Service   NamespacedName
	Port      uint32
	LocalPort uint32
}

// NamespacedName names a namespaced object.
type NamespacedName struct {
	Namespace string
	Name      string
}

func (n NamespacedName) String() string { return n.Namespace + "/" + n.Name }

// Endpoint is one workload instance behind a service port.
type Endpoint struct {
	Address  netip.AddrPort
	Identity spiffeid.ID
	Workload NamespacedName
}

// NodeID is the xDS node ID of a workload's sidecar: "<name>.<namespace>".
func NodeID(name, namespace string) string { return meshid.NodeID(name, namespace) }

// ParseNodeID splits an xDS node ID made by NodeID at its last dot: a
// namespace is a DNS label (no dots), while a Pod's name may hold dots.
func ParseNodeID(id string) (NamespacedName, error) {
	i := strings.LastIndexByte(id, '.')
	if i < 0 {
		return NamespacedName{}, fmt.Errorf("node ID %q is not of the form <name>.<namespace>", id)
	}
	name, namespace := id[:i], id[i+1:]
	if name == "" || namespace == "" {
		return NamespacedName{}, fmt.Errorf("node ID %q is not of the form <name>.<namespace>", id)
	}
	return NamespacedName{Namespace: namespace, Name: name}, nil
}

// NodeID returns the xDS node ID of the workload's sidecar.
func (w *Workload) NodeID() string { return NodeID(w.Name, w.Namespace) }

// Key returns the workload's namespace and name.
func (w *Workload) Key() NamespacedName {
	return NamespacedName{Namespace: w.Namespace, Name: w.Name}
}

// Key returns the service's namespace and name.
func (s *Service) Key() NamespacedName {
	return NamespacedName{Namespace: s.Namespace, Name: s.Name}
}

// Identity returns the workload's SPIFFE ID in the mesh's trust domain.
func (m *Mesh) Identity(w *Workload) (spiffeid.ID, error) {
	return meshid.Workload(m.TrustDomain, w.Namespace, w.ServiceAccount)
}

// Workload returns the workload with the given key, or nil.
func (m *Mesh) Workload(key NamespacedName) *Workload {
	i, ok := slices.BinarySearchFunc(m.Workloads, key, func(w Workload, k NamespacedName) int {
		return compareKeys(w.Key(), k)
	})
	if !ok {
		return nil
	}
	return &m.Workloads[i]
}

// Service returns the service with the given key, or nil.
func (m *Mesh) Service(key NamespacedName) *Service {
	i, ok := slices.BinarySearchFunc(m.Services, key, func(s Service, k NamespacedName) int {
		return compareKeys(s.Key(), k)
	})
	if !ok {
		return nil
	}
	return &m.Services[i]
}

// Endpoints returns the endpoints behind one port of a service, sorted by
// address. A workload is an endpoint when the service's selector matches its
// labels and it serves the port's target port (by number or by name). A
// Service with Slices lists instead its ready slice endpoints whose Pod is
// a mesh workload (one with a sidecar, hence an identity); endpoints of
// pods outside the mesh are left out.
func (m *Mesh) Endpoints(svc *Service, port ServicePort) []Endpoint {
	if svc.Slices != nil {
		return m.sliceEndpoints(svc, port)
	}
	var eps []Endpoint
	lo, hi := namespaceRange(m.Workloads, svc.Namespace, func(w *Workload) string { return w.Namespace })
	for i := lo; i < hi; i++ {
		w := &m.Workloads[i]
		if !selects(svc.Selector, w.Labels) {
			continue
		}
		wp, ok := w.servePort(port)
		if !ok {
			continue
		}
		id, err := m.Identity(w)
		if err != nil {
			continue // validated when the mesh was built
		}
		eps = append(eps, Endpoint{
			Address:  netip.AddrPortFrom(w.Address, uint16(wp.Port)), //nolint:gosec // ports are validated to fit
			Identity: id,
			Workload: w.Key(),
		})
	}
	slices.SortFunc(eps, func(a, b Endpoint) int { return a.Address.Compare(b.Address) })
	return eps
}

// sliceEndpoints lists the ready endpoints of svc's slices that serve
// port, each address once: an endpoint listed by two slices (as during
// the EndpointSlice controller's rebalancing) counts once, ready if any
// copy is. An address two slices give to two different Pods (an IP reused
// while a slice is stale) keeps the first Pod by namespace and name, so
// that the result does not depend on the order of the slices.
func (m *Mesh) sliceEndpoints(svc *Service, port ServicePort) []Endpoint {
	var eps []Endpoint
	for _, se := range svc.Slices {
		target, ok := se.Ports[port.Name]
		if !ok || !se.Ready || se.Pod == nil || target == 0 || target > 65535 {
			continue
		}
		pod := *se.Pod
		if pod.Namespace == "" { // a targetRef without a namespace: the slice's
			pod.Namespace = svc.Namespace
		}
		w := m.Workload(pod)
		if w == nil {
			continue
		}
		id, err := m.Identity(w)
		if err != nil {
			continue
		}
		eps = append(eps, Endpoint{
			Address:  netip.AddrPortFrom(se.Address, uint16(target)),
			Identity: id,
			Workload: w.Key(),
		})
	}
	slices.SortFunc(eps, func(a, b Endpoint) int {
		if c := a.Address.Compare(b.Address); c != 0 {
			return c
		}
		return compareKeys(a.Workload, b.Workload)
	})
	return slices.CompactFunc(eps, func(a, b Endpoint) bool { return a.Address == b.Address })
}

func (w *Workload) servePort(sp ServicePort) (WorkloadPort, bool) {
	for _, p := range w.Ports {
		if sp.TargetPortName != "" && p.Name == sp.TargetPortName {
			return p, true
		}
		if sp.TargetPortName == "" && p.Port == sp.TargetPort {
			return p, true
		}
	}
	return WorkloadPort{}, false
}

// Selects reports whether the Service's selector picks w: same namespace,
// and every label of a non-empty selector.
func (s *Service) Selects(w *Workload) bool {
	return s.Namespace == w.Namespace && selects(s.Selector, w.Labels)
}

func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

func compareKeys(a, b NamespacedName) int {
	if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
		return c
	}
	return strings.Compare(a.Name, b.Name)
}

// Sort orders services and workloads as Mesh requires. Builders call it
// once, after adding everything.
func (m *Mesh) Sort() {
	slices.SortFunc(m.Services, func(a, b Service) int { return compareKeys(a.Key(), b.Key()) })
	slices.SortFunc(m.Workloads, func(a, b Workload) int { return compareKeys(a.Key(), b.Key()) })
	m.Policies.Sort()
	m.Ingress.Sort()
}
