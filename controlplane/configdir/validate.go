package configdir

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/controlplane/model"
	"github.com/weftmesh/weft/meshid"
)

const (
	defaultNamespace    = "default"
	defaultLocalAddress = "127.0.0.1"
)

// checker collects the problems of one document.
type checker struct {
	doc      document
	problems []Problem
}

func (c *checker) add(path fieldPath, format string, args ...any) {
	c.problems = append(c.problems, c.doc.problem(path, fmt.Sprintf(format, args...)))
}

// check reports the messages of a k8s.io validation function, if any.
func (c *checker) check(path fieldPath, msgs []string) bool {
	if len(msgs) == 0 {
		return true
	}
	c.add(path, "%s", strings.Join(msgs, "; "))
	return false
}

// port reports a port outside 1..65535; zero is accepted when optional
// (the field then takes its default).
func (c *checker) port(path fieldPath, p int32, optional bool) bool {
	if optional && p == 0 {
		return true
	}
	if p < 1 || p > 65535 {
		c.add(path, "must be between 1 and 65535")
		return false
	}
	return true
}

func (c *checker) metadata(m metav1.Object, isName func(string) []string) {
	if m.GetName() == "" {
		c.add("metadata.name", "is required")
	} else {
		c.check("metadata.name", isName(m.GetName()))
	}
	if m.GetNamespace() != "" {
		c.check("metadata.namespace", validation.IsDNS1123Label(m.GetNamespace()))
	}
	c.labels("metadata.labels", m.GetLabels())
}

func (c *checker) labels(path fieldPath, labels map[string]string) {
	for k, v := range labels {
		if c.check(path.key(k), validation.IsQualifiedName(k)) {
			c.check(path.key(k), validation.IsValidLabelValue(v))
		}
	}
}

func namespaceOf(m metav1.Object) string {
	if m.GetNamespace() == "" {
		return defaultNamespace
	}
	return m.GetNamespace()
}

// validateService checks a Service as far as the mesh uses it. Service
// names follow Kubernetes: DNS-1035 labels, which start with a letter.
func validateService(doc document, svc *corev1.Service) []Problem {
	c := &checker{doc: doc}
	c.metadata(&svc.ObjectMeta, validation.IsDNS1035Label)
	c.labels("spec.selector", svc.Spec.Selector)
	ports := svc.Spec.Ports
	if len(ports) == 0 && svc.Spec.Type != corev1.ServiceTypeExternalName {
		c.add("spec.ports", "at least one port is required")
	}
	names := make(map[string]fieldPath, len(ports))
	numbers := make(map[int32]fieldPath, len(ports))
	for i, p := range ports {
		path := fieldPath("spec.ports").index(i)
		switch {
		case p.Name == "" && len(ports) > 1:
			c.add(path.key("name"), "is required when a service has more than one port")
		case p.Name != "":
			if at, dup := names[p.Name]; dup {
				c.add(path.key("name"), "duplicate port name %q (also %s)", p.Name, at)
			} else if c.check(path.key("name"), validation.IsDNS1123Label(p.Name)) {
				names[p.Name] = path.key("name")
			}
		}
		if c.port(path.key("port"), p.Port, false) {
			if at, dup := numbers[p.Port]; dup {
				c.add(path.key("port"), "duplicate port %d (also %s)", p.Port, at)
			} else {
				numbers[p.Port] = path.key("port")
			}
		}
		if p.Protocol != "" && p.Protocol != corev1.ProtocolTCP {
			c.add(path.key("protocol"), "%s is not supported: the mesh carries TCP only", p.Protocol)
		}
		switch tp := p.TargetPort; tp.Type {
		case intstr.Int:
			c.port(path.key("targetPort"), tp.IntVal, true)
		case intstr.String:
			c.check(path.key("targetPort"), validation.IsValidPortName(tp.StrVal))
		}
	}
	return c.problems
}

var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

// validateWorkload checks a Workload, including that the sockets its
// sidecar binds clash neither with each other nor with its app's.
func validateWorkload(doc document, td spiffeid.TrustDomain, wl *v1alpha1.Workload) []Problem {
	c := &checker{doc: doc}
	c.metadata(&wl.ObjectMeta, validation.IsDNS1123Label)
	ns := namespaceOf(&wl.ObjectMeta)
	spec := &wl.Spec

	if spec.ServiceAccount == "" {
		c.add("spec.serviceAccount", "is required")
	} else if _, err := meshid.Workload(td, ns, spec.ServiceAccount); err != nil {
		c.add("spec.serviceAccount", "is not a valid SPIFFE ID path segment: %v", err)
	}
	if spec.BootstrapTokenSHA256 != "" && !sha256Hex.MatchString(spec.BootstrapTokenSHA256) {
		c.add("spec.bootstrapTokenSHA256", "must be 64 lowercase hexadecimal digits (a SHA-256 digest)")
	}

	if spec.Gateway != "" {
		c.check("spec.gateway", prefixed("Gateway name", validation.IsDNS1123Subdomain(spec.Gateway)))
	}

	addr, addrOK := c.address(spec.Address)
	local, localOK := c.localAddress(spec.LocalAddress)
	b := c.workloadPorts(spec.Ports)
	c.outbound(spec.Outbound, ns, b)
	if localOK {
		c.clashes(b, addrOK && addr == local, local)
	}
	return c.problems
}

