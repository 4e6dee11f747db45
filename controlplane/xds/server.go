package xds

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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
	// SendTimeout bounds how long one response may wait for its proxy to
	// read it; past it the stream is closed (the proxy reconnects and
	// resumes). Zero means DefaultSendTimeout, a negative value no bound.
	SendTimeout time.Duration
	// Grace is how long a workload's snapshot outlives its last stream
	// on this server, so that a proxy reconnecting within it finds its
	// configuration as it left it (and up to date) and is sent nothing
	// new. Zero means DefaultGrace, a negative value none (the snapshot
	// goes with the stream).
	Grace time.Duration
	// AllWorkloads makes Update translate every workload of the mesh and
	// keep a snapshot for each, connected or not: the behaviour before
	// snapshots followed the streams (connected.go), for tests that read
	// snapshots without opening streams and for comparisons.
	AllWorkloads bool
}

// DefaultGrace is Config.Grace's default: long enough for a proxy's
// reconnection (its backoff starts under a second), short enough that
// the memory of proxies that went follows them.
const DefaultGrace = 10 * time.Second

// Server holds one snapshot per connected workload and serves them over
// ADS.
type Server struct {
	log     *slog.Logger
	cache   cachev3.SnapshotCache
	mesh    atomic.Pointer[model.Mesh]
	streams *streams
	metrics *metrics
	// sendTimeout is Config.SendTimeout with the default applied.
	sendTimeout time.Duration

	mu       sync.Mutex // serializes Update and SetResources
	versions map[string]string
	counts   map[string]map[string]int // resources per type of each node's snapshot
	failed   map[string]error          // nodes whose last translation failed
	interned *interner

	// Which workloads have snapshots (connected.go).
	all   bool
	grace time.Duration
	// held are the nodes whose snapshots Update keeps: connected, or
	// disconnected less than grace ago (unused when all).
	held map[string]bool
	// expiry holds the timer of each held node that has no stream.
	expiry map[string]*time.Timer
	// batch shares clusters between the translations of one mesh: those
	// of the last Update and of the proxies that connect after it.
	batch atomic.Pointer[translate.Batch]
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
		counts:   map[string]map[string]int{},
		failed:   map[string]error{},
		interned: newInterner(),
		metrics:  newMetrics(cfg.Registerer),
		all:      cfg.AllWorkloads,
		grace:    cmp.Or(cfg.Grace, DefaultGrace),
		held:     map[string]bool{},
		expiry:   map[string]*time.Timer{},
	}
	// Proxyless gRPC clients get a cache of their own (proxyless.go).
	s.cache = withProxyless(s.cache, cacheLogger{log: log}, s.isProxyless)
	s.sendTimeout = cfg.SendTimeout
	if s.sendTimeout == 0 {
		s.sendTimeout = DefaultSendTimeout
	}
	s.streams = newStreams(log, s.metrics, s.authorize)
	if !s.all {
		s.streams.up, s.streams.down = s.connected, s.disconnected
	}
	return s
}

// ServerOptions are the gRPC transport options for a server carrying the
// ADS streams of many proxies: long-lived, mostly idle connections that
// receive small requests (ACKs) and send bursts. Each connection gets a
// 4 KiB read buffer and a 16 KiB write buffer instead of 32 KiB each (gRPC
// already takes write buffers from a shared pool): at 1,000 proxies this
// saves tens of megabytes (docs/performance.md).
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ReadBufferSize(4 << 10),
		grpc.WriteBufferSize(16 << 10),
	}
}

// Register adds the ADS service, state of the world and delta, to a gRPC
// server. ctx bounds the streams.
func (s *Server) Register(ctx context.Context, g *grpc.Server) {
	srv := serverv3.NewServer(ctx, s.cache, s.streams)
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(g, &boundedADS{Server: srv, timeout: s.sendTimeout})
}

