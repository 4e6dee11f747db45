package proxy

import (
	"cmp"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"

	"github.com/weftmesh/weft/meshid"
	"github.com/weftmesh/weft/proxy/capture"
	"github.com/weftmesh/weft/proxy/dataplane"
	"github.com/weftmesh/weft/proxy/identity"
	"github.com/weftmesh/weft/proxy/meshmetrics"
	"github.com/weftmesh/weft/proxy/status"
	"github.com/weftmesh/weft/proxy/tracing"
	"github.com/weftmesh/weft/proxy/xdsclient"
)

// Proxy is a running sidecar. Create it with New, then Start.
type Proxy struct {
	cfg Config
	log *slog.Logger

	registry *prometheus.Registry
	// identity is set during Start while the admin port already answers.
	identity atomic.Pointer[identitySource]
	conn     *grpc.ClientConn
	// dataplane and xds are set during Start while the admin port already
	// answers, so its handlers read them atomically.
	dataplane atomic.Pointer[dataplane.Dataplane]
	xds       atomic.Pointer[xdsclient.Client]

	adminListener net.Listener
	adminServer   *http.Server
	// statusServer is the kubelet's port; nil when disabled.
	statusServer *status.Server
	// captureHealth probes the capture rules; nil without Config.Capture.
	captureHealth *capture.Health
	// tracer exports the spans of HTTP requests; nil without
	// Config.TracingOTLPEndpoint.
	tracer *tracing.Tracer

	cancel context.CancelFunc
	wg     sync.WaitGroup
	errc   chan error
}

// New returns a proxy that does nothing until Start. A nil log discards.
func New(cfg Config, log *slog.Logger) *Proxy {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Proxy{cfg: cfg, log: log, registry: prometheus.NewRegistry(), errc: make(chan error, 2)}
}

// Start binds the admin port, obtains the workload's first certificate
// (retrying until the CA answers or ctx ends), then follows configuration
// from the control plane in the background.
func (p *Proxy) Start(ctx context.Context) error {
	if err := p.cfg.Validate(); err != nil {
		return err
	}
	td, err := spiffeid.TrustDomainFromString(p.cfg.TrustDomain)
	if err != nil {
		return fmt.Errorf("trust domain: %w", err)
	}
	src, err := p.newIdentity(td)
	if err != nil {
		return err
	}
	p.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if p.cfg.Capture {
		// Before the admin port answers: readiness reads it.
		p.captureHealth = &capture.Health{Prober: &capture.Prober{}, Logger: p.log.With("component", "capture")}
	}

	var lc net.ListenConfig
	if p.adminListener, err = lc.Listen(ctx, "tcp", p.cfg.AdminAddress); err != nil {
		return fmt.Errorf("listening for admin: %w", err)
	}
	// ctx bounds the start only; what Start begins runs until Close.
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p.cancel = cancel
	p.adminServer = &http.Server{Handler: p.adminHandler(), ReadHeaderTimeout: 10 * time.Second}
	p.goFatal(func() error {
		if err := p.adminServer.Serve(p.adminListener); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})

	if err := p.startStatus(ctx, runCtx); err != nil {
		return errors.Join(err, p.stop()) //nolint:contextcheck // stop ends what Start began and needs no context
	}
	p.startCaptureHealth(runCtx)

	p.identity.Store(&identitySource{src})
	if err := src.Start(ctx); err != nil {
		return errors.Join(fmt.Errorf("obtaining the workload certificate: %w", err), p.stop()) //nolint:contextcheck // stop ends what Start began and needs no context
	}
	p.log.Info("workload certificate obtained", "spiffe_id", mustID(td, p.cfg.Namespace, p.cfg.ServiceAccount))

	tracer, err := tracing.New(ctx, p.cfg.tracingConfig(cmp.Or(p.cfg.Workload, meshmetrics.WorkloadOfPod(p.cfg.Name)), p.log.With("component", "tracing")))
	if err != nil {
		return errors.Join(fmt.Errorf("tracing: %w", err), p.stop()) //nolint:contextcheck // stop ends what Start began and needs no context
	}
	p.tracer = tracer
	dp := dataplane.New(dataplane.Config{
		Tracer:      tracer,
		SVID:        src,
		Bundle:      src,
		TrustDomain: td,
		Logger:      p.log.With("component", "dataplane"),
		Registerer:  p.registry,
		Workload: meshmetrics.Workload{
			Name:      cmp.Or(p.cfg.Workload, meshmetrics.WorkloadOfPod(p.cfg.Name)),
			Namespace: p.cfg.Namespace,
			Principal: mustID(td, p.cfg.Namespace, p.cfg.ServiceAccount),
		},
		// The data plane's zero means its default; ours closes at once.
		DrainTimeout: cmp.Or(p.cfg.DrainTimeout, -1),
	})
	p.dataplane.Store(dp)

	tlsConfig := tlsconfig.MTLSClientConfig(src, src, tlsconfig.AuthorizeID(meshid.ControlPlane(td)))
	p.conn, err = grpc.NewClient(p.cfg.ControlPlaneAddress,
		grpc.WithTransportCredentials(credentials.NewTLS(tlsConfig)),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second, PermitWithoutStream: true}),
		// Reconnect about as fast as the xDS client retries: gRPC's default
		// backoff grows to two minutes.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 5 * time.Second},
			MinConnectTimeout: 5 * time.Second,
		}),
	)
	if err != nil {
		return errors.Join(fmt.Errorf("xDS connection to %s: %w", p.cfg.ControlPlaneAddress, err), p.stop()) //nolint:contextcheck // stop ends what Start began and needs no context
	}
	client := xdsclient.New(xdsclient.Config{
		Conn: p.conn,
		Node: &corev3.Node{
			Id:      meshid.NodeID(p.cfg.Name, p.cfg.Namespace),
			Cluster: p.cfg.Namespace,
		},
		Handler:    dp,
		Protocol:   p.cfg.XDSProtocol,
		Logger:     p.log.With("component", "xds"),
		Registerer: p.registry,
	})
	p.xds.Store(client)
	p.goFatal(func() error { return client.Run(runCtx) })
	p.log.Info("proxy started", "mode", p.cfg.Mode.String(), "node", meshid.NodeID(p.cfg.Name, p.cfg.Namespace), "control_plane", p.cfg.ControlPlaneAddress, "admin", p.adminListener.Addr().String())
	return nil
}

