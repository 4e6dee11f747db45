package kube

import (
	"cmp"
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/weftmesh/weft/controlplane/model"
)

// Names Weft reads on Kubernetes objects (docs/kubernetes.md).
const (
	// ProxyContainer is the name of the injected sidecar container: a Pod
	// with one is a mesh workload.
	ProxyContainer = "weft-proxy"
	// DependenciesAnnotation lists the Services outside its namespace a
	// Pod calls: "payments/api,billing/*".
	DependenciesAnnotation = "weft.dev/dependencies"
	// ProxylessAnnotation set to "true" marks a Pod whose gRPC app is its
	// own xDS client, without a sidecar.
	ProxylessAnnotation = "weft.dev/proxyless"
)

const (
	kindPod           = "Pod"
	kindService       = "Service"
	kindEndpointSlice = "EndpointSlice"
)

// workload maps a Pod to a mesh workload; ok is false for a pod outside the
// mesh (no sidecar, not proxyless), not running, or without an address yet.
func (b *builder) workload(pod *corev1.Pod) (model.Workload, bool) {
	proxyless := pod.Annotations[ProxylessAnnotation] == "true"
	if !b.live[pod.Namespace] || (!proxyless && !hasContainer(pod, ProxyContainer)) {
		return model.Workload{}, false
	}
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed || pod.Status.PodIP == "" {
		return model.Workload{}, false
	}
	addr, err := netip.ParseAddr(pod.Status.PodIP)
	if err != nil {
		b.skip(kindPod, &pod.ObjectMeta, "status.podIP %q: %v", pod.Status.PodIP, err)
		return model.Workload{}, false
	}
	w := model.Workload{
		Name:           pod.Name,
		Namespace:      pod.Namespace,
		ServiceAccount: cmp.Or(pod.Spec.ServiceAccountName, "default"),
		Labels:         nilIfEmpty(pod.Labels),
		Address:        addr.Unmap(),
		Pod:            true,
		Proxyless:      proxyless,
		Gateway:        gatewayOf(pod),
	}
	for _, c := range pod.Spec.Containers {
		if c.Name == ProxyContainer {
			continue
		}
		for _, p := range c.Ports {
			if (p.Protocol == "" || p.Protocol == corev1.ProtocolTCP) && p.ContainerPort > 0 && p.ContainerPort <= 65535 {
				port := uint32(p.ContainerPort)
				w.Ports = append(w.Ports, model.WorkloadPort{Name: p.Name, Port: port, TargetPort: port})
			}
		}
	}
	if deps, ok := pod.Annotations[DependenciesAnnotation]; ok {
		w.Dependencies = b.dependencies(pod, deps)
	}
	return w, true
}

// dependencies parses weft.dev/dependencies; entries that are not
// "<namespace>/<service>" or "<namespace>/*" are skipped.
func (b *builder) dependencies(pod *corev1.Pod, list string) []model.NamespacedName {
	var out []model.NamespacedName
	for entry := range strings.SplitSeq(list, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		ns, name, ok := strings.Cut(entry, "/")
		if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
			b.skip(kindPod, &pod.ObjectMeta, "annotation %s: entry %q is not <namespace>/<service> or <namespace>/*", DependenciesAnnotation, entry)
			continue
		}
		out = append(out, model.NamespacedName{Namespace: ns, Name: name})
	}
	return out
}

func hasContainer(pod *corev1.Pod, name string) bool {
	for _, c := range pod.Spec.Containers {
		if c.Name == name {
			return true
		}
	}
	// A native sidecar (an init container that keeps running).
	for _, c := range pod.Spec.InitContainers {
		if c.Name == name {
			return true
		}
	}
	return false
}

