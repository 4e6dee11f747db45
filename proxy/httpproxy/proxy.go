package httpproxy

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weftmesh/weft/proxy/accesslog"
	"github.com/weftmesh/weft/proxy/httpguard"
	"github.com/weftmesh/weft/proxy/meshmetrics"
	"github.com/weftmesh/weft/proxy/rbac"
	"github.com/weftmesh/weft/proxy/route"
	"github.com/weftmesh/weft/proxy/tracing"
)

// Response flags, as in Envoy's access log.
const (
	FlagNoRoute         = "NR"
	FlagNoCluster       = "NC"
	FlagNoHealthy       = "UH"
	FlagUpstreamFailure = "UF"
	FlagUpstreamTimeout = "UT"
	// FlagUpstreamProtocolError is an upstream response that cannot be
	// forwarded (502).
	FlagUpstreamProtocolError = "UPE"
)

// Codec is the downstream protocol a listener accepts (the HTTP connection
// manager's codec_type).
type Codec int

// Codecs.
const (
	// CodecAuto serves HTTP/2 when ALPN negotiated "h2" or the connection
	// starts with the HTTP/2 preface, HTTP/1.1 otherwise.
	CodecAuto Codec = iota
	CodecHTTP1
	CodecHTTP2
)

// Listener describes the listener a connection was accepted on. Its
// fields must not change once it serves; a new configuration is a new
// Listener, and Retire drains the connections of the old one.
type Listener struct {
	// Name and Direction ("inbound" or "outbound") label metrics and logs.
	Name      string
	Direction string
	Codec     Codec
	// Router returns the listener's current routes; nil, or a nil Router,
	// means the route configuration has not arrived (503, NR).
	Router func() Router
	// Limits bound HTTP/1 request heads; zero fields take httpguard's
	// defaults.
	Limits httpguard.Limits
	// AccessLog, when not nil, receives a line per request.
	AccessLog *accesslog.Log
	// Authz holds the listener's RBAC filters (envoy.filters.http.rbac),
	// run on every request after its path is normalized and before it is
	// routed; nil or empty allows every request.
	Authz *rbac.Chain
	// Edge, when not nil, makes the listener a gateway's: it rewrites
	// the edge headers of every request (edge.go). Nil for sidecars.
	Edge *Edge
	// retired is set by Retire: responses then end their connection.
	retired atomic.Bool
}

// Router decides what to do with a request.
type Router interface {
	// Route returns the action for r, or false when no route matches.
	Route(r *http.Request) (Action, bool)
}

// Action is what a matched route asks for: either a local response
// (Status > 0) or a cluster to forward to.
type Action struct {
	// Cluster receives the request when Status is zero.
	Cluster string
	// Route is the matched route's name, possibly "": the name of the
	// request's span (with the cluster when it is "").
	Route string
	// Rewrite, when not nil, changes the outbound request: path, host and
	// headers. It runs before connection-specific headers are deleted.
	Rewrite func(out *http.Request)
	// ResponseHeaders, when not nil, changes the headers of the response
	// sent downstream, forwarded or local.
	ResponseHeaders func(h http.Header)
	// Timeout bounds the upstream exchange, response body included; zero
	// means none. When it passes first the answer is 504 with flag UT.
	Timeout time.Duration
	// Retry, when not nil, retries failed attempts (see RetryPolicy).
	Retry *RetryPolicy
	// HashPolicy hashes the request for RING_HASH and MAGLEV clusters,
	// with a Clusters that is a HashedClusters.
	HashPolicy []route.HashPolicy
	// Mirrors receive a copy of the request (mirror.go).
	Mirrors []Mirror

	// Status, Header and Body make a local response (direct_response or
	// redirect, whose Header carries Location).
	Status int
	Header http.Header
	Body   []byte
}

