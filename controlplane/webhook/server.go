package webhook

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/weftmesh/weft/controlplane/ca"
	"github.com/weftmesh/weft/injector"
)

// Server is the injection webhook: an HTTPS server whose certificate the
// CA issues, the watch of the injector's ConfigMap, and the upkeep of the
// webhook configuration's caBundle. Create it with New, then Listen and
// Run.
type Server struct {
	cfg       Config
	authority *ca.Authority
	client    kubernetes.Interface
	log       *slog.Logger
	metrics   *metrics
	config    *configSource
	listener  net.Listener
}

// New returns a Server that does nothing until Listen and Run. The
// authority issues its serving certificate and provides the caBundle;
// client reads the ConfigMap and patches the webhook configuration. A nil
// log discards.
func New(cfg Config, authority *ca.Authority, client kubernetes.Interface, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := newMetrics()
	return &Server{
		cfg:       cfg,
		authority: authority,
		client:    client,
		log:       log,
		metrics:   m,
		config:    newConfigSource(cfg.ConfigMapNamespace+"/"+cfg.ConfigMapName, m, log),
	}
}

// Collectors are the Server's metrics (weft_injector_*), for the caller's
// registry.
func (s *Server) Collectors() []prometheus.Collector { return s.metrics.collectors() }

// Config returns the injector configuration in force: the ConfigMap's
// last good one, or injector.DefaultConfig when there is none.
func (s *Server) Config() injector.Config { return s.config.Config() }

// Listen binds Config.Address. Run must follow.
func (s *Server) Listen(ctx context.Context) error {
	if err := s.cfg.Validate(); err != nil {
		return err
	}
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", s.cfg.Address)
	if err != nil {
		return fmt.Errorf("listening for the injection webhook: %w", err)
	}
	s.listener = l
	return nil
}

// Addr is the address Listen bound.
func (s *Server) Addr() net.Addr { return s.listener.Addr() }

// Run serves the webhook on the listener Listen bound, once the injector's
// ConfigMap has been read (so that no pod is injected with the defaults
// while it has a configuration), and keeps the caBundle up to date, until
// ctx ends. It returns after every goroutine it started has ended, with
// the server's error if serving failed.
func (s *Server) Run(ctx context.Context) error {
	// client-go's informers log through the context's logger.
	ctx = klog.NewContext(ctx, logr.FromSlogHandler(s.log.Handler()))
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()

	ns := s.cfg.ConfigMapNamespace
	cms := s.client.CoreV1().ConfigMaps(ns)
	configs := watchNamed(s.cfg.ConfigMapName, &corev1.ConfigMap{}, lister{
		list:  func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return cms.List(ctx, o) },
		watch: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) { return cms.Watch(ctx, o) },
	}, s.config.update)
	mwcs := s.client.AdmissionregistrationV1().MutatingWebhookConfigurations()
	changed := make(chan struct{}, 1)
	webhooks := watchNamed(s.cfg.ConfigurationName, &admissionregistrationv1.MutatingWebhookConfiguration{}, lister{
		list:  func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return mwcs.List(ctx, o) },
		watch: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) { return mwcs.Watch(ctx, o) },
	}, func(runtime.Object) {
		select {
		case changed <- struct{}{}:
		default:
		}
	})
	wg.Go(func() { configs.RunWithContext(ctx) })
	wg.Go(func() { webhooks.RunWithContext(ctx) })
	patcher := &bundlePatcher{name: s.cfg.ConfigurationName, client: s.client, roots: s.authority.Bundle, metrics: s.metrics, log: s.log}
	wg.Go(func() { s.keepBundle(ctx, patcher, changed) })

	s.log.InfoContext(ctx, "injection webhook reading its configuration before serving", "configmap", s.config.ref)
	if !cache.WaitForCacheSync(ctx.Done(), configs.HasSynced) {
		_ = s.listener.Close()
		return nil // ctx ended first
	}
	return s.serve(ctx)
}

// keepBundle writes the caBundle at start, whenever the configuration
// changes, and every BundleCheckInterval (the CA's roots change without
// notice when a root is rotated).
func (s *Server) keepBundle(ctx context.Context, p *bundlePatcher, changed <-chan struct{}) {
	tick := time.NewTicker(s.cfg.BundleCheckInterval)
	defer tick.Stop()
	for {
		p.sync(ctx)
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-tick.C:
		}
	}
}

// serve runs the HTTPS server until ctx ends.
func (s *Server) serve(ctx context.Context) error {
	hook, err := admission.StandaloneWebhook(&admission.Webhook{
		Handler: &handler{config: s.config.Config, metrics: s.metrics, log: s.log},
	}, admission.StandaloneOptions{Logger: logr.FromSlogHandler(s.log.Handler())})
	if err != nil {
		_ = s.listener.Close()
		return fmt.Errorf("injection webhook: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle(Path, hook)
	certs := s.authority.NewServingCertSource(s.cfg.DNSNames, s.cfg.CertTTL)
	srv := &http.Server{
		Handler: mux,
		TLSConfig: &tls.Config{
			MinVersion:     tls.VersionTLS12,
			GetCertificate: certs.GetCertificate,
		},
		ReadHeaderTimeout: 10 * time.Second,
		// Failed handshakes (a scanner, a client without the bundle) are
		// not the control plane's problem.
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(s.listener, "", "") }()
	s.log.InfoContext(ctx, "injection webhook serving", "address", s.listener.Addr().String(), "path", Path)
	select {
	case err := <-errc:
		return fmt.Errorf("injection webhook: %w", err)
	case <-ctx.Done():
	}
	// Requests under way get a second to be answered.
	stop, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	if err := srv.Shutdown(stop); err != nil {
		_ = srv.Close()
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("injection webhook: %w", err)
	}
	return nil
}
