package bench

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"
)

// MeshPort is one port of the benchmark's Service: the sidecars listen on
// Port (the client-side sidecar in plaintext on its own address, the
// server-side one in mTLS) and the server-side sidecar forwards to the app
// on Target.
type MeshPort struct {
	Name   string
	Port   uint16
	Target uint16
	// L7Protocol is the port's appProtocol when the mesh is L7 (AppProtocol
	// "http"): "http", "kubernetes.io/h2c" or "grpc"; empty means "http".
	L7Protocol string
}

// MeshSide is one workload of the mesh configuration.
type MeshSide struct {
	Name           string
	ServiceAccount string
	Address        netip.Addr
	// LocalAddress is where the workload's app listens (and, for the
	// client side, where its outbound listeners are).
	LocalAddress netip.Addr
	Token        string // bootstrap token; the file holds its SHA-256
}

// MeshSpec is the weft set-up's configuration directory in one file.
type MeshSpec struct {
	Namespace string
	Service   string
	// AppProtocol is "tcp" (every port L4) or "http" (every port L7, with
	// its L7Protocol).
	AppProtocol string
	Ports       []MeshPort
	Client      MeshSide
	Server      MeshSide
}

// MeshYAML renders spec as Kubernetes-shaped YAML for weft-controlplane's
// --config-dir: one Service, the server's Workload behind it, and the
// client's Workload with an outbound listener per port.
func MeshYAML(spec MeshSpec) string {
	var b strings.Builder
	writeService(&b, spec.Namespace, spec.Service, spec.Service, spec.AppProtocol, spec.Ports)
	writeWorkload(&b, spec.Namespace, spec.Server, spec.Service, spec.Ports, nil)
	out := make([]outbound, 0, len(spec.Ports))
	for _, p := range spec.Ports {
		out = append(out, outbound{spec.Service, p.Port})
	}
	writeWorkload(&b, spec.Namespace, spec.Client, "client", nil, out)
	return b.String()
}

// ManyServicesYAML renders n Services, each with one Workload behind it at
// server (port basePort+i, so that the client's outbound listeners do not
// collide), and one client Workload with an outbound listener to every
// one: the big configuration of the idle RSS measurement.
func ManyServicesYAML(namespace, appProtocol string, n int, basePort uint16, client, server MeshSide) string {
	var b strings.Builder
	out := make([]outbound, 0, n)
	for i := range n {
		name := fmt.Sprintf("svc-%04d", i)
		port := []MeshPort{{Name: "http", Port: basePort + uint16(i), Target: basePort + uint16(i)}}
		writeService(&b, namespace, name, name, appProtocol, port)
		s := server
		s.Name = fmt.Sprintf("%s-%04d", server.Name, i)
		writeWorkload(&b, namespace, s, name, port, nil)
		out = append(out, outbound{name, port[0].Port})
	}
	writeWorkload(&b, namespace, client, "client", nil, out)
	return b.String()
}

type outbound struct {
	service string
	port    uint16
}

func writeService(b *strings.Builder, ns, name, app, appProtocol string, ports []MeshPort) {
	fmt.Fprintf(b, "apiVersion: v1\nkind: Service\nmetadata:\n  name: %s\n  namespace: %s\nspec:\n  selector:\n    app: %s\n  ports:\n", name, ns, app)
	for _, p := range ports {
		proto := appProtocol
		if appProtocol == "http" && p.L7Protocol != "" {
			proto = p.L7Protocol
		}
		fmt.Fprintf(b, "  - name: %s\n    port: %d\n    appProtocol: %s\n", p.Name, p.Port, proto)
	}
	b.WriteString("---\n")
}

func writeWorkload(b *strings.Builder, ns string, w MeshSide, app string, ports []MeshPort, out []outbound) {
	fmt.Fprintf(b, "apiVersion: mesh.weft.dev/v1alpha1\nkind: Workload\nmetadata:\n  name: %s\n  namespace: %s\n  labels:\n    app: %s\nspec:\n  serviceAccount: %s\n  address: %s\n  localAddress: %s\n",
		w.Name, ns, app, w.ServiceAccount, w.Address, w.LocalAddress)
	if len(ports) > 0 {
		b.WriteString("  ports:\n")
		for _, p := range ports {
			fmt.Fprintf(b, "  - name: %s\n    port: %d\n    targetPort: %d\n", p.Name, p.Port, p.Target)
		}
	}
	if len(out) > 0 {
		b.WriteString("  outbound:\n")
		for _, o := range out {
			fmt.Fprintf(b, "  - service: %s\n    port: %d\n", o.service, o.port)
		}
	}
	fmt.Fprintf(b, "  bootstrapTokenSHA256: %s\n---\n", digestHex(w.Token))
}

func digestHex(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
