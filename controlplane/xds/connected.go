package xds

import (
	"context"
	"time"

	"github.com/weftmesh/weft/controlplane/model"
	"github.com/weftmesh/weft/controlplane/translate"
)

// Snapshots follow the streams. A mesh of 11,000 injected Pods of which
// 1,000 have a proxy connected to this replica needs 1,000 snapshots
// here, not 11,000 (Istio pushes only to connected proxies, and each
// replica of a scaled-out control plane should hold only its own
// proxies'): Update translates only the held nodes, those with an open
// stream (either variant) or that closed their last one less than grace
// ago. When a node's first stream opens, streams calls connected before
// go-control-plane looks for its snapshot: a node without one gets it
// from the current mesh there, so its first request is answered at once.
// When its last stream closes, disconnected starts the grace period, at
// the end of which the node's snapshot, interned resources and push
// records go; a proxy that reconnects within it keeps its snapshot (kept
// up to date meanwhile) and, its version being a digest of its content,
// is sent nothing it already has.

// connected makes node held and gives it a snapshot of the current mesh
// unless it has one. It translates outside s.mu, so that the proxies of a
// whole cluster connecting at once are translated on every CPU, and sets
// the snapshot only if no Update changed the mesh meanwhile (or else
// translates again under s.mu).
func (s *Server) connected(node string) {
	start := time.Now()
	s.mu.Lock()
	s.held[node] = true
	if t := s.expiry[node]; t != nil {
		t.Stop()
		delete(s.expiry, node)
	}
	_, has := s.versions[node]
	m := s.mesh.Load()
	s.mu.Unlock()
	if has || m == nil {
		return // kept up to date; or the first Update will translate it
	}
	res, ok, err := s.translateNode(m, node)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, has := s.versions[node]; has || !s.held[node] {
		return // an Update set it meanwhile; or it went already
	}
	if s.mesh.Load() != m {
		// An Update came in between and did not hold node yet.
		m = s.mesh.Load()
		res, ok, err = s.translateNode(m, node)
	}
	if !ok {
		return
	}
	p := prepared{err: err}
	if err == nil {
		p = s.prepare(node, res)
	}
	// No context reaches a stream callback; SetSnapshot uses it only to
	// answer watches, which it does not block on.
	if err := s.commitLocked(context.Background(), node, p, start, true); err != nil {
		s.failed[node] = err
		s.log.Warn("configuration of a connecting proxy not set", "node", node, "error", err)
		return
	}
	delete(s.failed, node)
}

// translateNode translates node's workload from m, sharing the clusters
// of the last Update when it was of m; false when node is not a workload
// of m (its stream is refused). A translation error is returned for the
// caller to record in s.failed, which Update reports.
func (s *Server) translateNode(m *model.Mesh, node string) (translate.Resources, bool, error) {
	key, err := model.ParseNodeID(node)
	if err != nil {
		return nil, false, nil
	}
	w := m.Workload(key)
	if w == nil {
		return nil, false, nil
	}
	b := s.batch.Load()
	if b == nil || b.Mesh() != m {
		b = translate.NewBatch(m)
	}
	res, err := s.translate(b, w)
	return res, true, err
}

// translate translates w from b's mesh: a sidecar's configuration, or a
// grpc-go xds:/// client's.
func (s *Server) translate(b *translate.Batch, w *model.Workload) (translate.Resources, error) {
	s.metrics.translations.Inc()
	if w.Proxyless {
		return b.Proxyless(w)
	}
	return b.Proxy(w)
}

// disconnected starts node's grace period: its last stream closed.
func (s *Server) disconnected(node string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.expiry[node]; t != nil {
		t.Stop()
	}
	if s.grace < 0 {
		delete(s.expiry, node)
		s.expireLocked(node)
		return
	}
	var t *time.Timer
	t = time.AfterFunc(s.grace, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.expiry[node] == t { // not stopped nor replaced since
			delete(s.expiry, node)
			s.expireLocked(node)
		}
	})
	s.expiry[node] = t
}

// expireLocked drops node's snapshot and what goes with it, unless a
// stream of it opened again.
func (s *Server) expireLocked(node string) {
	if s.streams.connected(node) {
		return
	}
	delete(s.held, node)
	delete(s.failed, node)
	if _, ok := s.versions[node]; !ok {
		return
	}
	s.cache.ClearSnapshot(node)
	delete(s.versions, node)
	s.countLocked(node, nil)
	s.interned.release(node)
	s.streams.forget(node)
	s.log.Debug("snapshot of a disconnected proxy dropped", "node", node)
}
