package controlplane

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	cav1 "github.com/weftmesh/weft/api/ca/v1"
	"github.com/weftmesh/weft/controlplane/ca"
	"github.com/weftmesh/weft/controlplane/configdir"
	"github.com/weftmesh/weft/controlplane/kube"
	"github.com/weftmesh/weft/controlplane/model"
	"github.com/weftmesh/weft/controlplane/rootpublish"
	"github.com/weftmesh/weft/controlplane/status"
	"github.com/weftmesh/weft/controlplane/translate"
	"github.com/weftmesh/weft/controlplane/webhook"
	"github.com/weftmesh/weft/controlplane/xds"
	"github.com/weftmesh/weft/gateway/deploy"
)

// servingCertTTL is the lifetime of the control plane's own certificate; it
// is reissued at half-life.
const servingCertTTL = 24 * time.Hour

// ControlPlane is a running control plane. Create it with New, then Start.
type ControlPlane struct {
	cfg Config
	log *slog.Logger

	registry *prometheus.Registry
	xds      *xds.Server
	ready    atomic.Bool
	// problems are the latest translate.Check reports, for /debug/policies.
	problems atomic.Pointer[[]translate.Problem]

	// authority, caFiles and caOptions are set by Start; caReload
	// serializes ReloadCA.
	authority *ca.Authority
	caFiles   ca.Files
	caOptions ca.Options
	caReload  sync.Mutex
	caReloads *prometheus.CounterVec

	// status writes the policies' and routes' status when this replica
	// leads (Kubernetes mode; nil in standalone mode).
	status *status.Writer
	// roots publishes the CA's roots into injected namespaces, where the
	// injected proxies mount them (Kubernetes mode; nil otherwise).
	roots *rootpublish.Publisher
	// webhook is the sidecar injector's webhook (Kubernetes mode; nil in
	// standalone mode).
	webhook *webhook.Server
	// deployer runs each Gateway's Deployment and Service (Kubernetes
	// mode with GatewayDeployer; nil otherwise).
	deployer *deploy.Deployer
	// kubeHTTP carries the CA's TokenReviews and Secret reads (Kubernetes
	// mode); Close drops its idle connections.
	kubeHTTP *http.Client

	xdsListener     net.Listener
	monitorListener net.Listener
	grpcServer      *grpc.Server
	httpServer      *http.Server

	cancel context.CancelFunc
	wg     sync.WaitGroup
	errc   chan error
}

// New returns a control plane that does nothing until Start. A nil log
// discards.
func New(cfg Config, log *slog.Logger) *ControlPlane {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &ControlPlane{
		cfg:      cfg,
		log:      log,
		registry: prometheus.NewRegistry(),
		errc:     make(chan error, 4),
	}
}