// service maps a Service (not ExternalName) to the model, with the
// endpoints its EndpointSlices list; a Service without slices has none.
func (b *builder) service(svc *corev1.Service, bySvc map[model.NamespacedName][]model.SliceEndpoint) (model.Service, bool) {
	if !b.live[svc.Namespace] || svc.Spec.Type == corev1.ServiceTypeExternalName {
		return model.Service{}, false
	}
	key := model.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}
	out := model.Service{
		Name:      svc.Name,
		Namespace: svc.Namespace,
		Selector:  nilIfEmpty(svc.Spec.Selector),
		// Never nil: in Kubernetes mode endpoints follow the slices only.
		Slices: append([]model.SliceEndpoint{}, bySvc[key]...),
	}
	for _, p := range svc.Spec.Ports {
		if p.Protocol != "" && p.Protocol != corev1.ProtocolTCP {
			b.skip(kindService, &svc.ObjectMeta, "port %d/%s: the mesh carries TCP only", p.Port, p.Protocol)
			continue
		}
		sp := model.ServicePort{Name: p.Name, Port: uint32(p.Port)} //nolint:gosec // the API server keeps ports in 1..65535
		switch {
		case p.TargetPort.Type == intstr.String:
			sp.TargetPortName = p.TargetPort.StrVal
		case p.TargetPort.IntVal > 0:
			sp.TargetPort = uint32(p.TargetPort.IntVal)
		default:
			sp.TargetPort = sp.Port
		}
		if p.AppProtocol != nil {
			sp.AppProtocol = *p.AppProtocol
		}
		out.Ports = append(out.Ports, sp)
	}
	for _, ip := range svc.Spec.ClusterIPs {
		if ip == "" || ip == corev1.ClusterIPNone {
			continue
		}
		addr, err := netip.ParseAddr(ip)
		if err != nil {
			b.skip(kindService, &svc.ObjectMeta, "cluster IP %q: %v", ip, err)
			continue
		}
		out.ClusterIPs = append(out.ClusterIPs, addr.Unmap())
	}
	sortSlice(out.Slices)
	return out, true
}

// slicesByService gathers the endpoints of the EndpointSlices of live
// namespaces by the Service they are labelled with.
func slicesByService(b *builder, eps []discoveryv1.EndpointSlice) map[model.NamespacedName][]model.SliceEndpoint {
	out := make(map[model.NamespacedName][]model.SliceEndpoint)
	for i := range eps {
		if key, got, ok := b.sliceEndpoints(&eps[i]); ok {
			out[key] = append(out[key], got...)
		}
	}
	return out
}

// sliceEndpoints returns the Service an EndpointSlice of a live namespace
// is labelled with and its endpoints; ok is false for a slice the mesh
// does not use.
func (b *builder) sliceEndpoints(es *discoveryv1.EndpointSlice) (svcKey model.NamespacedName, out []model.SliceEndpoint, ok bool) {
	svc := es.Labels[discoveryv1.LabelServiceName]
	if svc == "" || !b.live[es.Namespace] {
		return model.NamespacedName{}, nil, false
	}
	if es.AddressType != discoveryv1.AddressTypeIPv4 && es.AddressType != discoveryv1.AddressTypeIPv6 {
		b.skip(kindEndpointSlice, &es.ObjectMeta, "address type %s: the mesh routes to IP addresses only", es.AddressType)
		return model.NamespacedName{}, nil, false
	}
	ports := make(map[string]uint32, len(es.Ports))
	for _, p := range es.Ports {
		if p.Port == nil || *p.Port < 1 || *p.Port > 65535 || (p.Protocol != nil && *p.Protocol != corev1.ProtocolTCP) {
			continue
		}
		name := ""
		if p.Name != nil {
			name = *p.Name
		}
		ports[name] = uint32(*p.Port)
	}
	for _, ep := range es.Endpoints {
		var pod *model.NamespacedName
		if ref := ep.TargetRef; ref != nil && ref.Kind == kindPod && ref.Name != "" {
			pod = &model.NamespacedName{Namespace: cmp.Or(ref.Namespace, es.Namespace), Name: ref.Name}
		}
		ready := ep.Conditions.Ready == nil || *ep.Conditions.Ready
		for _, a := range ep.Addresses {
			addr, err := netip.ParseAddr(a)
			if err != nil {
				b.skip(kindEndpointSlice, &es.ObjectMeta, "address %q: %v", a, err)
				continue
			}
			out = append(out, model.SliceEndpoint{Address: addr.Unmap(), Ports: ports, Ready: ready, Pod: pod})
		}
	}
	return model.NamespacedName{Namespace: es.Namespace, Name: svc}, out, true
}

// nilIfEmpty makes an empty map and none the same model, so that the
// Watcher does not see a change where there is none.
func nilIfEmpty(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}