// Target is the upstream endpoint picked for one request.
type Target struct {
	// Key identifies the cluster configuration: requests with equal keys
	// share upstream connections. It must be comparable.
	Key any
	// Address is the endpoint's ip:port.
	Address string
	// HTTP2 asks for HTTP/2 to the endpoint (h2c when Dial is plaintext).
	HTTP2 bool
	// Dial connects to an endpoint of the cluster, with its TLS if it has
	// one, and returns the server's verified SPIFFE ID ("" for plaintext).
	Dial func(ctx context.Context, address string) (net.Conn, string, error)
	// DialHTTP1, when not nil, is Dial offering only HTTP/1.1 in ALPN: the
	// connection of an Upgrade request (WebSocket...) to an HTTP2 target.
	// Without it such requests are refused (502, UPE) on HTTP2 targets.
	DialHTTP1 func(ctx context.Context, address string) (net.Conn, string, error)
	// Release, when not nil, is called once the request is over.
	Release func()
	// Breaker, when not nil, is the cluster's circuit breaker; requests
	// over its thresholds are refused with 503 and flag UO.
	Breaker *Breaker
	// MTLS tells that Dial speaks mTLS with a mesh peer: requests then
	// carry this proxy's workload headers (meshmetrics.HeaderSource*).
	MTLS bool
	// Observe, when not nil, learns the outcome of each attempt on this
	// endpoint, for outlier detection: the response status, or 0 for a
	// local failure (connect failure, reset, per-try timeout).
	Observe func(status int)
}

// Clusters picks endpoints.
type Clusters interface {
	// Pick returns the endpoint for one request of listener to cluster,
	// or the response flag that refuses it (FlagNoCluster, FlagNoHealthy).
	Pick(listener, cluster string) (Target, string)
}

// Config configures a Proxy. Clusters is required.
type Config struct {
	Clusters Clusters
	// Logger receives request and connection events; nil discards.
	Logger *slog.Logger
	// Registerer receives the metrics; nil keeps them unregistered.
	Registerer prometheus.Registerer
	// Workload is the workload this proxy serves: the source of its
	// outbound requests and the destination of its inbound ones in
	// weft_requests_total. A zero Name sends no workload headers.
	Workload meshmetrics.Workload
	// IdleTimeout closes downstream and upstream connections without
	// requests for that long; zero means DefaultIdleTimeout.
	IdleTimeout time.Duration
	// Tracer, when not nil, gives every request a span and replaces the
	// trace headers on the upstream request by the span's context (W3C
	// and B3); nil passes trace headers on untouched.
	Tracer *tracing.Tracer
}

// DefaultIdleTimeout is the HTTP connection manager's default idle_timeout.
const DefaultIdleTimeout = time.Hour

// Proxy serves HTTP connections. Create it with New; it is safe for
// concurrent use. Close it after every ServeConn has returned.
type Proxy struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics
	mesh    *meshmetrics.Metrics
	authz   *rbac.Metrics

	// servers holds the HTTP/2 server of each Listener in service, and
	// draining those of retired Listeners whose connections are not all
	// closed; conns maps a served connection to its connInfo.
	mu       sync.Mutex
	servers  map[*Listener]*server
	draining map[*server]struct{}
	conns    sync.Map
	// drains counts the goroutines draining retired servers.
	drains sync.WaitGroup
	// stop ends those goroutines' wait when the Proxy closes.
	stop     context.Context
	stopFunc context.CancelFunc

	upstreams upstreams
	// mirrors counts the mirrored requests in flight (mirror.go).
	mirrors sync.WaitGroup
	// h1 tracks the connections of the HTTP/1 loop.
	h1 http1Conns
	// buffers holds *[]byte of copyBufferSize for response body copies:
	// without it every response allocated 32 KiB, most of the proxy's
	// garbage.
	buffers sync.Pool
}

// copyBufferSize is the size of the buffers response bodies are copied
// through.
const copyBufferSize = 32 << 10

// New returns a Proxy. It does no I/O and starts nothing.
func New(cfg Config) *Proxy {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	p := &Proxy{
		cfg:       cfg,
		log:       cfg.Logger,
		metrics:   newMetrics(cfg.Registerer),
		mesh:      meshmetrics.New(cfg.Registerer),
		authz:     rbac.NewMetrics(cfg.Registerer),
		upstreams: upstreams{idleTimeout: cfg.IdleTimeout, byKey: map[any]*upstream{}},
	}
	p.buffers.New = func() any {
		b := make([]byte, copyBufferSize)
		return &b
	}
	p.servers = map[*Listener]*server{}
	p.draining = map[*server]struct{}{}
	p.stop, p.stopFunc = context.WithCancel(context.Background())
	return p
}