// Start loads the CA (provided, or created in the state directory or, in
// Kubernetes mode, in the CA Secret), binds both ports and starts serving
// and watching the mesh's source (the config directory, or the API
// server). It returns once the ports are bound; the first configuration is
// pushed as soon as the directory has been read or the informers have
// synced.
func (c *ControlPlane) Start(ctx context.Context) error {
	if err := c.cfg.Validate(); err != nil {
		return err
	}
	td, err := spiffeid.TrustDomainFromString(c.cfg.TrustDomain)
	if err != nil {
		return fmt.Errorf("trust domain: %w", err)
	}
	c.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	var (
		authn   ca.Authenticator
		source  meshSource
		kc      kubernetes.Interface
		restCfg *rest.Config
	)
	if c.cfg.KubernetesMode() {
		if restCfg, err = c.restConfig(); err != nil {
			return err
		}
		if c.kubeHTTP, err = rest.HTTPClientFor(restCfg); err != nil {
			return fmt.Errorf("kubernetes client: %w", err)
		}
		if kc, err = kubernetes.NewForConfigAndClient(restCfg, c.kubeHTTP); err != nil {
			return fmt.Errorf("kubernetes client: %w", err)
		}
		// Workloads prove their identity with projected ServiceAccount
		// tokens (audience weft-ca) the API server reviews.
		authn = ca.NewTokenReviewAuthenticator(kc)
		source = kube.NewWatcher(restCfg, td, c.log.With("component", "kube")).Run
		if c.status, err = c.newStatusWriter(restCfg); err != nil {
			c.kubeHTTP.CloseIdleConnections()
			return err
		}
	} else {
		authn = ca.NewTokenAuthenticator(func(context.Context) []ca.TokenEntry { return tokenEntries(c.xds.Mesh()) })
		source = configdir.NewWatcher(c.cfg.ConfigDir, td, c.log.With("component", "configdir")).Run
	}
	if err := c.loadCA(ctx, td, kc); err != nil {
		if c.kubeHTTP != nil {
			c.kubeHTTP.CloseIdleConnections()
		}
		return err
	}
	authority := c.authority
	if c.cfg.KubernetesMode() {
		wcfg, err := c.cfg.webhookConfig()
		if err != nil {
			c.kubeHTTP.CloseIdleConnections()
			return err
		}
		c.webhook = webhook.New(wcfg, authority, kc, c.log.With("component", "webhook"))
		c.roots = rootpublish.New(rootpublish.Config{Client: kc, Roots: authority.Bundle, Logger: c.log.With("component", "rootpublish")})
		if c.cfg.GatewayDeployer {
			c.deployer, err = deploy.New(deploy.Config{
				ReconcilerConfig: deploy.ReconcilerConfig{
					InjectorConfigMap: types.NamespacedName{Namespace: wcfg.ConfigMapNamespace, Name: wcfg.ConfigMapName},
					PublishRoots:      c.roots.Include,
				},
				RESTConfig: restCfg,
				Logger:     c.log.With("component", "gateway-deployer"),
			})
			if err != nil {
				c.kubeHTTP.CloseIdleConnections()
				return err
			}
		}
		c.registry.MustRegister(c.webhook.Collectors()...)
	}
	c.xds = xds.New(xds.Config{Logger: c.log.With("component", "xds"), Registerer: c.registry})
	certs, err := ca.NewService(authority, authn, ca.ServiceConfig{
		DefaultTTL: c.cfg.DefaultCertTTL,
		MaxTTL:     c.cfg.MaxCertTTL,
	}, c.log.With("component", "ca"), c.registry)
	if err != nil {
		return fmt.Errorf("certificate service: %w", err)
	}

	serving := authority.NewServingCertSource(c.cfg.ServingDNSNames, servingCertTTL)
	base := &tls.Config{
		MinVersion:     tls.VersionTLS13,
		GetCertificate: serving.GetCertificate,
		// The CA service admits callers without a certificate (they hold a
		// token instead); the xDS service refuses them.
		ClientAuth: tls.VerifyClientCertIfGiven,
	}
	tlsConfig := base.Clone()
	// Client certificates are verified against the CA's bundle of the
	// moment, so that a root added or removed by ReloadCA takes effect
	// with the next handshake.
	tlsConfig.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		cfg := base.Clone()
		cfg.ClientCAs = authority.BundlePool()
		return cfg, nil
	}

	var lc net.ListenConfig
	if c.xdsListener, err = lc.Listen(ctx, "tcp", c.cfg.XDSAddress); err != nil {
		return fmt.Errorf("listening for xDS: %w", err)
	}
	if c.monitorListener, err = lc.Listen(ctx, "tcp", c.cfg.MonitorAddress); err != nil {
		_ = c.xdsListener.Close()
		return fmt.Errorf("listening for monitoring: %w", err)
	}
	if c.webhook != nil {
		if err := c.webhook.Listen(ctx); err != nil {
			_ = c.xdsListener.Close()
			_ = c.monitorListener.Close()
			c.kubeHTTP.CloseIdleConnections()
			return err
		}
	}

	// ctx bounds the start only; what Start begins runs until Close.
	ctx, c.cancel = context.WithCancel(context.WithoutCancel(ctx))
	c.grpcServer = grpc.NewServer(append(xds.ServerOptions(), // buffers sized for many ADS streams
		grpc.Creds(credentials.NewTLS(tlsConfig)),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
	)...)
	c.xds.Register(ctx, c.grpcServer)
	cav1.RegisterCertificateServiceServer(c.grpcServer, certs)
	c.httpServer = &http.Server{Handler: c.monitorHandler(), ReadHeaderTimeout: 10 * time.Second}

	policy := model.OutboundTrafficPolicy(c.cfg.OutboundTrafficPolicy)
	c.goFatal(func() error {
		return source(ctx, func(m *model.Mesh) {
			// The sources own their meshes (they compare the next one
			// with it): the control plane's settings go on a copy, which
			// shares every slice.
			withSettings := *m
			withSettings.OutboundTrafficPolicy = policy
			withSettings.AccessLog = c.cfg.AccessLog
			c.apply(ctx, &withSettings)
		})
	})
	if c.deployer != nil {
		c.goFatal(func() error { return c.deployer.Run(ctx) })
	}
	c.goFatal(func() error { return c.grpcServer.Serve(c.xdsListener) })
	if c.webhook != nil {
		c.goFatal(func() error { return c.webhook.Run(ctx) })
	}
	if c.roots != nil {
		c.goFatal(func() error { return c.roots.Run(ctx) })
	}
	if c.status != nil {
		c.goFatal(func() error { return c.status.Start(ctx) })
	}
	if c.cfg.CAReloadInterval > 0 && !c.cfg.SecretCA() {
		c.goFatal(func() error { c.pollCA(ctx); return nil })
	}
	c.goFatal(func() error {
		if err := c.httpServer.Serve(c.monitorListener); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	c.log.Info("control plane started", "mode", c.mode(), "xds", c.xdsListener.Addr().String(), "monitor", c.monitorListener.Addr().String(), "trust_domain", td.String())
	return nil
}

// meshSource is the Run of a configdir or kube Watcher: it calls onChange
// with every new mesh until ctx ends.
type meshSource func(ctx context.Context, onChange func(*model.Mesh)) error

func (c *ControlPlane) mode() string {
	if c.cfg.KubernetesMode() {
		return "kubernetes"
	}
	return "standalone"
}

func (c *ControlPlane) apply(ctx context.Context, m *model.Mesh) {
	if err := c.xds.Update(ctx, m); err != nil {
		c.log.Error("configuration not fully applied", "error", err)
	}
	problems := translate.Check(m)
	c.problems.Store(&problems)
	if c.status != nil {
		c.status.Update(m, problems)
	}
	for _, p := range problems {
		c.log.Warn("policy not fully applied", "kind", p.Kind, "namespace", p.Namespace, "name", p.Name, "reason", p.Reason, "message", p.Message)
	}
	c.ready.Store(true)
	c.log.Info("configuration applied", "services", len(m.Services), "workloads", len(m.Workloads))
}

// goFatal runs f in a goroutine; an error it returns ends Run.
func (c *ControlPlane) goFatal(f func() error) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		if err := f(); err != nil {
			select {
			case c.errc <- err:
			default:
			}
		}
	}()
}