// Update translates the mesh for every workload that has a stream open on
// this server (or closed its last one less than Config.Grace ago; every
// workload with Config.AllWorkloads) and replaces its snapshot; a workload
// that connects later gets its snapshot then (connected.go), and
// workloads no longer in the mesh lose theirs. When m differs from the
// previous mesh only in endpoints and a few workloads, the workloads that
// change cannot reach keep their snapshots untranslated (affectedBy). On
// error nothing is replaced for the failing workload and the error names
// it (again on every Update while it fails); other workloads are still
// updated. m must not be modified afterwards: Update compares the next mesh
// with it.
func (s *Server) Update(ctx context.Context, m *model.Mesh) error {
	start := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	prev := s.mesh.Swap(m)

	// When only endpoints and workloads changed, only the workloads that
	// read them are translated again (affectedBy); otherwise all are.
	affected, fast := affectedBy(prev, m)
	var todo []int
	if fast {
		todo = slices.Sorted(maps.Keys(affected))
	} else {
		todo = make([]int, len(m.Workloads))
		for i := range todo {
			todo[i] = i
		}
	}
	if !s.all {
		// Only the nodes that have, or are about to get, a stream here.
		todo = slices.DeleteFunc(todo, func(i int) bool { return !s.held[m.Workloads[i].NodeID()] })
	}
	batch := translate.NewBatch(m)
	s.batch.Store(batch)

	// Translation dominates an update and each workload's is independent:
	// spread it over the CPUs, then set the changed snapshots in order.
	// Each snapshot is interned as soon as it is translated, so that the
	// copies of shared resources are garbage at once and a full update of
	// thousands of proxies does not hold them all (prepare).
	out := make([]prepared, len(todo))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(todo)) {
		wg.Go(func() {
			for {
				n := int(next.Add(1) - 1)
				if n >= len(todo) {
					return
				}
				w := &m.Workloads[todo[n]]
				res, err := s.translate(batch, w)
				if err != nil {
					out[n] = prepared{err: err}
					continue
				}
				out[n] = s.prepare(w.NodeID(), res)
			}
		})
	}
	wg.Wait()

	errs := map[int]error{} // by workload index
	for n, i := range todo {
		w := &m.Workloads[i]
		node := w.NodeID()
		if err := s.commitLocked(ctx, node, out[n], start, false); err != nil {
			err = fmt.Errorf("workload %s: %w", w.Key(), err)
			s.failed[node] = err
			errs[i] = err
		} else {
			delete(s.failed, node)
		}
	}
	if fast && sameSlice(prev.Workloads, m.Workloads) {
		// The same workloads: none went, and those not translated again
		// that failed still fail, their input unchanged.
		for node, err := range s.failed {
			if key, perr := model.ParseNodeID(node); perr == nil {
				if i, ok := workloadIndex(m.Workloads, key); ok && !affected[i] {
					errs[i] = err
				}
			}
		}
	} else {
		s.forgetGoneLocked(m, affected, fast, errs)
	}
	joined := make([]error, 0, len(errs))
	for _, i := range slices.Sorted(maps.Keys(errs)) {
		joined = append(joined, errs[i])
	}
	return errors.Join(joined...)
}

// forgetGoneLocked drops the snapshots and failures of the nodes m no
// longer has, and adds to errs the failures of the workloads an
// incremental update (fast) did not translate again.
func (s *Server) forgetGoneLocked(m *model.Mesh, affected map[int]bool, fast bool, errs map[int]error) {
	seen := make(map[string]bool, len(m.Workloads))
	for i := range m.Workloads {
		node := m.Workloads[i].NodeID()
		seen[node] = true
		if fast && !affected[i] {
			if err := s.failed[node]; err != nil {
				errs[i] = err // still failing: its input did not change
			}
		}
	}
	for node := range s.failed {
		if !seen[node] {
			delete(s.failed, node)
		}
	}
	for node := range s.versions {
		if !seen[node] {
			s.cache.ClearSnapshot(node)
			delete(s.versions, node)
			s.countLocked(node, nil)
			s.interned.release(node)
			s.streams.forget(node)
		}
	}
}

