package translate

import (
	"errors"
	"fmt"
	"sync"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/weftmesh/weft/controlplane/model"
	"github.com/weftmesh/weft/gateway"
)

// Batch translates many workloads of one mesh, as xds.Server.Update does
// on every change, and builds once what does not depend on the client:
// each service port's outbound EDS cluster and ClusterLoadAssignment
// (outboundCluster reads only the mesh and the service port). Every Pod
// whose scope holds a Service gets that Service's clusters, so without
// sharing a change to one Service rebuilt the same two protos for each
// of its callers and endpoints (docs/performance.md); with it they are
// built once per Batch and the callers' Resources point to the same
// messages. The result is the one Proxy gives, message for message:
// the shared messages are never modified once built, and nothing that
// receives Resources may modify them (go-control-plane only reads them).
//
// A Batch is for one mesh only, which must not change while it is used:
// make a new one for each. Its methods may be called concurrently.
type Batch struct {
	m *model.Mesh

	views       memo[servicePortRef, servicePortView]
	clusters    memo[servicePortRef, outboundPair]
	dests       memo[servicePortRef, []podDest]
	podClusters memo[string, *cluster.Cluster]      // by name (podIPCluster)
	tcpProxies  memo[tcpProxyKey, *listener.Filter] // pod-IP chains

	// gateways is gateway.Resolve of the mesh, for its gateway proxies
	// (gatewayResolution).
	gatewayOnce sync.Once
	gateways    *gateway.Resolution
}

// outboundPair is one service port's outbound cluster and assignment.
type outboundPair struct {
	cluster    *cluster.Cluster
	assignment *endpoint.ClusterLoadAssignment
}

// memo builds each key's value once for the whole Batch: the first
// workload that needs it builds it while the others wait.
type memo[K comparable, V any] struct {
	mu      sync.Mutex
	entries map[K]*memoEntry[V]
}

type memoEntry[V any] struct {
	once sync.Once
	v    V
	err  error
}

func (c *memo[K, V]) get(k K, build func() (V, error)) (V, error) {
	c.mu.Lock()
	if c.entries == nil {
		c.entries = make(map[K]*memoEntry[V])
	}
	e := c.entries[k]
	if e == nil {
		e = &memoEntry[V]{}
		c.entries[k] = e
	}
	c.mu.Unlock()
	e.once.Do(func() { e.v, e.err = build() })
	return e.v, e.err
}

// NewBatch returns a Batch for m, which must be sorted (model.Mesh.Sort).
func NewBatch(m *model.Mesh) *Batch { return &Batch{m: m} }

// Mesh returns the mesh b translates.
func (b *Batch) Mesh() *model.Mesh { return b.m }

// Proxy is translate.Proxy(m, w) for the Batch's mesh.
func (b *Batch) Proxy(w *model.Workload) (Resources, error) {
	if b == nil || b.m == nil || w == nil {
		return nil, errors.New("translate: nil mesh or workload")
	}
	res, err := proxy(b.m, w, b)
	if err != nil {
		return nil, fmt.Errorf("translating workload %s: %w", w.Key(), err)
	}
	return res, nil
}

// Proxyless is translate.Proxyless(m, w) for the Batch's mesh; nothing is
// shared yet (a proxyless client's clusters differ from a sidecar's).
func (b *Batch) Proxyless(w *model.Workload) (Resources, error) {
	if b == nil {
		return nil, errors.New("translate: nil mesh or workload")
	}
	return Proxyless(b.m, w)
}

// outboundCluster is the package's outboundCluster, built once per service
// port for the whole Batch; a nil Batch builds it every time.
func (b *Batch) outboundCluster(m *model.Mesh, ref servicePortRef) (*cluster.Cluster, *endpoint.ClusterLoadAssignment, error) {
	if b == nil {
		return outboundCluster(m, ref)
	}
	p, err := b.clusters.get(ref, func() (outboundPair, error) {
		c, cla, err := outboundClusterOf(b.m, ref, b.view(ref))
		return outboundPair{c, cla}, err
	})
	return p.cluster, p.assignment, err
}

// view is the service port and its endpoints, looked up once for the
// Batch's clusters and pod-IP chains alike.
func (b *Batch) view(ref servicePortRef) servicePortView {
	v, _ := b.views.get(ref, func() (servicePortView, error) { return lookupServicePort(b.m, ref), nil })
	return v
}

// podDests is the package's podDests, listed once per service port for
// the whole Batch; a nil Batch lists them every time. The slice is shared:
// callers must not modify it.
func (b *Batch) podDests(m *model.Mesh, ref servicePortRef) []podDest {
	if b == nil {
		return podDests(m, lookupServicePort(m, ref))
	}
	dests, _ := b.dests.get(ref, func() ([]podDest, error) { return podDests(b.m, b.view(ref)), nil })
	return dests
}

// podIPCluster is the package's podIPCluster, built once per identity for
// the whole Batch (every Pod that can reach that identity's pods sends
// the same one); a nil Batch builds it every time.
func (b *Batch) podIPCluster(name string, id spiffeid.ID) (*cluster.Cluster, error) {
	if b == nil {
		return podIPCluster(name, id)
	}
	return b.podClusters.get(name, func() (*cluster.Cluster, error) { return podIPCluster(name, id) })
}

// tcpProxyKey is what a pod-IP chain's tcp_proxy depends on.
type tcpProxyKey struct {
	cluster string
	logged  bool
}

// tcpProxy is tcpProxyFilter(cluster, logged), built once per cluster for
// the whole Batch's pod-IP chains; a nil Batch builds it every time.
func (b *Batch) tcpProxy(cluster string, logged bool) (*listener.Filter, error) {
	if b == nil {
		return tcpProxyFilter(cluster, logged)
	}
	return b.tcpProxies.get(tcpProxyKey{cluster, logged}, func() (*listener.Filter, error) { return tcpProxyFilter(cluster, logged) })
}
