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

func (c *checker) metadata(m *metav1.ObjectMeta, isName func(string) []string) {
	if m.Name == "" {
		c.add("metadata.name", "is required")
	} else {
		c.check("metadata.name", isName(m.Name))
	}
	if m.Namespace != "" {
		c.check("metadata.namespace", validation.IsDNS1123Label(m.Namespace))
	}
	c.labels("metadata.labels", m.Labels)
}

func (c *checker) labels(path fieldPath, labels map[string]string) {
	for k, v := range labels {
		if c.check(path.key(k), validation.IsQualifiedName(k)) {
			c.check(path.key(k), validation.IsValidLabelValue(v))
		}
	}
}

func namespaceOf(m *metav1.ObjectMeta) string {
	if m.Namespace == "" {
		return defaultNamespace
	}
	return m.Namespace
}

// validateService checks a Service as far as the mesh uses it. Service
// names follow Kubernetes: DNS-1035 labels, which start with a letter.
func validateService(doc document, svc *corev1.Service) []Problem {
	c := &checker{doc: doc}
	c.metadata(&svc.ObjectMeta, validation.IsDNS1035Label)
	c.labels("spec.selector", svc.Spec.Selector)
	ports := svc.Spec.Ports
	if len(ports) == 0 {
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

	addr, addrOK := c.address(spec.Address)
	local, localOK := c.localAddress(spec.LocalAddress)

	names := make(map[string]fieldPath, len(spec.Ports))
	for i, p := range spec.Ports {
		path := fieldPath("spec.ports").index(i)
		if p.Name != "" {
			if at, dup := names[p.Name]; dup {
				c.add(path.key("name"), "duplicate port name %q (also %s)", p.Name, at)
			} else if c.check(path.key("name"), validation.IsValidPortName(p.Name)) {
				names[p.Name] = path.key("name")
			}
		}
		c.port(path.key("port"), p.Port, false)
		c.port(path.key("targetPort"), p.TargetPort, true)
	}
	targets := make(map[string]fieldPath, len(spec.Outbound))
	for i, o := range spec.Outbound {
		path := fieldPath("spec.outbound").index(i)
		svc, ok := c.outboundService(path.key("service"), o.Service, ns)
		if c.port(path.key("port"), o.Port, false) && ok {
			key := fmt.Sprintf("%s port %d", svc, o.Port)
			if at, dup := targets[key]; dup {
				c.add(path, "duplicate outbound listener for service %s (also %s)", key, at)
			} else {
				targets[key] = path
			}
		}
		c.port(path.key("localPort"), o.LocalPort, true)
	}
	if addrOK && localOK {
		c.sockets(spec, addr, local)
	}
	return c.problems
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

// sockets checks the addresses the sidecar and the app bind: the app
// listens on local:targetPort (several ports may share one target), the
// sidecar on addr:port for each port and on local:localPort for each
// outbound listener. No two of the sidecar's may coincide, nor any of its
// with the app's. Out-of-range ports were reported already and are skipped.
func (c *checker) sockets(spec *v1alpha1.WorkloadSpec, addr, local netip.Addr) {
	valid := func(p int32) bool { return p >= 1 && p <= 65535 }
	app := make(map[int32]fieldPath)
	for i, p := range spec.Ports {
		path, target := fieldPath("spec.ports").index(i).key("targetPort"), p.TargetPort
		if target == 0 {
			path, target = fieldPath("spec.ports").index(i).key("port"), p.Port
		}
		if _, seen := app[target]; valid(target) && !seen {
			app[target] = path
		}
	}
	inbound := make(map[int32]fieldPath)
	for i, p := range spec.Ports {
		path := fieldPath("spec.ports").index(i).key("port")
		if !valid(p.Port) {
			continue
		}
		if at, dup := inbound[p.Port]; dup {
			c.add(path, "duplicate port %d (also %s)", p.Port, at)
			continue
		}
		inbound[p.Port] = path
		switch at, clash := app[p.Port]; {
		case !clash || addr != local:
		case p.TargetPort == 0 || p.TargetPort == p.Port:
			c.add(path, "the sidecar and the app would both bind %s:%d: "+
				"give the port a different targetPort, or the workload an address other than its localAddress", addr, p.Port)
		default:
			c.add(path, "%s:%d is where the app listens (%s); the sidecar cannot bind it", addr, p.Port, at)
		}
	}
	outbound := make(map[int32]fieldPath)
	for i, o := range spec.Outbound {
		path, lp := fieldPath("spec.outbound").index(i).key("localPort"), o.LocalPort
		if lp == 0 {
			path, lp = fieldPath("spec.outbound").index(i).key("port"), o.Port
		}
		if !valid(lp) {
			continue
		}
		if at, dup := outbound[lp]; dup {
			c.add(path, "duplicate local port %d (also %s)", lp, at)
			continue
		}
		outbound[lp] = path
		if at, clash := app[lp]; clash {
			c.add(path, "%s:%d is where the app listens (%s); the sidecar cannot bind it", local, lp, at)
		} else if at, clash := inbound[lp]; clash && addr == local {
			c.add(path, "%s:%d is already the sidecar's inbound port (%s)", local, lp, at)
		}
	}
}
