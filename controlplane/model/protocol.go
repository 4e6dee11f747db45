package model

import "strings"

// Protocol is what a port carries, as far as the translator cares: raw TCP,
// or HTTP in one of its flavours. The zero value is ProtocolTCP.
type Protocol int

// The protocols a port can carry. Their order is the precedence
// InboundProtocol uses when several service ports target one workload port.
const (
	// ProtocolTCP is a port declared as TCP (an appProtocol other than an
	// HTTP one, or a name such as "tcp", "tls" or "https"): bytes are
	// proxied as they come and the proxy never waits to inspect them.
	ProtocolTCP Protocol = iota
	// ProtocolAuto is a port that declares nothing: the proxy sniffs the
	// first bytes the client sends and routes HTTP as L7, the rest as TCP.
	ProtocolAuto
	// ProtocolHTTP is HTTP/1.1 (or HTTP/2 with prior upgrade) to the app.
	ProtocolHTTP
	// ProtocolHTTP2 is cleartext HTTP/2 (h2c) to the app.
	ProtocolHTTP2
	// ProtocolGRPC is gRPC, that is HTTP/2 to the app.
	ProtocolGRPC
)

// String returns the protocol's name as written in appProtocol.
func (p Protocol) String() string {
	switch p {
	case ProtocolHTTP:
		return "http"
	case ProtocolHTTP2:
		return "http2"
	case ProtocolGRPC:
		return "grpc"
	case ProtocolAuto:
		return "auto"
	default:
		return "tcp"
	}
}

// IsHTTP reports whether the port carries HTTP of any flavour, so that the
// sidecars route it as L7 traffic.
func (p Protocol) IsHTTP() bool { return p >= ProtocolHTTP }

// IsHTTP2 reports whether the app speaks HTTP/2 on the port (http2, grpc).
func (p Protocol) IsHTTP2() bool { return p == ProtocolHTTP2 || p == ProtocolGRPC }

// PortProtocol returns the protocol of a service port, as docs/xds.md
// specifies. A non-empty appProtocol decides alone: "http", "http2", "grpc"
// and "kubernetes.io/h2c" are HTTP, anything else is TCP. Without it the
// port's name decides: "http", "http2", "grpc", or a name starting with
// "http-", "http2-" or "grpc-" is HTTP; "tcp", "tls", "https" or a name
// starting with "tcp-", "tls-" or "https-" is TCP; any other name, or none,
// is ProtocolAuto. Matching is exact and case-sensitive, as Kubernetes port
// names are lowercase.
func PortProtocol(sp ServicePort) Protocol {
	if sp.AppProtocol != "" {
		switch sp.AppProtocol {
		case "http":
			return ProtocolHTTP
		case "http2", "kubernetes.io/h2c":
			return ProtocolHTTP2
		case "grpc":
			return ProtocolGRPC
		default:
			return ProtocolTCP
		}
	}
	for _, p := range []Protocol{ProtocolHTTP, ProtocolHTTP2, ProtocolGRPC} {
		if name := p.String(); sp.Name == name || strings.HasPrefix(sp.Name, name+"-") {
			return p
		}
	}
	for _, name := range []string{"tcp", "tls", "https"} {
		if sp.Name == name || strings.HasPrefix(sp.Name, name+"-") {
			return ProtocolTCP
		}
	}
	return ProtocolAuto
}

// InboundProtocol returns the protocol of one port of workload w, from the
// service ports that target it (services of w's namespace whose selector
// picks w, as in Endpoints). The port is HTTP only when at least one service
// port targets it and every one that does is HTTP; a port behind both an
// HTTP and a TCP service port stays TCP. Among HTTP ports the app speaks
// HTTP/2 only when every one says so: ProtocolHTTP wins over ProtocolHTTP2,
// which wins over ProtocolGRPC. The mesh must be sorted (Sort): only w's
// namespace is read, so that the cost follows it, not the mesh.
func (m *Mesh) InboundProtocol(w *Workload, p WorkloadPort) Protocol {
	found := false
	result := ProtocolGRPC
	lo, hi := namespaceRange(m.Services, w.Namespace, func(s *Service) string { return s.Namespace })
	for i := lo; i < hi; i++ {
		svc := &m.Services[i]
		if !selects(svc.Selector, w.Labels) {
			continue
		}
		for _, sp := range svc.Ports {
			wp, ok := w.servePort(sp)
			if !ok || wp.Port != p.Port {
				continue
			}
			found = true
			result = min(result, PortProtocol(sp))
		}
	}
	if !found {
		return ProtocolTCP
	}
	return result
}
