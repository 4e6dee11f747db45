package deploy

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/weftmesh/weft/gateway"
	"github.com/weftmesh/weft/injector"
)

// Labels and values Render puts on the gateway's pods.
const (
	// ClassLabel carries the Gateway's class on the pods (GEP-1762).
	ClassLabel = gwv1.GatewayClassNameLabelKey
	// InjectLabel "disabled" keeps the injector away from the gateway's
	// own proxy.
	InjectLabel = "weft.dev/inject"
	// ModeArg makes weft-proxy a gateway.
	ModeArg = "--mode=gateway"
	// unprivilegedPortSysctl lets UID 1337 bind the listeners' ports
	// below 1024 without a capability.
	unprivilegedPortSysctl = "net.ipv4.ip_unprivileged_port_start"
)

// Name is the name of the ServiceAccount, Deployment and Service of the
// Gateway called gatewayName: "<gatewayName>-weft" when that is a valid
// Service name (a DNS-1035 label). A Gateway name may not be one (a dot,
// a leading digit, more than 58 characters): then the name is made
// valid, shortened, and told apart by a hash of the Gateway's name.
func Name(gatewayName string) string {
	name := gatewayName + "-weft"
	if len(validation.IsDNS1035Label(name)) == 0 {
		return name
	}
	sum := sha256.Sum256([]byte(gatewayName))
	suffix := "-" + hex.EncodeToString(sum[:4]) + "-weft"
	base := strings.ReplaceAll(gatewayName, ".", "-")
	if base == "" || base[0] < 'a' || base[0] > 'z' {
		base = "gw-" + base
	}
	base = strings.TrimRight(base[:min(len(base), validation.DNS1035LabelMaxLength-len(suffix))], "-")
	return base + suffix
}

// Objects are what Weft creates for one Gateway, in its namespace.
type Objects struct {
	ServiceAccount *corev1.ServiceAccount
	Deployment     *appsv1.Deployment
	Service        *corev1.Service
}

// List returns the objects in the order they are applied: the
// ServiceAccount before the pods that run as it.
func (o Objects) List() []client.Object {
	return []client.Object{o.ServiceAccount, o.Deployment, o.Service}
}

// Render returns the objects that run gw: gw must carry its UID (the
// owner references name it). The proxy container is built from mesh as
// an injected sidecar's is (control plane, trust domain, projected token,
// CA root ConfigMap), p sizes it and shapes the Service, and
// spec.infrastructure's labels and annotations go on every object and on
// the pods. It is pure: the same inputs give the same objects.
func Render(gw *gwv1.Gateway, p Params, mesh injector.Config) Objects {
	name := Name(gw.Name)
	labels, annotations := infrastructure(gw)
	labels[gateway.NameLabel] = gw.Name
	meta := func() metav1.ObjectMeta {
		return metav1.ObjectMeta{
			Name:            name,
			Namespace:       gw.Namespace,
			Labels:          maps.Clone(labels),
			Annotations:     maps.Clone(annotations),
			OwnerReferences: []metav1.OwnerReference{ownerRef(gw)},
		}
	}
	selector := map[string]string{gateway.NameLabel: gw.Name}
	podLabels := maps.Clone(labels)
	podLabels[ClassLabel] = string(gw.Spec.GatewayClassName)
	podLabels[InjectLabel] = "disabled"
	ports := listenerPorts(gw)

	sa := &corev1.ServiceAccount{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		ObjectMeta: meta(),
	}
	deploy := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: meta(),
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(p.Replicas),
			Selector: &metav1.LabelSelector{MatchLabels: selector},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels, Annotations: maps.Clone(annotations)},
				Spec: corev1.PodSpec{
					ServiceAccountName: name,
					// The proxy shows the CA its projected weft-ca token and
					// never talks to the API server.
					AutomountServiceAccountToken: ptr.To(false),
					SecurityContext: &corev1.PodSecurityContext{
						Sysctls: []corev1.Sysctl{{Name: unprivilegedPortSysctl, Value: "0"}},
					},
					Containers: []corev1.Container{proxyContainer(p, mesh, ports)},
					Volumes:    injector.ProxyVolumes(mesh),
				},
			},
		},
	}
	svc := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: meta(),
		Spec: corev1.ServiceSpec{
			Type:                  p.ServiceType,
			ExternalTrafficPolicy: p.ExternalTrafficPolicy,
			Selector:              selector,
		},
	}
	if p.LoadBalancerClass != "" {
		svc.Spec.LoadBalancerClass = ptr.To(p.LoadBalancerClass)
	}
	for _, lp := range ports {
		svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{
			Name:       lp.name,
			Protocol:   corev1.ProtocolTCP,
			Port:       lp.port,
			TargetPort: intstr.FromInt32(lp.port),
		})
	}
	return Objects{ServiceAccount: sa, Deployment: deploy, Service: svc}
}

