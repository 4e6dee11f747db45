package xdsclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
)

// Handler applies validated configuration. Each method gets the complete set
// of resources of one type (state of the world), sorted by name. A non-nil
// error NACKs the update: the handler must keep what it had, and the error
// text goes to the control plane as error_detail.
//
// Methods are called from the goroutine running Client.Run, one at a time,
// with Run's context. The handler may keep the resources but must not modify
// them.
type Handler interface {
	OnClusters(ctx context.Context, clusters []*clusterv3.Cluster) error
	OnEndpoints(ctx context.Context, endpoints []*endpointv3.ClusterLoadAssignment) error
	OnListeners(ctx context.Context, listeners []*listenerv3.Listener) error
	// OnRoutes gets the RouteConfigurations (RDS) named by the accepted
	// listeners' HTTP connection managers; it is only called after
	// OnListeners has accepted a listener referring to one of them.
	OnRoutes(ctx context.Context, routes []*routev3.RouteConfiguration) error
}

// Default backoff bounds, used when the Config leaves them zero.
const (
	DefaultInitialBackoff = 100 * time.Millisecond
	DefaultMaxBackoff     = 30 * time.Second
)

// Config configures a Client.
type Config struct {
	// Conn is dialled by the caller, with its TLS. Required.
	Conn grpc.ClientConnInterface
	// Node identifies the proxy to the control plane; Node.Id is required.
	Node *corev3.Node
	// Handler applies accepted configuration. Required.
	Handler Handler
	// Protocol is the ADS variant spoken: ProtocolSotW (the zero value)
	// or ProtocolDelta. The Handler sees no difference.
	Protocol Protocol
	// Logger receives the client's logs; nil discards them.
	Logger *slog.Logger
	// Backoff bounds for reconnects; zero means 100ms initial, 30s max (with
	// jitter). The same bounds, capped at 5s, pace the re-processing of a
	// response that was rejected and sent again unchanged.
	InitialBackoff, MaxBackoff time.Duration
	// Metrics: registered on this prometheus.Registerer when non-nil, for as
	// long as Run runs.
	Registerer prometheus.Registerer
}

// Validate reports the first missing or inconsistent field.
func (c Config) Validate() error {
	switch {
	case c.Conn == nil:
		return errors.New("xdsclient: Config.Conn is required")
	case c.Node == nil || c.Node.GetId() == "":
		return errors.New("xdsclient: Config.Node.Id is required")
	case c.Handler == nil:
		return errors.New("xdsclient: Config.Handler is required")
	case c.InitialBackoff < 0:
		return errors.New("xdsclient: Config.InitialBackoff must not be negative")
	case c.MaxBackoff < 0:
		return errors.New("xdsclient: Config.MaxBackoff must not be negative")
	}
	if err := c.Protocol.Validate(); err != nil {
		return fmt.Errorf("xdsclient: Config.Protocol: %w", err)
	}
	initial, maxBackoff := c.backoffBounds()
	if maxBackoff < initial {
		return errors.New("xdsclient: Config.MaxBackoff must not be below Config.InitialBackoff")
	}
	return nil
}

func (c Config) backoffBounds() (initial, maxBackoff time.Duration) {
	initial, maxBackoff = c.InitialBackoff, c.MaxBackoff
	if initial == 0 {
		initial = DefaultInitialBackoff
	}
	if maxBackoff == 0 {
		maxBackoff = max(DefaultMaxBackoff, initial)
	}
	return initial, maxBackoff
}

// Client is an ADS client. Create it with New and drive it with Run.
type Client struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics
	running atomic.Bool

	// Owned by the goroutine running Run.
	types    map[string]*typeState
	cdsReady bool // a set of clusters has been accepted at least once

	mu     sync.Mutex
	status Status
}

// TypeStatus is the client's view of one resource type.
type TypeStatus struct {
	// Version is the version of the last accepted response (SotW
	// version_info, delta system_version_info), "" before the first.
	Version string
	// Accepted is true once a response of the type has been accepted: a
	// delta control plane need not send a system_version_info.
	Accepted bool
	// RejectedVersion and Error describe the last NACK sent for this type;
	// both are cleared when a later response of the type is accepted.
	RejectedVersion string
	Error           string
}

// Status is a snapshot of the client's state.
type Status struct {
	// Connected is true while an ADS stream is open.
	Connected bool
	// Types is keyed by type URL and holds the types the client has received
	// a response for.
	Types map[string]TypeStatus
}

// New returns a Client for cfg. It does no I/O; Run validates cfg.
func New(cfg Config) *Client {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	types := make(map[string]*typeState, len(typeURLs()))
	for _, url := range typeURLs() {
		types[url] = &typeState{}
	}
	return &Client{
		cfg:     cfg,
		log:     logger,
		metrics: newMetrics(),
		types:   types,
		status:  Status{Types: map[string]TypeStatus{}},
	}
}

// Status returns the last accepted version and the last NACK per type URL,
// and whether a stream is open. It is safe to call concurrently with Run.
func (c *Client) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Status{Connected: c.status.Connected, Types: maps.Clone(c.status.Types)}
}

// Run keeps an ADS stream open until ctx ends, reconnecting with backoff, and
// returns nil then. It returns an error without connecting if the Config is
// invalid, the metrics cannot be registered, or Run is already running.
func (c *Client) Run(ctx context.Context) error {
	if err := c.cfg.Validate(); err != nil {
		return err
	}
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("xdsclient: Run is already running")
	}
	defer c.running.Store(false)
	if err := c.metrics.register(c.cfg.Registerer); err != nil {
		return err
	}
	defer c.metrics.unregister(c.cfg.Registerer)

	initial, maxBackoff := c.cfg.backoffBounds()
	bo := newBackoff(initial, maxBackoff)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var (
		failures int
		lastErr  string
	)
	for {
		healthy, err := c.runStream(ctx)
		c.setConnected(false)
		if ctx.Err() != nil {
			return nil
		}
		if healthy {
			bo.reset()
			failures = 0
		}
		failures++
		delay := bo.next()
		// One warning per outage (or when the cause changes); the retries of
		// an outage that keeps failing the same way are only debug.
		if failures == 1 || err.Error() != lastErr {
			c.log.Warn("xds stream failed, reconnecting", "error", err, "backoff", delay)
		} else {
			c.log.Debug("xds stream still failing", "error", err, "attempt", failures, "backoff", delay)
		}
		lastErr = err.Error()
		timer.Reset(delay)
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		c.metrics.reconnects.Inc()
	}
}

func (c *Client) setConnected(connected bool) {
	c.mu.Lock()
	c.status.Connected = connected
	c.mu.Unlock()
	if connected {
		c.metrics.connected.Set(1)
	} else {
		c.metrics.connected.Set(0)
	}
}

func (c *Client) setTypeStatus(typeURL string, ts TypeStatus) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.status.Types[typeURL] = ts
}
