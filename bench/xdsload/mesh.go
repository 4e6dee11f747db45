package xdsload

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/weftmesh/weft/controlplane/model"
	"github.com/weftmesh/weft/controlplane/translate"
)

const servicePort = 9000

// Mesh builds the benchmark's meshes. Service s is svc-<s> in namespace
// ns-<s mod Namespaces>, with EndpointsPerService slice endpoints whose pods
// (ep-<s>-<k>, service account svc-<s>) are workloads without ports. Proxy
// c is workload client-<c> in ns-<c mod Namespaces>, service account
// client, with one Outbound entry per service of Services(c).
type Mesh struct {
	cfg       Config
	td        spiffeid.TrustDomain
	workloads []model.Workload
	services  []model.Service // sorted
	index     map[int]int     // service number → position in services
}

// NewMesh precomputes the parts every round shares.
func NewMesh(cfg Config) *Mesh {
	b := &Mesh{cfg: cfg, td: spiffeid.RequireTrustDomainFromString("cluster.local"), index: map[int]int{}}
	for s := range cfg.Services {
		key := b.service(s)
		svc := model.Service{
			Name: key.Name, Namespace: key.Namespace,
			Ports: []model.ServicePort{{Name: "tcp", Port: servicePort, TargetPort: servicePort, AppProtocol: "tcp"}},
		}
		svc.Slices = b.slices(s, 0)
		b.services = append(b.services, svc)
		for k := range cfg.EndpointsPerService {
			b.workloads = append(b.workloads, model.Workload{
				Name: fmt.Sprintf("ep-%d-%d", s, k), Namespace: key.Namespace, ServiceAccount: key.Name,
			})
		}
	}
	local := netip.MustParseAddr("127.0.0.1")
	for c := range cfg.Clients {
		w := model.Workload{Name: fmt.Sprintf("client-%d", c), Namespace: namespace(c, cfg.Namespaces), ServiceAccount: "client", LocalAddress: local}
		for k, s := range b.Services(c) {
			w.Outbound = append(w.Outbound, model.Outbound{Service: b.service(s), Port: servicePort, LocalPort: uint32(10000 + k)})
		}
		b.workloads = append(b.workloads, w)
	}
	m := model.Mesh{TrustDomain: b.td, Services: b.services, Workloads: b.workloads}
	m.Sort()
	b.services, b.workloads = m.Services, m.Workloads
	for i, svc := range b.services {
		var s int
		_, _ = fmt.Sscanf(svc.Name, "svc-%d", &s)
		b.index[s] = i
	}
	return b
}

func namespace(i, n int) string { return fmt.Sprintf("ns-%d", i%n) }

func (b *Mesh) service(s int) model.NamespacedName {
	return model.NamespacedName{Namespace: namespace(s, b.cfg.Namespaces), Name: fmt.Sprintf("svc-%d", s)}
}

// Services lists the services proxy c calls: spread evenly, so that each
// service has about Clients×ServicesPerClient/Services callers.
func (b *Mesh) Services(c int) []int {
	stride := max(b.cfg.Services/b.cfg.ServicesPerClient, 1)
	out := make([]int, 0, b.cfg.ServicesPerClient)
	for k := range b.cfg.ServicesPerClient {
		s := (c + k*stride) % b.cfg.Services
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// Callers lists the proxies that call service s.
func (b *Mesh) Callers(s int) []int {
	var out []int
	for c := range b.cfg.Clients {
		if slices.Contains(b.Services(c), s) {
			out = append(out, c)
		}
	}
	return out
}

// ChangedService is the service whose endpoints change i (1-based) moves.
func (b *Mesh) ChangedService(i int) int { return (i * 397) % b.cfg.Services }

// Marker is the address endpoint 0 of ChangedService(i) takes in change i.
func Marker(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{100, 64, byte(i >> 8 & 0xff), byte(i & 0xff)})
}

// ChangeOf is the change whose Marker addr is, or 0.
func ChangeOf(addr netip.Addr) int {
	a := addr.As4()
	if !addr.Is4() || a[0] != 100 || a[1] != 64 {
		return 0
	}
	return int(a[2])<<8 | int(a[3])
}

// slices are service s's endpoints; endpoint 0 carries Marker(change)
// when change > 0.
func (b *Mesh) slices(s, change int) []model.SliceEndpoint {
	key := b.service(s)
	out := make([]model.SliceEndpoint, 0, b.cfg.EndpointsPerService)
	for k := range b.cfg.EndpointsPerService {
		e := uint32(s*b.cfg.EndpointsPerService + k + 1) //nolint:gosec // bounded by Validate
		addr := netip.AddrFrom4([4]byte{10, byte(e >> 16 & 0xff), byte(e >> 8 & 0xff), byte(e & 0xff)})
		if k == 0 && change > 0 {
			addr = Marker(change)
		}
		out = append(out, model.SliceEndpoint{
			Address: addr, Ports: map[string]uint32{"tcp": servicePort}, Ready: true,
			Pod: &model.NamespacedName{Namespace: key.Namespace, Name: fmt.Sprintf("ep-%d-%d", s, k)},
		})
	}
	return out
}

// Build returns the mesh after changes 1…upTo: each changed service's
// endpoint 0 at the marker of the last change that moved it.
func (b *Mesh) Build(upTo int) *model.Mesh {
	services := slices.Clone(b.services)
	last := map[int]int{}
	for i := 1; i <= upTo; i++ {
		last[b.ChangedService(i)] = i
	}
	for s, i := range last {
		services[b.index[s]].Slices = b.slices(s, i)
	}
	return &model.Mesh{TrustDomain: b.td, Services: services, Workloads: b.workloads}
}

// NodeID is proxy c's xDS node ID.
func (b *Mesh) NodeID(c int) string {
	return model.NodeID(fmt.Sprintf("client-%d", c), namespace(c, b.cfg.Namespaces))
}

// Identity is proxy c's SPIFFE ID.
func (b *Mesh) Identity(c int) spiffeid.ID {
	return spiffeid.RequireFromPathf(b.td, "/ns/%s/sa/client", namespace(c, b.cfg.Namespaces))
}

// ClusterName is the outbound cluster (and assignment) of service s.
func (b *Mesh) ClusterName(s int) string {
	return translate.OutboundClusterName(b.service(s), servicePort)
}