func proxyContainer(p Params, mesh injector.Config, ports []listenerPort) corev1.Container {
	cports := []corev1.ContainerPort{{Name: injector.StatusPortName, ContainerPort: injector.StatusPort, Protocol: corev1.ProtocolTCP}}
	for _, lp := range ports {
		if lp.port != injector.StatusPort {
			cports = append(cports, corev1.ContainerPort{Name: lp.name, ContainerPort: lp.port, Protocol: corev1.ProtocolTCP})
		}
	}
	return corev1.Container{
		Name:      injector.ProxyContainerName,
		Image:     mesh.ProxyImage,
		Args:      append([]string{ModeArg}, injector.MeshArgs(mesh)...),
		Ports:     cports,
		Env:       injector.ProxyEnv(),
		Resources: p.Resources,
		// Every field is explicit, so that the API server's defaulting
		// changes nothing the next apply would fight over.
		ReadinessProbe: &corev1.Probe{
			ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
				Path:   "/ready",
				Port:   intstr.FromInt32(injector.StatusPort),
				Scheme: corev1.URISchemeHTTP,
			}},
			TimeoutSeconds:   1,
			PeriodSeconds:    2,
			SuccessThreshold: 1,
			FailureThreshold: 3,
		},
		VolumeMounts: injector.ProxyVolumeMounts(),
		SecurityContext: &corev1.SecurityContext{
			RunAsUser:                ptr.To[int64](injector.ProxyUID),
			RunAsGroup:               ptr.To[int64](injector.ProxyUID),
			RunAsNonRoot:             ptr.To(true),
			ReadOnlyRootFilesystem:   ptr.To(true),
			AllowPrivilegeEscalation: ptr.To(false),
			Privileged:               ptr.To(false),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
	}
}

// listenerPort is one distinct port of a Gateway's listeners.
type listenerPort struct {
	port int32
	name string
}

// listenerPorts are gw's distinct listener ports, in ascending order,
// named <protocol>-<port> after the first listener on each.
func listenerPorts(gw *gwv1.Gateway) []listenerPort {
	byPort := map[int32]string{}
	for _, l := range gw.Spec.Listeners {
		if _, ok := byPort[l.Port]; !ok {
			byPort[l.Port] = portName(l.Protocol, l.Port)
		}
	}
	out := make([]listenerPort, 0, len(byPort))
	for _, port := range slices.Sorted(maps.Keys(byPort)) {
		out = append(out, listenerPort{port: port, name: byPort[port]})
	}
	return out
}

// portName is <protocol-lowercase>-<port> for the core protocols; an
// implementation-specific protocol (domain/name) cannot be part of a
// port name and gives port-<port>.
func portName(proto gwv1.ProtocolType, port int32) string {
	prefix := "port"
	switch proto {
	case gwv1.HTTPProtocolType, gwv1.HTTPSProtocolType, gwv1.TLSProtocolType, gwv1.TCPProtocolType, gwv1.UDPProtocolType:
		prefix = strings.ToLower(string(proto))
	}
	return prefix + "-" + strconv.Itoa(int(port))
}

// infrastructure returns copies of spec.infrastructure's labels and
// annotations (empty maps without them).
func infrastructure(gw *gwv1.Gateway) (labels, annotations map[string]string) {
	labels, annotations = map[string]string{}, map[string]string{}
	if infra := gw.Spec.Infrastructure; infra != nil {
		for k, v := range infra.Labels {
			labels[string(k)] = string(v)
		}
		for k, v := range infra.Annotations {
			annotations[string(k)] = string(v)
		}
	}
	return labels, annotations
}

func ownerRef(gw *gwv1.Gateway) metav1.OwnerReference {
	return metav1.OwnerReference{
		APIVersion:         gwv1.GroupVersion.String(),
		Kind:               "Gateway",
		Name:               gw.Name,
		UID:                gw.UID,
		Controller:         ptr.To(true),
		BlockOwnerDeletion: ptr.To(true),
	}
}
