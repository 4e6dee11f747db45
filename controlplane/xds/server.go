package xds

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/weftmesh/weft/controlplane/model"
	"github.com/weftmesh/weft/controlplane/translate"
)

// Config configures a Server. Logger and Registerer may be nil: no logs, no
// metrics.
type Config struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Server holds one snapshot per workload and serves them over ADS.
type Server struct {
	log     *slog.Logger
	cache   cachev3.SnapshotCache
	mesh    atomic.Pointer[model.Mesh]
	streams *streams
	metrics *metrics

	mu       sync.Mutex // serializes Update and SetResources
	versions map[string]string
}

// New returns a Server holding no configuration.
func New(cfg Config) *Server {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		log:      log,
		cache:    cachev3.NewSnapshotCache(true, cachev3.IDHash{}, cacheLogger{log: log}),
		versions: map[string]string{},
		metrics:  newMetrics(cfg.Registerer),
	}
	s.streams = newStreams(log, s.metrics, s.authorize)
	return s
}

// Register adds the ADS service to a gRPC server. ctx bounds the streams.
func (s *Server) Register(ctx context.Context, g *grpc.Server) {
	srv := serverv3.NewServer(ctx, s.cache, s.streams)
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(g, srv)
}

// Update translates the mesh for every workload and replaces its snapshot;
// workloads no longer in the mesh lose theirs. On error nothing is replaced
// for the failing workload and the error names it; other workloads are
// still updated.
func (s *Server) Update(ctx context.Context, m *model.Mesh) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mesh.Store(m)

	var errs []error
	seen := make(map[string]bool, len(m.Workloads))
	for i := range m.Workloads {
		w := &m.Workloads[i]
		node := w.NodeID()
		seen[node] = true
		res, err := translate.Proxy(m, w)
		if err != nil {
			errs = append(errs, fmt.Errorf("workload %s: %w", w.Key(), err))
			continue
		}
		if err := s.setLocked(ctx, node, res); err != nil {
			errs = append(errs, fmt.Errorf("workload %s: %w", w.Key(), err))
		}
	}
	for node := range s.versions {
		if !seen[node] {
			s.cache.ClearSnapshot(node)
			delete(s.versions, node)
		}
	}
	return errors.Join(errs...)
}

// SetResources replaces one proxy's snapshot with res as it is, bypassing
// translation. Tests use it to send what the translator would never make.
func (s *Server) SetResources(ctx context.Context, nodeID string, res translate.Resources) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.setLocked(ctx, nodeID, res)
}

func (s *Server) setLocked(ctx context.Context, node string, res translate.Resources) error {
	version, err := digest(res)
	if err != nil {
		return err
	}
	if s.versions[node] == version {
		return nil
	}
	snap, err := cachev3.NewSnapshot(version, res)
	if err != nil {
		return fmt.Errorf("building snapshot: %w", err)
	}
	if err := snap.Consistent(); err != nil {
		return fmt.Errorf("inconsistent snapshot: %w", err)
	}
	if err := s.cache.SetSnapshot(ctx, node, snap); err != nil {
		return fmt.Errorf("setting snapshot: %w", err)
	}
	s.versions[node] = version
	s.metrics.pushes.Inc()
	s.log.Debug("snapshot set", "node", node, "version", version)
	return nil
}

// Mesh returns the mesh of the last Update, or nil before the first.
func (s *Server) Mesh() *model.Mesh { return s.mesh.Load() }

// Status reports, per connected proxy, what it last acknowledged or refused.
func (s *Server) Status() []ProxyStatus { return s.streams.status() }