// startStatus binds the status port, if configured, before the first
// certificate is asked for: until the proxy is ready the kubelet's
// startupProbe gets a 503 with the reason rather than a refused
// connection.
func (p *Proxy) startStatus(ctx, runCtx context.Context) error {
	if p.cfg.StatusAddress == "" {
		return nil
	}
	probes, err := status.ParseProbes(p.cfg.AppProbes)
	if err != nil {
		return fmt.Errorf("%s: %w", status.EnvAppProbes, err)
	}
	var captureProbe http.Handler
	if p.captureHealth != nil {
		captureProbe = p.captureHealth.Prober
	}
	srv := status.New(status.Config{
		Address:      p.cfg.StatusAddress,
		Ready:        p.readiness,
		Metrics:      p.registry,
		Probes:       probes,
		CaptureProbe: captureProbe,
		Logger:       p.log.With("component", "status"),
	})
	if err := srv.Start(ctx); err != nil {
		return fmt.Errorf("status port: %w", err)
	}
	p.statusServer = srv
	p.goFatal(func() error {
		select {
		case err := <-srv.Errors():
			return err
		case <-runCtx.Done():
			return nil
		}
	})
	return nil
}

// startCaptureHealth, with Config.Capture, probes the capture rules (once
// the status port that answers the probe is up) and watches for
// connections that bypassed the proxy, until runCtx ends.
func (p *Proxy) startCaptureHealth(runCtx context.Context) {
	if p.captureHealth == nil {
		return
	}
	scanner := capture.NewBypassScanner(capture.BypassConfig{
		Ports:        p.capturedInboundPorts,
		ExcludePorts: p.cfg.ExcludeInboundPorts,
		Registerer:   p.registry,
		Logger:       p.log.With("component", "capture"),
	})
	p.goFatal(func() error { return p.captureHealth.Run(runCtx) })
	p.goFatal(func() error { return scanner.Run(runCtx) })
}

// capturedInboundPorts are the ports virtualInbound has chains for; none
// before the first configuration.
func (p *Proxy) capturedInboundPorts() []uint16 {
	dp := p.dataplane.Load()
	if dp == nil {
		return nil
	}
	return dp.CapturedInboundPorts()
}

// goFatal runs f in a goroutine; an error it returns ends Run.
func (p *Proxy) goFatal(f func() error) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		if err := f(); err != nil {
			select {
			case p.errc <- err:
			default:
			}
		}
	}()
}

// Errors delivers the first fatal error of a started proxy.
func (p *Proxy) Errors() <-chan error { return p.errc }

// AdminAddr is the bound address of the admin port.
func (p *Proxy) AdminAddr() net.Addr { return p.adminListener.Addr() }

// StatusAddr is the bound address of the status port; nil when it is
// disabled.
func (p *Proxy) StatusAddr() net.Addr {
	if p.statusServer == nil {
		return nil
	}
	return p.statusServer.Addr()
}