// workloadIndex finds key in the sorted workloads.
func workloadIndex(ws []model.Workload, key model.NamespacedName) (int, bool) {
	return slices.BinarySearchFunc(ws, key, func(w model.Workload, k model.NamespacedName) int {
		return cmp.Or(strings.Compare(w.Namespace, k.Namespace), strings.Compare(w.Name, k.Name))
	})
}

// SetResources replaces one proxy's snapshot with res as it is, bypassing
// translation. Tests use it to send what the translator would never make.
func (s *Server) SetResources(ctx context.Context, nodeID string, res translate.Resources) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.setLocked(ctx, nodeID, res, time.Now())
}

// prepared is a node's translated snapshot, ready to be set; snap is nil
// when its version is the one already set.
type prepared struct {
	res     translate.Resources
	version string
	size    int
	err     error
}

// prepare digests res unless node already has its version, and interns
// it (node holds its resources from then on; commitLocked releases them
// if the snapshot cannot be set). It only reads s.versions, and the
// interner has a lock of its own, so Update runs it concurrently under
// s.mu.
func (s *Server) prepare(node string, res translate.Resources) prepared {
	version, size, sums, err := digest(res)
	if err != nil {
		return prepared{err: err}
	}
	if s.versions[node] == version {
		return prepared{version: version}
	}
	s.interned.hold(node, res, sums)
	return prepared{res: res, version: version, size: size}
}

// setLocked sets node's snapshot unless its version is unchanged; start is
// when the update that produced res began, for the push latency.
func (s *Server) setLocked(ctx context.Context, node string, res translate.Resources, start time.Time) error {
	return s.commitLocked(ctx, node, s.prepare(node, res), start, false)
}

// commitLocked sets a prepared snapshot; connect tells that it is set
// because node connected, not by an update.
func (s *Server) commitLocked(ctx context.Context, node string, p prepared, start time.Time, connect bool) error {
	if p.err != nil || p.res == nil {
		return p.err
	}
	snap, err := cachev3.NewSnapshot(p.version, p.res)
	if err != nil {
		s.interned.release(node)
		return fmt.Errorf("building snapshot: %w", err)
	}
	// translate.Consistent also reads proxyless api_listeners.
	if err := translate.Consistent(snap); err != nil {
		s.interned.release(node)
		return fmt.Errorf("inconsistent snapshot: %w", err)
	}
	// Recorded first: SetSnapshot answers open watches, and an ACK may come
	// back before it returns.
	now := time.Now()
	s.streams.pushed(node, p.version, now, connect)
	if err := s.cache.SetSnapshot(ctx, node, snap); err != nil {
		return fmt.Errorf("setting snapshot: %w", err)
	}
	s.versions[node] = p.version
	s.countLocked(node, p.res)
	s.metrics.pushes.Inc()
	if !connect {
		s.metrics.pushLatency.Observe(now.Sub(start).Seconds())
	}
	s.metrics.snapshotBytes.Observe(float64(p.size))
	s.log.Debug("snapshot set", "node", node, "version", p.version, "bytes", p.size)
	return nil
}

// countLocked keeps weft_xds_snapshot_resources: node now holds res (nil:
// nothing).
func (s *Server) countLocked(node string, res translate.Resources) {
	for typ, n := range s.counts[node] {
		s.metrics.resources.WithLabelValues(typ).Sub(float64(n))
	}
	if res == nil {
		delete(s.counts, node)
		return
	}
	c := make(map[string]int, len(res))
	for typ, rs := range res {
		c[typ] = len(rs)
		s.metrics.resources.WithLabelValues(typ).Add(float64(len(rs)))
	}
	s.counts[node] = c
}

// Mesh returns the mesh of the last Update, or nil before the first.
func (s *Server) Mesh() *model.Mesh { return s.mesh.Load() }

// Status reports, per connected proxy, what it last acknowledged or refused.
func (s *Server) Status() []ProxyStatus { return s.streams.status() }
