package status

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

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/weftmesh/weft/proxy/capture"
)

// Config configures the status server.
type Config struct {
	// Address to listen on, host:port; ":15020" in a pod, where the
	// kubelet probes the pod IP.
	Address string
	// Ready returns nil once the proxy is ready, or why it is not; its
	// message is /ready's one-line answer. Nil means always ready.
	Ready func() error
	// Metrics is what /metrics serves. Nil leaves /metrics out.
	Metrics prometheus.Gatherer
	// Probes is the probe table served under /app-health/ (ParseProbes).
	Probes Probes
	// CaptureProbe answers the proxy's own capture probe at
	// capture.ProbePath (the probe rule redirects 127.0.0.1:15007 here; a
	// *capture.Prober). Nil leaves the path out.
	CaptureProbe http.Handler
	// Logger; nil discards.
	Logger *slog.Logger
}

// Server is the status port. Create it with New, then Start; Close stops
// it.
type Server struct {
	cfg    Config
	log    *slog.Logger
	client *http.Client

	ln   net.Listener
	srv  *http.Server
	errc chan error

	// ctx is every request's context; Close cancels it so that probes in
	// flight end.
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	closed   bool
	inflight sync.WaitGroup
	wg       sync.WaitGroup
}

// New returns a server that does nothing until Start.
func New(cfg Config) *Server {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{cfg: cfg, log: log, client: newProbeClient(), errc: make(chan error, 1)}
}

// newProbeClient asks the app the way the kubelet does: a fresh connection
// per probe, no proxy from the environment, the app's certificate not
// verified, and redirects followed only to the same host (a redirect
// elsewhere is answered with the redirect's status, which the kubelet
// counts as success).
func newProbeClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:             nil,
			DialContext:       (&net.Dialer{}).DialContext,
			DisableKeepAlives: true,
			// The kubelet does not verify the app's certificate either:
			// apps serve probes with whatever certificate they have.
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // as the kubelet does, see above
		},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Hostname() != via[0].URL.Hostname() {
				return http.ErrUseLastResponse
			}
			if len(via) >= 10 {
				return errors.New("stopped after 10 redirects")
			}
			return nil
		},
	}
}

// Start binds the address and serves in the background until Close.
func (s *Server) Start(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Address)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", s.cfg.Address, err)
	}
	s.ln = ln
	// ctx bounds the start only; requests run until Close.
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	s.srv = &http.Server{
		Handler:           s.handler(),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return s.ctx },
	}
	s.wg.Go(func() {
		if err := s.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.errc <- fmt.Errorf("serving the status port: %w", err)
		}
	})
	s.log.Info("status port serving", "address", ln.Addr().String(), "app_probes", len(s.cfg.Probes))
	return nil
}

// Addr is the bound address; nil before Start.
func (s *Server) Addr() net.Addr {
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Errors delivers the error that stopped a started server early.
func (s *Server) Errors() <-chan error { return s.errc }

// Close stops serving, ends probes in flight and returns once every
// goroutine the server started has ended.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	if s.srv == nil {
		return nil
	}
	s.cancel()
	err := s.srv.Close()
	s.wg.Wait()
	s.inflight.Wait()
	s.client.CloseIdleConnections()
	return err
}

func (s *Server) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, _ *http.Request) {
		if s.cfg.Ready != nil {
			if err := s.cfg.Ready(); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	if s.cfg.Metrics != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(s.cfg.Metrics, promhttp.HandlerOpts{}))
	}
	mux.HandleFunc("GET "+PathPrefix, s.serveProbe)
	if s.cfg.CaptureProbe != nil {
		mux.Handle("GET "+capture.ProbePath, s.cfg.CaptureProbe)
	}
	return s.track(mux)
}

// track counts requests in flight so that Close can wait for them;
// http.Server.Close does not.
func (s *Server) track(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		s.inflight.Add(1)
		s.mu.Unlock()
		defer s.inflight.Done()
		next.ServeHTTP(w, r)
	})
}
