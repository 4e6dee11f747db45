package meshmetrics

import (
	"net/http"
	"strings"
)

// Headers between sidecars. A client sidecar adds the Source ones to
// requests it sends over mTLS; the server sidecar reads and deletes them
// before the app sees the request. A server sidecar adds the Destination
// ones to responses it sends over mTLS; the client sidecar reads and
// deletes them. Neither is trusted from a plaintext peer, nor when the
// namespace it claims is not the one of the peer's certificate.
const (
	HeaderSourceWorkload       = "X-Weft-Source-Workload"
	HeaderSourceNamespace      = "X-Weft-Source-Namespace"
	HeaderDestinationWorkload  = "X-Weft-Destination-Workload"
	HeaderDestinationNamespace = "X-Weft-Destination-Namespace"
)

// NamespaceOf returns the namespace of a mesh SPIFFE ID
// (spiffe://<td>/ns/<namespace>/sa/<sa>), "" for any other.
func NamespaceOf(principal string) string {
	rest, ok := strings.CutPrefix(principal, "spiffe://")
	if !ok {
		return ""
	}
	_, path, ok := strings.Cut(rest, "/")
	if !ok {
		return ""
	}
	parts := strings.Split(path, "/")
	if len(parts) != 4 || parts[0] != "ns" || parts[2] != "sa" || parts[1] == "" {
		return ""
	}
	return parts[1]
}

// Peer is the workload at the other end of a connection.
type Peer struct {
	Workload, Namespace, Principal string
}

// TakePeer reads the workload a peer claims in the header fields named
// workloadKey and namespaceKey, deletes both from h, and returns the peer:
// principal is its verified SPIFFE ID ("" for a plaintext peer, whose
// claims are ignored), the namespace is the certificate's, and the claimed
// workload counts only when the claimed namespace is that one.
func TakePeer(h http.Header, principal, workloadKey, namespaceKey string) Peer {
	workload, namespace := h.Get(workloadKey), h.Get(namespaceKey)
	h.Del(workloadKey)
	h.Del(namespaceKey)
	p := Peer{Principal: principal, Namespace: NamespaceOf(principal)}
	if p.Namespace != "" && namespace == p.Namespace && validName(workload) {
		p.Workload = workload
	}
	return p
}

// validName reports a DNS-label-like name, so that a peer cannot put an
// arbitrary string in a label.
func validName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, c := range []byte(s) {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

// ServiceOf returns the service FQDN of an outbound cluster name
// ("outbound|<port>||<fqdn>"), "" for other clusters.
func ServiceOf(cluster string) string {
	rest, ok := strings.CutPrefix(cluster, "outbound|")
	if !ok {
		return ""
	}
	_, fqdn, ok := strings.Cut(rest, "||")
	if !ok {
		return ""
	}
	return fqdn
}
