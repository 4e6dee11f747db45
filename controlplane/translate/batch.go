package translate

import (
	"errors"
	"fmt"
	"sync"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"

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

	mu       sync.Mutex
	clusters map[servicePortRef]*sharedCluster
	dests    map[servicePortRef]*sharedDests

	// gateways is gateway.Resolve of the mesh, for its gateway proxies
	// (gatewayResolution).
	gatewayOnce sync.Once
	gateways    *gateway.Resolution
}

// sharedCluster is one service port's outbound cluster, built by the
// first workload that needs it while the others wait.
type sharedCluster struct {
	once       sync.Once
	cluster    *cluster.Cluster
	assignment *endpoint.ClusterLoadAssignment
	err        error
}

// sharedDests is one service port's podDests, listed by the first
// workload that needs them while the others wait.
type sharedDests struct {
	once  sync.Once
	dests []podDest
}

// NewBatch returns a Batch for m, which must be sorted (model.Mesh.Sort).
func NewBatch(m *model.Mesh) *Batch {
	return &Batch{m: m, clusters: map[servicePortRef]*sharedCluster{}, dests: map[servicePortRef]*sharedDests{}}
}

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
	b.mu.Lock()
	e := b.clusters[ref]
	if e == nil {
		e = &sharedCluster{}
		b.clusters[ref] = e
	}
	b.mu.Unlock()
	e.once.Do(func() { e.cluster, e.assignment, e.err = outboundCluster(b.m, ref) })
	return e.cluster, e.assignment, e.err
}

// podDests is the package's podDests, listed once per service port for
// the whole Batch; a nil Batch lists them every time. The slice is shared:
// callers must not modify it.
func (b *Batch) podDests(m *model.Mesh, ref servicePortRef) []podDest {
	if b == nil {
		return podDests(m, ref)
	}
	b.mu.Lock()
	e := b.dests[ref]
	if e == nil {
		e = &sharedDests{}
		b.dests[ref] = e
	}
	b.mu.Unlock()
	e.once.Do(func() { e.dests = podDests(b.m, ref) })
	return e.dests
}