// Ready reports whether the proxy holds a certificate and has applied
// clusters and listeners from the control plane at least once, and, with
// Config.Capture, whether the capture rules are in place.
func (p *Proxy) Ready() bool {
	return p.readiness() == nil
}

// readiness is Ready with the reason it is not, for the status port's
// one-line answer.
func (p *Proxy) readiness() error {
	// First: unlike the others, missing rules do not come by waiting.
	if p.captureHealth != nil {
		if err := p.captureHealth.Err(); err != nil {
			return err
		}
	}
	// The xDS client exists once the certificate has been obtained.
	client := p.xds.Load()
	if client == nil {
		return errors.New("waiting for the workload certificate")
	}
	st := client.Status()
	if !st.Types[xdsclient.ClusterType].Accepted || !st.Types[xdsclient.ListenerType].Accepted {
		return errors.New("waiting for clusters and listeners from the control plane")
	}
	return nil
}

// Close stops the proxy: listeners close, established connections are
// given Config.DrainTimeout (in-flight HTTP requests finish, HTTP/1
// keep-alive clients get Connection: close, HTTP/2 clients GOAWAY), and
// every goroutine has ended when it returns. weft-proxy calls it on
// SIGTERM.
func (p *Proxy) Close() error {
	return p.stop()
}

func (p *Proxy) stop() error {
	if p.cancel == nil {
		return nil
	}
	p.cancel()
	var errs []error
	if p.conn != nil {
		errs = append(errs, p.conn.Close())
	}
	if p.adminServer != nil {
		errs = append(errs, p.adminServer.Close())
	}
	if p.statusServer != nil {
		errs = append(errs, p.statusServer.Close())
	}
	p.wg.Wait()
	if dp := p.dataplane.Load(); dp != nil {
		dp.Close()
	}
	// After the dataplane: its last requests' spans are flushed too.
	errs = append(errs, p.tracer.Close())
	if id := p.identity.Load(); id != nil {
		errs = append(errs, id.Close())
	}
	return errors.Join(errs...)
}

// identitySource boxes the Source for an atomic pointer.
type identitySource struct{ identity.Source }

// newIdentity returns where the workload's SVID comes from: the Workload
// API when configured, Weft's CA otherwise. It does no network I/O.
func (p *Proxy) newIdentity(td spiffeid.TrustDomain) (identity.Source, error) {
	log := p.log.With("component", "identity")
	if p.cfg.WorkloadAPISocket != "" {
		id, err := meshid.Workload(td, p.cfg.Namespace, p.cfg.ServiceAccount)
		if err != nil {
			return nil, fmt.Errorf("workload identity: %w", err)
		}
		return identity.NewWorkloadAPISource(identity.WorkloadAPIConfig{
			Address:     p.cfg.workloadAPIAddress(),
			TrustDomain: td,
			ID:          id,
			Logger:      log,
			Registerer:  p.registry,
		}), nil
	}
	roots, err := readRoots(p.cfg.CARootFile)
	if err != nil {
		return nil, err
	}
	return identity.New(identity.Config{
		CAAddress:      p.cfg.ControlPlaneAddress,
		TrustDomain:    td,
		Namespace:      p.cfg.Namespace,
		ServiceAccount: p.cfg.ServiceAccount,
		Token:          tokenFromFile(p.cfg.TokenFile),
		RootCAs:        roots,
		TTL:            p.cfg.CertTTL,
		Logger:         log,
		Registerer:     p.registry,
	}), nil
}

// Run starts a proxy and serves until ctx ends or it fails.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	p := New(cfg, log)
	if err := p.Start(ctx); err != nil {
		return err
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-p.Errors():
	}
	return errors.Join(err, p.Close()) //nolint:contextcheck // Close ends what Start began and needs no context
}

func readRoots(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading CA roots: %w", err)
	}
	var roots []*x509.Certificate
	for block, rest := pem.Decode(data); block != nil; block, rest = pem.Decode(rest) {
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing CA roots in %s: %w", path, err)
		}
		roots = append(roots, cert)
	}
	if len(roots) == 0 {
		return nil, fmt.Errorf("no PEM certificate in %s", path)
	}
	return roots, nil
}

// tokenFromFile reads the credential anew for every CA request, so a
// rotated token file is picked up.
func tokenFromFile(path string) func(context.Context) (string, error) {
	return func(context.Context) (string, error) {
		data, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("reading token: %w", err)
		}
		token := strings.TrimSpace(string(data))
		if token == "" {
			return "", fmt.Errorf("token file %s is empty", path)
		}
		return token, nil
	}
}

func mustID(td spiffeid.TrustDomain, ns, sa string) string {
	id, err := meshid.Workload(td, ns, sa)
	if err != nil {
		return ""
	}
	return id.String()
}