// bindings are the ports a workload's sidecar and app bind, each with the
// field that asks for it. The app listens on localAddress:targetPort
// (several ports may share one target); the sidecar on address:port for
// each port and on localAddress:localPort for each outbound listener.
type bindings struct {
	app, inbound, outbound map[int32]fieldPath
}

func (c *checker) workloadPorts(ports []v1alpha1.WorkloadPort) *bindings {
	b := &bindings{
		app:      make(map[int32]fieldPath),
		inbound:  make(map[int32]fieldPath),
		outbound: make(map[int32]fieldPath),
	}
	names := make(map[string]fieldPath, len(ports))
	for i, p := range ports {
		path := fieldPath("spec.ports").index(i)
		if p.Name != "" {
			if at, dup := names[p.Name]; dup {
				c.add(path.key("name"), "duplicate port name %q (also %s)", p.Name, at)
			} else if c.check(path.key("name"), validation.IsValidPortName(p.Name)) {
				names[p.Name] = path.key("name")
			}
		}
		if c.port(path.key("port"), p.Port, false) {
			if at, dup := b.inbound[p.Port]; dup {
				c.add(path.key("port"), "duplicate port %d (also %s)", p.Port, at)
			} else {
				b.inbound[p.Port] = path.key("port")
			}
		}
		if c.port(path.key("targetPort"), p.TargetPort, true) {
			target, at := p.TargetPort, path.key("targetPort")
			if target == 0 || target == p.Port {
				target, at = p.Port, path.key("port")
			}
			if _, seen := b.app[target]; !seen && target >= 1 && target <= 65535 {
				b.app[target] = at
			}
		}
	}
	return b
}

func (c *checker) outbound(outbound []v1alpha1.OutboundListener, ns string, b *bindings) {
	targets := make(map[model.NamespacedName]map[int32]fieldPath, len(outbound))
	for i, o := range outbound {
		path := fieldPath("spec.outbound").index(i)
		svc, svcOK := c.outboundService(path.key("service"), o.Service, ns)
		portOK := c.port(path.key("port"), o.Port, false)
		if svcOK && portOK {
			if at, dup := targets[svc][o.Port]; dup {
				c.add(path, "duplicate outbound listener for service %s port %d (also %s)", svc, o.Port, at)
			} else {
				if targets[svc] == nil {
					targets[svc] = make(map[int32]fieldPath)
				}
				targets[svc][o.Port] = path
			}
		}
		local, at := o.LocalPort, path.key("localPort")
		if local == 0 {
			local, at = o.Port, path.key("port")
		}
		if !c.port(path.key("localPort"), o.LocalPort, true) || !portOK {
			continue
		}
		if first, dup := b.outbound[local]; dup {
			c.add(at, "duplicate local port %d (also %s)", local, first)
		} else {
			b.outbound[local] = at
		}
	}
}

// clashes reports sidecar ports that the app holds, or that the sidecar
// holds twice because address and localAddress are the same (shared).
func (c *checker) clashes(b *bindings, shared bool, local netip.Addr) {
	if shared {
		for port, at := range b.inbound {
			app, clash := b.app[port]
			switch {
			case !clash:
			case app == at: // the port is its own target
				c.add(at, "the sidecar and the app would both bind %s:%d: give the port "+
					"a different targetPort, or the workload an address other than its localAddress", local, port)
			default:
				c.add(at, "%s:%d is where the app listens (%s); the sidecar cannot bind it", local, port, app)
			}
		}
	}
	for port, at := range b.outbound {
		if app, clash := b.app[port]; clash {
			c.add(at, "%s:%d is where the app listens (%s); the sidecar cannot bind it", local, port, app)
		} else if in, clash := b.inbound[port]; clash && shared {
			c.add(at, "%s:%d is already the sidecar's inbound port (%s)", local, port, in)
		}
	}
}

func (c *checker) address(s string) (netip.Addr, bool) {
	if s == "" {
		c.add("spec.address", "is required")
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		c.add("spec.address", "%q is not an IP address", s)
		return netip.Addr{}, false
	}
	if a.IsUnspecified() {
		c.add("spec.address", "must be an address other sidecars can dial, not %s", a)
		return netip.Addr{}, false
	}
	return a, true
}

func (c *checker) localAddress(s string) (netip.Addr, bool) {
	if s == "" {
		return netip.MustParseAddr(defaultLocalAddress), true
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		c.add("spec.localAddress", "%q is not an IP address", s)
		return netip.Addr{}, false
	}
	if !a.IsLoopback() {
		c.add("spec.localAddress", "must be a loopback address, not %s", a)
		return netip.Addr{}, false
	}
	return a, true
}

// outboundService parses "name" or "name.namespace".
func (c *checker) outboundService(path fieldPath, s, ns string) (model.NamespacedName, bool) {
	if s == "" {
		c.add(path, "is required")
		return model.NamespacedName{}, false
	}
	name, namespace, qualified := strings.Cut(s, ".")
	if !qualified {
		namespace = ns
	}
	if strings.Contains(namespace, ".") {
		c.add(path, "%q must be \"name\" or \"name.namespace\"", s)
		return model.NamespacedName{}, false
	}
	ok := c.check(path, prefixed("service name", validation.IsDNS1035Label(name)))
	ok = c.check(path, prefixed("namespace", validation.IsDNS1123Label(namespace))) && ok
	return model.NamespacedName{Namespace: namespace, Name: name}, ok
}

func prefixed(what string, msgs []string) []string {
	for i, m := range msgs {
		msgs[i] = what + ": " + m
	}
	return msgs
}
