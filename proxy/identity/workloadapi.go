package identity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"github.com/spiffe/go-spiffe/v2/workloadapi"
)

// WorkloadAPIConfig configures a WorkloadAPISource.
type WorkloadAPIConfig struct {
	// Address of the SPIFFE Workload API, e.g. unix:///run/spire/agent.sock
	// or tcp://127.0.0.1:8081. Required.
	Address string
	// TrustDomain is the mesh's trust domain; the SVID must belong to it
	// and /certs shows its bundle. Required.
	TrustDomain spiffeid.TrustDomain
	// ID is the SPIFFE ID the workload must be given. When the Workload API
	// hands out several SVIDs, this one is used; Start fails when it is not
	// among them. Required.
	ID spiffeid.ID
	// Logger receives progress and the Workload API client's errors; nil
	// discards.
	Logger *slog.Logger
	// Registerer receives the same metrics as Config.Registerer; nil keeps
	// them unregistered.
	Registerer prometheus.Registerer
}

// Validate reports the first field that is missing or malformed.
func (c *WorkloadAPIConfig) Validate() error {
	switch {
	case c.Address == "":
		return errors.New("workload API address: required")
	case c.TrustDomain.IsZero():
		return errors.New("TrustDomain: required")
	case c.ID.IsZero():
		return errors.New("ID: required")
	case !c.ID.MemberOf(c.TrustDomain):
		return fmt.Errorf("ID %s: not in trust domain %q", c.ID, c.TrustDomain)
	}
	if err := workloadapi.ValidateAddress(c.Address); err != nil {
		return fmt.Errorf("workload API address %q: %w", c.Address, err)
	}
	return nil
}

// WorkloadAPISource gets the workload's SVID and trust bundle from the
// SPIFFE Workload API (a SPIRE agent, for instance), which pushes renewed
// SVIDs by itself. It is a Source, safe for concurrent use.
type WorkloadAPISource struct {
	cfg     WorkloadAPIConfig
	metrics *metrics
	src     atomic.Pointer[workloadapi.X509Source]

	mu      sync.Mutex
	started bool
	closed  bool
	cancel  context.CancelCauseFunc // ends Start's wait and the watch loop
	wg      sync.WaitGroup
}

// NewWorkloadAPISource returns a source for cfg. It does no I/O; Start
// validates cfg.
func NewWorkloadAPISource(cfg WorkloadAPIConfig) *WorkloadAPISource {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &WorkloadAPISource{cfg: cfg, metrics: newMetrics(cfg.Registerer)}
}

// Start connects to the Workload API and returns once it has sent an SVID
// for cfg.ID, or with an error when ctx ends or Close is called first, or
// when the Workload API refuses the workload. Updates are then followed in
// the background until Close. A source starts at most once.
func (s *WorkloadAPISource) Start(ctx context.Context) error {
	if err := s.cfg.Validate(); err != nil {
		return fmt.Errorf("workload API config: %w", err)
	}
	runCtx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	s.mu.Lock()
	var err error
	switch {
	case s.closed:
		err = errors.New("workload API source is closed")
	case s.started:
		err = errors.New("workload API source already started")
	}
	if err != nil {
		s.mu.Unlock()
		cancel(err)
		return err
	}
	s.started, s.cancel = true, cancel
	s.mu.Unlock()

	firstCtx, cancelFirst := context.WithCancelCause(runCtx)
	stop := context.AfterFunc(ctx, func() { cancelFirst(context.Cause(ctx)) })
	log := &spiffeLogger{log: s.cfg.Logger}
	src, err := workloadapi.NewX509Source(firstCtx,
		workloadapi.WithClientOptions(
			workloadapi.WithAddr(s.cfg.Address),
			workloadapi.WithLogger(log),
		),
		workloadapi.WithDefaultX509SVIDPicker(s.pick),
	)
	stop()
	cancelFirst(nil)
	if err != nil {
		err = fmt.Errorf("no SVID from the Workload API at %s: %w", s.cfg.Address, err)
		if cause := context.Cause(firstCtx); cause != nil && !errors.Is(err, cause) {
			err = fmt.Errorf("%w (%w)", err, cause)
		}
		if last := log.lastError.Load(); last != nil {
			err = fmt.Errorf("%w; last error: %s", err, *last)
		}
		return err
	}
	svid, err := src.GetX509SVID()
	if err == nil && svid.ID != s.cfg.ID {
		err = fmt.Errorf("the Workload API at %s gave SPIFFE ID(s) without %s (first: %s); register the workload under that ID", s.cfg.Address, s.cfg.ID, svid.ID)
	}
	if err == nil {
		_, err = src.GetX509BundleForTrustDomain(s.cfg.TrustDomain)
	}
	if err != nil {
		return errors.Join(err, src.Close())
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.Join(errClosed, src.Close())
	}
	s.src.Store(src)
	s.observe(runCtx, svid, "certificate obtained from the Workload API")
	s.wg.Add(1)
	go s.watch(runCtx, src, svid)
	return nil
}

