package dataplane

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/weftmesh/weft/proxy/httpproxy"
	"github.com/weftmesh/weft/proxy/route"
)

// ErrClosed is returned by updates after Close.
var ErrClosed = errors.New("dataplane closed")

// Dataplane serves the listeners, clusters and endpoints it is given. It is
// safe for concurrent use. Create it with New; it binds nothing until the
// first OnListeners.
type Dataplane struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics

	clusters  atomic.Pointer[map[string]*clusterConfig]
	endpoints atomic.Pointer[map[string]*endpointSet]
	routes    atomic.Pointer[map[string]*route.Table]
	// secrets are the certificates received over SDS (sds.go).
	secrets secretStore

	// http serves the connections of HTTP listeners.
	http *httpproxy.Proxy

	// mu serializes updates and guards the fields below.
	mu        sync.Mutex
	listeners map[string]*listener
	closed    bool
	applied   applied
	// root is the context of the first OnListeners without its
	// cancellation: connections and their shutdown run under it.
	root context.Context

	conns connections
	// virtuals maps the addresses of virtual listeners to them, and bound
	// lists the addresses of every bound socket (origdst.go).
	virtuals atomic.Pointer[map[netip.AddrPort]*listener]
	bound    atomic.Pointer[[]netip.AddrPort]
	// self registers the upstream sockets the dataplane dials (loop.go).
	self *selfDials
	// wg counts accept loops and connections.
	wg sync.WaitGroup
}

// applied is the configuration last accepted, for ConfigDump.
type applied struct {
	listeners []*listenerv3.Listener
	clusters  []*clusterv3.Cluster
	endpoints []*endpointv3.ClusterLoadAssignment
	routes    []*routev3.RouteConfiguration
}

// New returns a Dataplane with no listeners. It does no I/O.
func New(cfg Config) *Dataplane {
	cfg = cfg.withDefaults()
	d := &Dataplane{
		cfg:       cfg,
		log:       cfg.Logger,
		metrics:   newMetrics(cfg.Registerer),
		listeners: make(map[string]*listener),
		conns:     connections{cancels: make(map[*context.CancelFunc]struct{})},
		self:      newSelfDials(),
	}
	d.http = httpproxy.New(httpproxy.Config{
		Clusters:   httpClusters{d},
		Logger:     cfg.Logger,
		Registerer: cfg.Registerer,
		Workload:   cfg.Workload,
		Tracer:     cfg.Tracer,
	})
	return d
}

// OnClusters validates and applies the complete set of clusters. Existing
// connections are untouched; new ones use the new set.
func (d *Dataplane) OnClusters(_ context.Context, clusters []*clusterv3.Cluster) error {
	table, err := d.parseClusters(clusters)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return ErrClosed
	}
	if err := checkOriginalDstUse(table, d.applied.routes, d.applied.listeners); err != nil {
		return err
	}
	d.clusters.Store(&table)
	d.retainUpstreams()
	d.applied.clusters = cloneClusters(clusters)
	d.log.Info("clusters applied", "count", len(table))
	return nil
}

// OnEndpoints validates and applies the complete set of
// ClusterLoadAssignments of EDS clusters.
func (d *Dataplane) OnEndpoints(_ context.Context, assignments []*endpointv3.ClusterLoadAssignment) error {
	table, err := parseAssignments(assignments)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return ErrClosed
	}
	d.endpoints.Store(&table)
	d.retainUpstreams()
	d.applied.endpoints = cloneAssignments(assignments)
	d.log.Info("endpoints applied", "count", len(table))
	return nil
}

// ListenerAddr returns the address the named listener is bound to (its
// first, when it has additional addresses), which tells the port chosen
// for a listener configured with port 0; false for a virtual listener
// (bind_to_port false), which binds nothing.
func (d *Dataplane) ListenerAddr(name string) (net.Addr, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	l, ok := d.listeners[name]
	if !ok || len(l.lns) == 0 {
		return nil, false
	}
	return l.lns[0].Addr(), true
}

// Close stops every listener, lets established connections run for the
// drain timeout, closes those still open, and returns once every goroutine
// of the dataplane has ended. Updates after Close fail with ErrClosed.
func (d *Dataplane) Close() {
	// Responses say Connection: close from before the listeners stop.
	d.http.BeginShutdown()
	d.mu.Lock()
	root := d.root
	if !d.closed {
		d.closed = true
		for name, l := range d.listeners {
			l.stop()
			delete(d.listeners, name)
		}
	}
	d.mu.Unlock()

	drain := d.cfg.DrainTimeout
	if drain < 0 {
		drain = 0
	}
	// HTTP connections are asked to end (GOAWAY, keep-alive off) at once,
	// and all connections are closed when the drain timeout passes.
	var shutdown sync.WaitGroup
	cancelShutdown := func() {}
	if root != nil {
		var shutdownCtx context.Context
		shutdownCtx, cancelShutdown = context.WithCancel(root)
		shutdown.Go(func() { _ = d.http.Shutdown(shutdownCtx) })
	}
	timer := time.AfterFunc(drain, d.conns.closeAll)
	d.wg.Wait()
	timer.Stop()
	cancelShutdown()
	shutdown.Wait()
	d.http.Close()
}

// route finds the cluster and endpoints for a new connection, or the
// result that refuses it.
func (d *Dataplane) route(cluster string) (*clusterConfig, *endpointSet, string) {
	var c *clusterConfig
	if t := d.clusters.Load(); t != nil {
		c = (*t)[cluster]
	}
	if c == nil {
		return nil, nil, resultNoCluster
	}
	if c.originalDst {
		// Its endpoint is each connection's original destination.
		return c, nil, ""
	}
	set := c.static
	if c.edsName != "" {
		set = nil
		if t := d.endpoints.Load(); t != nil {
			set = (*t)[c.edsName]
		}
	}
	if set == nil || len(set.endpoints) == 0 {
		return nil, nil, resultNoEndpoints
	}
	return c, set, ""
}

// connections holds the cancel functions of the open connections, so that
// Close can end them once the drain timeout is over.
type connections struct {
	mu      sync.Mutex
	cancels map[*context.CancelFunc]struct{}
	closing bool
}

// add registers a connection's cancel function; the returned function
// unregisters it. A connection added after closeAll is cancelled at once.
func (c *connections) add(cancel context.CancelFunc) (remove func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		cancel()
		return func() {}
	}
	key := &cancel
	c.cancels[key] = struct{}{}
	return func() {
		c.mu.Lock()
		delete(c.cancels, key)
		c.mu.Unlock()
	}
}

func (c *connections) closeAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closing = true
	for cancel := range c.cancels {
		(*cancel)()
	}
}
