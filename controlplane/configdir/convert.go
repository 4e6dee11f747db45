package configdir

import (
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/controlplane/model"
)

// The conversions below run only on validated objects: every address
// parses and every port fits in 1..65535.

func toService(svc *corev1.Service) model.Service {
	out := model.Service{
		Name:      svc.Name,
		Namespace: namespaceOf(&svc.ObjectMeta),
		Selector:  nilIfEmpty(svc.Spec.Selector),
	}
	for _, p := range svc.Spec.Ports {
		sp := model.ServicePort{Name: p.Name, Port: uint32(p.Port)} //nolint:gosec // validated range
		switch {
		case p.TargetPort.Type == intstr.String:
			sp.TargetPortName = p.TargetPort.StrVal
		case p.TargetPort.IntVal != 0:
			sp.TargetPort = uint32(p.TargetPort.IntVal) //nolint:gosec // validated range
		default:
			sp.TargetPort = sp.Port
		}
		if p.AppProtocol != nil {
			sp.AppProtocol = *p.AppProtocol
		}
		out.Ports = append(out.Ports, sp)
	}
	return out
}

func toWorkload(wl *v1alpha1.Workload) model.Workload {
	ns := namespaceOf(&wl.ObjectMeta)
	spec := &wl.Spec
	local := netip.MustParseAddr(defaultLocalAddress)
	if spec.LocalAddress != "" {
		local = netip.MustParseAddr(spec.LocalAddress)
	}
	out := model.Workload{
		Name:                 wl.Name,
		Namespace:            ns,
		ServiceAccount:       spec.ServiceAccount,
		Labels:               nilIfEmpty(wl.Labels),
		Address:              netip.MustParseAddr(spec.Address),
		LocalAddress:         local,
		BootstrapTokenSHA256: spec.BootstrapTokenSHA256,
		Proxyless:            spec.Proxyless,
	}
	if spec.Gateway != "" {
		out.Gateway = &model.NamespacedName{Namespace: ns, Name: spec.Gateway}
	}
	for _, p := range spec.Ports {
		wp := model.WorkloadPort{Name: p.Name, Port: uint32(p.Port), TargetPort: uint32(p.TargetPort)} //nolint:gosec // validated range
		if wp.TargetPort == 0 {
			wp.TargetPort = wp.Port
		}
		out.Ports = append(out.Ports, wp)
	}
	for _, o := range spec.Outbound {
		name, namespace, qualified := strings.Cut(o.Service, ".")
		if !qualified {
			namespace = ns
		}
		ob := model.Outbound{
			Service:   model.NamespacedName{Namespace: namespace, Name: name},
			Port:      uint32(o.Port),      //nolint:gosec // validated range
			LocalPort: uint32(o.LocalPort), //nolint:gosec // validated range
		}
		if ob.LocalPort == 0 {
			ob.LocalPort = ob.Port
		}
		out.Outbound = append(out.Outbound, ob)
	}
	return out
}

// nilIfEmpty makes "labels: {}" and no labels the same model, so that a
// Watcher does not see a change where there is none.
func nilIfEmpty(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}