// pick chooses cfg.ID among the SVIDs the Workload API sent, or the first
// one (which Start then refuses).
func (s *WorkloadAPISource) pick(svids []*x509svid.SVID) *x509svid.SVID {
	for _, svid := range svids {
		if svid.ID == s.cfg.ID {
			return svid
		}
	}
	return svids[0]
}

// Close stops following the Workload API and closes the connection to it.
// The source serves nothing afterwards. Close is idempotent and may be
// called without Start.
func (s *WorkloadAPISource) Close() error {
	s.mu.Lock()
	s.closed = true
	cancel := s.cancel
	s.mu.Unlock()
	if cancel != nil {
		cancel(errClosed)
	}
	s.wg.Wait()
	if src := s.src.Swap(nil); src != nil {
		if err := src.Close(); err != nil {
			return fmt.Errorf("close Workload API client: %w", err)
		}
	}
	return nil
}

// GetX509SVID returns the current SVID. It implements x509svid.Source.
func (s *WorkloadAPISource) GetX509SVID() (*x509svid.SVID, error) {
	src := s.src.Load()
	if src == nil {
		return nil, errors.New("no X.509 SVID from the Workload API")
	}
	return src.GetX509SVID()
}

// GetX509BundleForTrustDomain returns the bundle the Workload API sent for
// td (the mesh's own or a federated one). It implements x509bundle.Source.
func (s *WorkloadAPISource) GetX509BundleForTrustDomain(td spiffeid.TrustDomain) (*x509bundle.Bundle, error) {
	src := s.src.Load()
	if src == nil {
		return nil, errors.New("no X.509 bundle from the Workload API")
	}
	return src.GetX509BundleForTrustDomain(td)
}

// Certs describes the current SVID and the mesh's bundle. It implements
// Source.
func (s *WorkloadAPISource) Certs(now time.Time) (*Certs, error) {
	svid, err := s.GetX509SVID()
	if err != nil {
		return nil, err
	}
	return describe(SourceWorkloadAPI, svid, s, s.cfg.TrustDomain, now)
}

// overdueFraction of an SVID's lifetime passing without an update from the
// Workload API is worth a warning: SPIRE renews at half-life.
const overdueFraction = 0.8

// watch logs and counts each new SVID until ctx ends, and warns when the
// Workload API lets the current one come close to expiry.
func (s *WorkloadAPISource) watch(ctx context.Context, src *workloadapi.X509Source, cur *x509svid.SVID) {
	defer s.wg.Done()
	overdue := time.NewTimer(overdueIn(cur, time.Now()))
	defer overdue.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-src.Updated():
			svid, err := src.GetX509SVID()
			if err != nil || svid.Certificates[0].SerialNumber.Cmp(cur.Certificates[0].SerialNumber) == 0 {
				continue // a bundle update
			}
			cur = svid
			s.metrics.renewals.WithLabelValues(resultSuccess).Inc()
			s.observe(ctx, svid, "certificate renewed by the Workload API")
			overdue.Reset(overdueIn(cur, time.Now()))
		case <-overdue.C:
			s.metrics.renewals.WithLabelValues(resultFailure).Inc()
			leaf := cur.Certificates[0]
			left := time.Until(leaf.NotAfter)
			args := []any{"address", s.cfg.Address, "serial", leaf.SerialNumber.Text(16), "expires_in", left.Round(time.Second)}
			if left <= 0 {
				s.cfg.Logger.ErrorContext(ctx, "certificate from the Workload API has expired and was not renewed", args...)
			} else {
				s.cfg.Logger.WarnContext(ctx, "Workload API has not renewed the certificate", args...)
			}
			overdue.Reset(min(max(left/4, time.Second), time.Minute))
		}
	}
}

// overdueIn is how long until overdueFraction of svid's lifetime has
// passed.
func overdueIn(svid *x509svid.SVID, now time.Time) time.Duration {
	leaf := svid.Certificates[0]
	at := leaf.NotBefore.Add(time.Duration(float64(leaf.NotAfter.Sub(leaf.NotBefore)) * overdueFraction))
	return max(at.Sub(now), time.Second)
}

func (s *WorkloadAPISource) observe(ctx context.Context, svid *x509svid.SVID, msg string) {
	s.metrics.observe(svid)
	leaf := svid.Certificates[0]
	s.cfg.Logger.InfoContext(ctx, msg,
		"spiffe_id", svid.ID.String(),
		"serial", leaf.SerialNumber.Text(16),
		"not_after", leaf.NotAfter)
}

// spiffeLogger hands the Workload API client's messages to slog, and keeps
// the last error for Start to report.
type spiffeLogger struct {
	log       *slog.Logger
	lastError atomic.Pointer[string]
}

func (l *spiffeLogger) Debugf(format string, args ...any) {
	l.log.Debug("workload API client", "detail", fmt.Sprintf(format, args...))
}

func (l *spiffeLogger) Infof(format string, args ...any) {
	l.log.Info("workload API client", "detail", fmt.Sprintf(format, args...))
}

func (l *spiffeLogger) Warnf(format string, args ...any) {
	l.log.Warn("workload API client", "detail", fmt.Sprintf(format, args...))
}

func (l *spiffeLogger) Errorf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	l.lastError.Store(&msg)
	l.log.Error("workload API client", "detail", msg)
}