// Errors delivers the first fatal error of a started control plane.
func (c *ControlPlane) Errors() <-chan error { return c.errc }

// XDSAddr is the bound address of the xDS and CA port.
func (c *ControlPlane) XDSAddr() net.Addr { return c.xdsListener.Addr() }

// MonitorAddr is the bound address of the metrics and debug port.
func (c *ControlPlane) MonitorAddr() net.Addr { return c.monitorListener.Addr() }

// WebhookAddr is the bound address of the injection webhook (Kubernetes
// mode; nil in standalone mode).
func (c *ControlPlane) WebhookAddr() net.Addr {
	if c.webhook == nil {
		return nil
	}
	return c.webhook.Addr()
}

// XDS is the xDS server, for tests that need to send what the translator
// would not.
func (c *ControlPlane) XDS() *xds.Server { return c.xds }

// Close stops serving and waits for every goroutine Start began. Streams
// get a second to end before they are cut.
func (c *ControlPlane) Close() error {
	if c.cancel == nil {
		return nil
	}
	c.cancel()
	force := time.AfterFunc(time.Second, c.grpcServer.Stop)
	c.grpcServer.GracefulStop()
	force.Stop()
	err := c.httpServer.Close()
	c.wg.Wait()
	if c.kubeHTTP != nil {
		c.kubeHTTP.CloseIdleConnections()
	}
	return err
}

// tokenEntries lists the bootstrap tokens of the mesh's workloads.
func tokenEntries(m *model.Mesh) []ca.TokenEntry {
	if m == nil {
		return nil
	}
	var out []ca.TokenEntry
	for _, w := range m.Workloads {
		if w.BootstrapTokenSHA256 != "" {
			out = append(out, ca.TokenEntry{SHA256Hex: w.BootstrapTokenSHA256, Namespace: w.Namespace, ServiceAccount: w.ServiceAccount})
		}
	}
	return out
}
