package identity

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"google.golang.org/grpc"
	grpcbackoff "google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"

	cav1 "github.com/weftmesh/weft/api/ca/v1"
	"github.com/weftmesh/weft/meshid"
)

// Manager obtains and renews the workload's X.509 SVID. It is an
// x509svid.Source and an x509bundle.Source, safe for concurrent use.
type Manager struct {
	cfg     Config
	id      spiffeid.ID
	metrics *metrics
	cur     atomic.Pointer[state]

	// client is set by Start before any goroutine reads it.
	client cav1.CertificateServiceClient

	mu      sync.Mutex
	started bool
	closed  bool
	cancel  context.CancelCauseFunc // ends the renewal loop; nil before Start
	conn    *grpc.ClientConn
	wg      sync.WaitGroup
}

// state is one answer of the CA: the SVID and the bundle that came with it,
// and when to renew the SVID.
type state struct {
	svid    *x509svid.SVID
	bundle  *x509bundle.Bundle
	renewAt time.Time
}

// New returns a Manager for cfg. It does no I/O; Start validates cfg.
func New(cfg Config) *Manager {
	cfg.Default()
	id, _ := meshid.Workload(cfg.TrustDomain, cfg.Namespace, cfg.ServiceAccount)
	return &Manager{cfg: cfg, id: id, metrics: newMetrics(cfg.Registerer)}
}

// ID returns the SPIFFE ID the Manager asks for.
func (m *Manager) ID() spiffeid.ID { return m.id }

// Start requests a certificate from the CA, retrying with backoff, and
// returns once the Manager holds one, or with an error when ctx ends or
// Close is called first. It then renews the certificate in the background,
// with a new key each time, at a random point between 40% and 55% of its
// lifetime (see renewDelay); until a renewal succeeds the previous
// certificate stays in use and failed attempts are retried with backoff.
// The renewal loop runs until Close, not until ctx ends. A Manager starts
// at most once.
func (m *Manager) Start(ctx context.Context) error {
	if err := m.cfg.Validate(); err != nil {
		return fmt.Errorf("identity config: %w", err)
	}
	conn, err := grpc.NewClient(m.cfg.CAAddress,
		grpc.WithTransportCredentials(credentials.NewTLS(
			tlsconfig.TLSClientConfig(caRoots{m}, tlsconfig.AuthorizeID(meshid.ControlPlane(m.cfg.TrustDomain))),
		)),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: grpcbackoff.Config{
				BaseDelay:  m.cfg.RetryInitial,
				Multiplier: 1.6,
				Jitter:     0.2,
				MaxDelay:   m.cfg.RetryMax,
			},
			MinConnectTimeout: m.cfg.RequestTimeout,
		}),
	)
	if err != nil {
		return fmt.Errorf("CA client for %s: %w", m.cfg.CAAddress, err)
	}

	runCtx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	m.mu.Lock()
	switch {
	case m.closed:
		err = errors.New("identity manager is closed")
	case m.started:
		err = errors.New("identity manager already started")
	}
	if err != nil {
		m.mu.Unlock()
		cancel(err)
		_ = conn.Close()
		return err
	}
	m.started, m.cancel, m.conn = true, cancel, conn
	m.client = cav1.NewCertificateServiceClient(conn)
	m.mu.Unlock()

	// The first certificate is awaited until ctx ends or Close cancels.
	firstCtx, cancelFirst := context.WithCancelCause(runCtx)
	stop := context.AfterFunc(ctx, func() { cancelFirst(context.Cause(ctx)) })
	st, err := m.obtain(firstCtx, false)
	stop()
	cancelFirst(nil)

	m.mu.Lock()
	defer m.mu.Unlock()
	if err == nil && m.closed {
		err = errClosed
	}
	if err != nil {
		if m.conn != nil { // else Close has taken it
			_ = m.conn.Close() // the error that matters is err
			m.conn = nil
		}
		m.cancel = nil
		cancel(err)
		return err
	}
	m.store(ctx, st, "certificate obtained")
	// Added under mu, so that a concurrent Close either waits for the
	// goroutine or is seen above.
	m.wg.Add(1)
	go m.renew(runCtx)
	return nil
}

// Close stops renewal and waits for it to end. The last certificate stays
// readable. Close is idempotent and may be called without Start.
func (m *Manager) Close() error {
	m.mu.Lock()
	m.closed = true
	cancel, conn := m.cancel, m.conn
	m.conn = nil
	m.mu.Unlock()
	if cancel != nil {
		cancel(errClosed)
	}
	m.wg.Wait()
	if conn != nil {
		if err := conn.Close(); err != nil {
			return fmt.Errorf("close CA client: %w", err)
		}
	}
	return nil
}

// errClosed ends the Manager's work when Close is called.
var errClosed = errors.New("identity manager closed")

// GetX509SVID returns the current SVID. It implements x509svid.Source.
func (m *Manager) GetX509SVID() (*x509svid.SVID, error) {
	st := m.cur.Load()
	if st == nil {
		return nil, errors.New("no X.509 SVID yet")
	}
	return st.svid, nil
}

// GetX509BundleForTrustDomain returns the trust bundle the CA sent last. It
// implements x509bundle.Source.
func (m *Manager) GetX509BundleForTrustDomain(td spiffeid.TrustDomain) (*x509bundle.Bundle, error) {
	if td != m.cfg.TrustDomain {
		return nil, fmt.Errorf("no X.509 bundle for trust domain %q", td)
	}
	st := m.cur.Load()
	if st == nil {
		return nil, errors.New("no X.509 bundle yet")
	}
	return st.bundle, nil
}

