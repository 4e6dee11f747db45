package xds

import (
	"context"
	"slices"

	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/log"

	"github.com/weftmesh/weft/controlplane/model"
)

// proxylessCache serves proxyless gRPC clients from a snapshot cache of
// their own and every other node from the sidecars' cache.
//
// The sidecars' cache runs in ADS mode: it orders responses (clusters
// before their endpoints, listeners before their routes) and answers a
// request that names resources only once it names every resource of
// that type in the snapshot. A grpc-go client names just the listeners
// (and then routes, clusters, endpoints) of the channels it has open, a
// subset of its snapshot, so an ADS-mode cache would never answer it. Its
// cache answers a named request with the named resources, as grpc-go
// expects, and grpc-go needs no ordering.
//
// isProxyless decides, from the node ID of a stream's requests and of
// each SetSnapshot, which cache a node uses; Server answers from the
// current mesh, as Update does when it picks Proxyless over Proxy.
type proxylessCache struct {
	cachev3.SnapshotCache // the sidecars'
	proxyless             cachev3.SnapshotCache
	isProxyless           func(node string) bool
}

var _ cachev3.SnapshotCache = (*proxylessCache)(nil)

// withProxyless returns sidecars with a second cache for the nodes
// isProxyless names.
func withProxyless(sidecars cachev3.SnapshotCache, logger log.Logger, isProxyless func(node string) bool) *proxylessCache {
	return &proxylessCache{
		SnapshotCache: sidecars,
		proxyless:     cachev3.NewSnapshotCache(false, cachev3.IDHash{}, logger),
		isProxyless:   isProxyless,
	}
}

// isProxyless reports whether node is a proxyless workload of the
// current mesh.
func (s *Server) isProxyless(node string) bool {
	key, err := model.ParseNodeID(node)
	if err != nil {
		return false
	}
	m := s.mesh.Load()
	if m == nil {
		return false
	}
	w := m.Workload(key)
	return w != nil && w.Proxyless
}

// pick returns the cache of node and the other one.
func (c *proxylessCache) pick(node string) (cachev3.SnapshotCache, cachev3.SnapshotCache) {
	if c.isProxyless(node) {
		return c.proxyless, c.SnapshotCache
	}
	return c.SnapshotCache, c.proxyless
}

// SetSnapshot sets the snapshot in node's cache and clears it from the
// other, in case the node changed kind.
func (c *proxylessCache) SetSnapshot(ctx context.Context, node string, snap cachev3.ResourceSnapshot) error {
	mine, other := c.pick(node)
	other.ClearSnapshot(node)
	return mine.SetSnapshot(ctx, node, snap)
}

func (c *proxylessCache) GetSnapshot(node string) (cachev3.ResourceSnapshot, error) {
	mine, _ := c.pick(node)
	return mine.GetSnapshot(node)
}

func (c *proxylessCache) ClearSnapshot(node string) {
	c.SnapshotCache.ClearSnapshot(node)
	c.proxyless.ClearSnapshot(node)
}

func (c *proxylessCache) GetStatusInfo(node string) cachev3.StatusInfo {
	mine, _ := c.pick(node)
	return mine.GetStatusInfo(node)
}

func (c *proxylessCache) GetStatusKeys() []string {
	keys := append(c.SnapshotCache.GetStatusKeys(), c.proxyless.GetStatusKeys()...)
	slices.Sort(keys)
	return slices.Compact(keys)
}

func (c *proxylessCache) CreateWatch(req *cachev3.Request, sub cachev3.Subscription, value chan cachev3.Response) (func(), error) {
	mine, _ := c.pick(req.GetNode().GetId())
	return mine.CreateWatch(req, sub, value)
}

func (c *proxylessCache) CreateDeltaWatch(req *cachev3.DeltaRequest, sub cachev3.Subscription, value chan cachev3.DeltaResponse) (func(), error) {
	mine, _ := c.pick(req.GetNode().GetId())
	return mine.CreateDeltaWatch(req, sub, value)
}

func (c *proxylessCache) Fetch(ctx context.Context, req *cachev3.Request) (cachev3.Response, error) {
	mine, _ := c.pick(req.GetNode().GetId())
	return mine.Fetch(ctx, req)
}