// serverFor returns the HTTP/2 server of l, made at its first connection;
// nil once l is retired or the Proxy shut down.
func (p *Proxy) serverFor(l *Listener) *server {
	p.mu.Lock()
	defer p.mu.Unlock()
	if l.retired.Load() || p.servers == nil {
		return nil
	}
	s := p.servers[l]
	if s == nil {
		s = p.newServer(l.Codec != CodecHTTP2, l.Codec != CodecHTTP1)
		p.servers[l] = s
	}
	return s
}

// Retire drains the connections served under l, as Envoy drains a
// listener whose configuration changed: HTTP/2 connections get GOAWAY,
// HTTP/1 ones close once idle or after their current response (which says
// Connection: close). Requests in flight finish under l; clients send the
// next ones on new connections, which get the new configuration. An
// HTTP/1 connection that has not begun its first request is served that
// one (its client may have sent it before the update), with Connection:
// close. Call it when l is replaced; ServeConn refuses HTTP/2 connections
// of l from then on.
func (p *Proxy) Retire(l *Listener) {
	if l.retired.Swap(true) {
		return
	}
	p.h1.interruptIdle(l)
	p.mu.Lock()
	s := p.servers[l]
	delete(p.servers, l)
	if s != nil && p.draining != nil {
		p.draining[s] = struct{}{}
	}
	p.mu.Unlock()
	if s == nil {
		return
	}
	p.drains.Go(func() {
		_ = s.shutdown(p.stop)
		s.wait()
		p.mu.Lock()
		delete(p.draining, s)
		p.mu.Unlock()
	})
}

// allServers returns every server, in service or draining.
func (p *Proxy) allServers() []*server {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*server, 0, len(p.servers)+len(p.draining))
	for _, s := range p.servers {
		out = append(out, s)
	}
	for s := range p.draining {
		out = append(out, s)
	}
	return out
}

// newServer returns the server of one codec. HTTP/2 is negotiated by ALPN
// on TLS connections and detected by its preface (prior knowledge) on the
// others and on TLS connections without ALPN.
func (p *Proxy) newServer(http1, http2 bool) *server {
	protocols := new(http.Protocols)
	protocols.SetHTTP1(http1)
	protocols.SetHTTP2(http2)
	protocols.SetUnencryptedHTTP2(http2)
	return &server{
		srv: &http.Server{
			Handler:           http.HandlerFunc(p.serveLogged),
			Protocols:         protocols,
			HTTP2:             http2Config(),
			ReadHeaderTimeout: time.Minute,
			IdleTimeout:       p.cfg.IdleTimeout,
			MaxHeaderBytes:    60 << 10, // Envoy's max_request_headers_kb
			ConnContext:       p.connContext,
			ConnState:         p.connState,
			ErrorLog:          slog.NewLogLogger(p.cfg.Logger.Handler(), slog.LevelDebug),
		},
		ln:   newConnListener(),
		done: make(chan struct{}),
	}
}

// BeginShutdown marks HTTP/1 connections draining at once, before it
// returns: a response written from then on says Connection: close. Call it
// before the listeners stop, so no response slips out between the two
// without that header; Shutdown then does the rest.
func (p *Proxy) BeginShutdown() {
	p.h1.beginShutdown()
}

// Shutdown asks every connection to end gracefully: idle HTTP/1
// connections close, busy ones after their response, HTTP/2 connections
// get GOAWAY. It returns once they are all closed or ctx ends; ServeConn
// refuses connections from then on.
func (p *Proxy) Shutdown(ctx context.Context) error {
	errs := []error{p.h1.shutdown(ctx)}
	for _, s := range p.allServers() {
		errs = append(errs, s.shutdown(ctx))
	}
	return errors.Join(errs...)
}

// Retain drops the upstream connection pools whose Target.Key keep
// rejects: their idle connections close now, the others once their
// requests are over.
func (p *Proxy) Retain(keep func(key any) bool) {
	p.upstreams.retain(keep)
}

// Close stops the servers and closes the upstream connections. Call it
// once every ServeConn has returned; it waits for the goroutines the Proxy
// started.
func (p *Proxy) Close() {
	p.mu.Lock()
	servers := p.servers
	p.servers = nil // no new server from now on
	p.mu.Unlock()
	p.stopFunc()
	p.drains.Wait()
	for _, s := range servers {
		s.wait()
	}
	p.mirrors.Wait()
	p.upstreams.closeAll()
}