// Certs describes the current SVID and bundle. It implements Source.
func (m *Manager) Certs(now time.Time) (*Certs, error) {
	st := m.cur.Load()
	if st == nil {
		return nil, errors.New("no X.509 SVID yet")
	}
	c, err := describe(SourceCA, st.svid, st.bundle, m.cfg.TrustDomain, now)
	if err != nil {
		return nil, err
	}
	renewAt := st.renewAt.UTC()
	c.RenewAt = &renewAt
	return c, nil
}

// store makes st current, scheduling its renewal.
func (m *Manager) store(ctx context.Context, st *state, msg string) {
	now := time.Now()
	leaf := st.svid.Certificates[0]
	st.renewAt = now.Add(renewDelay(leaf.NotBefore, leaf.NotAfter, now, renewFraction(), m.cfg.RetryInitial))
	m.cur.Store(st)
	m.metrics.observe(st.svid)
	m.cfg.Logger.InfoContext(ctx, msg,
		"spiffe_id", st.svid.ID.String(),
		"serial", leaf.SerialNumber.Text(16),
		"not_after", leaf.NotAfter,
		"renew_at", st.renewAt)
}

// renew replaces the certificate when its renewal is due, until ctx ends.
func (m *Manager) renew(ctx context.Context) {
	defer m.wg.Done()
	timer := time.NewTimer(time.Until(m.cur.Load().renewAt))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		st, err := m.obtain(ctx, true)
		if err != nil {
			return // only when ctx has ended
		}
		m.metrics.renewals.WithLabelValues(resultSuccess).Inc()
		m.store(ctx, st, "certificate renewed")
		timer.Reset(time.Until(st.renewAt))
	}
}

// Renewal happens at a random fraction of the certificate's lifetime in
// [renewMinFraction, renewMaxFraction]: about half-life, as the issue asks,
// early enough that a CA outage of a quarter of the lifetime goes unnoticed,
// and spread so that proxies started together do not renew together.
const (
	renewMinFraction = 0.40
	renewMaxFraction = 0.55
)

func renewFraction() float64 {
	return renewMinFraction + rand.Float64()*(renewMaxFraction-renewMinFraction) //nolint:gosec // jitter needs no secrecy
}

// renewDelay is how long after now a certificate valid from notBefore to
// notAfter, received at now, is renewed: fraction of its lifetime, counted
// from when it was received (the CA backdates NotBefore for clock skew,
// which must not bring renewal forward), and never less than floor, so
// that a certificate that arrives expired is not renewed in a busy loop.
func renewDelay(notBefore, notAfter, now time.Time, fraction float64, floor time.Duration) time.Duration {
	start := notBefore
	if now.After(start) {
		start = now
	}
	lifetime := notAfter.Sub(start)
	return max(time.Duration(float64(lifetime)*fraction), floor)
}

// obtain calls fetch until it succeeds, waiting with exponential backoff
// and jitter between attempts; it fails only when ctx ends. Failed
// renewals are counted and logged with the time left on the current
// certificate: at warn level while it is valid, at error level once it has
// expired, so that a renewal that keeps failing is never silent.
func (m *Manager) obtain(ctx context.Context, renewal bool) (*state, error) {
	b := newBackoff(m.cfg.RetryInitial, m.cfg.RetryMax)
	var last error // of the last attempt that ran to its end
	for attempt := 1; ; attempt++ {
		st, err := m.fetch(ctx)
		if err == nil {
			return st, nil
		}
		if ctx.Err() != nil {
			// ctx cut this attempt short: its error ("context canceled")
			// says nothing about the CA, the attempt before it does.
			if last == nil {
				last = err
			}
			return nil, m.giveUp(ctx, attempt, last)
		}
		last = err
		d := b.delay()
		if renewal {
			m.metrics.renewals.WithLabelValues(resultFailure).Inc()
		}
		m.logFailure(ctx, attempt, d, err)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, m.giveUp(ctx, attempt, err)
		case <-t.C:
		}
	}
}

func (m *Manager) logFailure(ctx context.Context, attempt int, retryIn time.Duration, err error) {
	args := []any{"ca", m.cfg.CAAddress, "attempt", attempt, "retry_in", retryIn, "error", err}
	cur := m.cur.Load()
	if cur == nil {
		m.cfg.Logger.WarnContext(ctx, "certificate request failed", args...)
		return
	}
	left := time.Until(cur.svid.Certificates[0].NotAfter)
	args = append(args, "serial", cur.svid.Certificates[0].SerialNumber.Text(16), "expires_in", left.Round(time.Second))
	if left <= 0 {
		m.cfg.Logger.ErrorContext(ctx, "certificate renewal failing and the current certificate has expired", args...)
		return
	}
	m.cfg.Logger.WarnContext(ctx, "certificate renewal failed", args...)
}

// giveUp is obtain's error once ctx has ended: it wraps both why ctx ended
// and the last attempt's error.
func (m *Manager) giveUp(ctx context.Context, attempts int, last error) error {
	return fmt.Errorf("no certificate from the CA at %s after %d attempt(s): %w (last error: %w)",
		m.cfg.CAAddress, attempts, context.Cause(ctx), last)
}

// caRoots verifies the CA server: the configured roots, plus those of the
// bundle the CA sent last (so that a rotated root keeps working).
type caRoots struct{ m *Manager }

func (r caRoots) GetX509BundleForTrustDomain(td spiffeid.TrustDomain) (*x509bundle.Bundle, error) {
	if td != r.m.cfg.TrustDomain {
		return nil, fmt.Errorf("CA server is in trust domain %q, want %q", td, r.m.cfg.TrustDomain)
	}
	b := x509bundle.FromX509Authorities(td, r.m.cfg.RootCAs)
	if st := r.m.cur.Load(); st != nil {
		for _, c := range st.bundle.X509Authorities() {
			b.AddX509Authority(c)
		}
	}
	return b, nil
}
