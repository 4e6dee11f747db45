package dataplane

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/weftmesh/weft/proxy/capture"
	"github.com/weftmesh/weft/proxy/meshmetrics"
	"github.com/weftmesh/weft/proxy/tracing"
)

// Defaults for the zero values of Config.
const (
	DefaultHandshakeTimeout   = 10 * time.Second
	DefaultDrainTimeout       = 5 * time.Second
	DefaultMaxConnectAttempts = 3
)

// Config configures a Dataplane. Only TrustDomain, SVID and Bundle are
// needed; every other zero value is documented.
type Config struct {
	// SVID is the workload's certificate and key, and Bundle the trust
	// bundle. Both are asked at every handshake, so they may rotate. Nil
	// sources make every listener or cluster with TLS invalid.
	SVID   x509svid.Source
	Bundle x509bundle.Source
	// TrustDomain is the mesh's: peers from other trust domains are refused.
	TrustDomain spiffeid.TrustDomain

	// Listen binds listeners; nil uses net.ListenConfig.
	Listen func(ctx context.Context, network, address string) (net.Listener, error)
	// Dial connects to endpoints; nil uses net.Dialer.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)

	// OriginalDst reads where a connection accepted on a capture listener
	// (use_original_dst, or the original_dst listener filter) was going
	// before the capture rules redirected it; nil uses
	// capture.OriginalDst (SO_ORIGINAL_DST). When it fails, the
	// connection's local address is its destination.
	OriginalDst func(net.Conn) (netip.AddrPort, error)

	// Logger receives connection and configuration events; nil discards.
	Logger *slog.Logger
	// Registerer receives the metrics; nil keeps them unregistered.
	Registerer prometheus.Registerer
	// Workload is the workload this proxy serves, for the source and
	// destination labels of weft_requests_total and weft_tcp_* and the
	// workload headers between sidecars (package meshmetrics).
	Workload meshmetrics.Workload
	// Tracer, when not nil, traces the requests of HTTP listeners
	// (package tracing); nil passes their trace headers on untouched.
	Tracer *tracing.Tracer

	// HandshakeTimeout bounds the TLS handshake of inbound connections;
	// zero means DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// DrainTimeout is how long Close lets established connections run
	// before closing them; zero means DefaultDrainTimeout, negative closes
	// them at once.
	DrainTimeout time.Duration
	// MaxConnectAttempts bounds the endpoints tried for one connection;
	// zero means DefaultMaxConnectAttempts.
	MaxConnectAttempts int
}

// withDefaults fills in the zero values.
func (c Config) withDefaults() Config {
	if c.Listen == nil {
		var lc net.ListenConfig
		c.Listen = lc.Listen
	}
	if c.Dial == nil {
		var d net.Dialer
		c.Dial = d.DialContext
	}
	if c.OriginalDst == nil {
		c.OriginalDst = capture.OriginalDst
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	if c.MaxConnectAttempts <= 0 {
		c.MaxConnectAttempts = DefaultMaxConnectAttempts
	}
	return c
}
