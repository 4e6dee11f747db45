package identity

import (
	"context"
	"errors"
	"fmt"
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
	cfg Config
	id  spiffeid.ID
	cur atomic.Pointer[state]

	// client is set by Start before any goroutine reads it.
	client cav1.CertificateServiceClient

	mu      sync.Mutex
	started bool
	closed  bool
	cancel  context.CancelCauseFunc // ends the renewal loop; nil before Start
	conn    *grpc.ClientConn
	wg      sync.WaitGroup
}

// state is one answer of the CA: the SVID and the bundle that came with it.
type state struct {
	svid   *x509svid.SVID
	bundle *x509bundle.Bundle
}

var (
	_ x509svid.Source   = (*Manager)(nil)
	_ x509bundle.Source = (*Manager)(nil)
)

// New returns a Manager for cfg. It does no I/O; Start validates cfg.
func New(cfg Config) *Manager {
	cfg.Default()
	id, _ := meshid.Workload(cfg.TrustDomain, cfg.Namespace, cfg.ServiceAccount)
	return &Manager{cfg: cfg, id: id}
}

// ID returns the SPIFFE ID the Manager asks for.
func (m *Manager) ID() spiffeid.ID { return m.id }

// Start requests a certificate from the CA, retrying with backoff, and
// returns once the Manager holds one, or with an error when ctx ends or
// Close is called first. It then renews the certificate in the background,
// with a new key each time, once half of its remaining lifetime has passed;
// until a renewal succeeds the previous certificate stays in use. The
// renewal loop runs until Close, not until ctx ends. A Manager starts at
// most once.
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
	st, err := m.obtain(firstCtx)
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

func (m *Manager) store(ctx context.Context, st *state, msg string) {
	m.cur.Store(st)
	leaf := st.svid.Certificates[0]
	m.cfg.Logger.InfoContext(ctx, msg,
		"spiffe_id", st.svid.ID.String(),
		"serial", leaf.SerialNumber.Text(16),
		"not_after", leaf.NotAfter,
		"renew_in", renewIn(st, time.Now()))
}

// renew replaces the certificate whenever half of its remaining lifetime
// has passed, until ctx ends.
func (m *Manager) renew(ctx context.Context) {
	defer m.wg.Done()
	timer := time.NewTimer(renewIn(m.cur.Load(), time.Now()))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		st, err := m.obtain(ctx)
		if err != nil {
			return // only when ctx has ended
		}
		m.store(ctx, st, "certificate renewed")
		timer.Reset(renewIn(st, time.Now()))
	}
}

// renewIn is half of the certificate's remaining lifetime.
func renewIn(st *state, now time.Time) time.Duration {
	remaining := st.svid.Certificates[0].NotAfter.Sub(now)
	return max(remaining/2, 0)
}

// obtain calls fetch until it succeeds, waiting with exponential backoff
// and jitter between attempts; it fails only when ctx ends.
func (m *Manager) obtain(ctx context.Context) (*state, error) {
	b := newBackoff(m.cfg.RetryInitial, m.cfg.RetryMax)
	for attempt := 1; ; attempt++ {
		st, err := m.fetch(ctx)
		if err == nil {
			return st, nil
		}
		if ctx.Err() != nil {
			return nil, m.giveUp(ctx, attempt, err)
		}
		d := b.delay()
		m.cfg.Logger.WarnContext(ctx, "certificate request failed",
			"ca", m.cfg.CAAddress, "attempt", attempt, "retry_in", d, "error", err)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, m.giveUp(ctx, attempt, err)
		case <-t.C:
		}
	}
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
