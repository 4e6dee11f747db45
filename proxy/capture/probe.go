package capture

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// ProbePath is where the status port answers the capture probe.
const ProbePath = "/capture-probe"

// ProbeHeader carries the probe's nonce.
const ProbeHeader = "X-Weft-Capture-Probe"

// Defaults of Prober and Health.
const (
	DefaultProbeTimeout  = time.Second
	DefaultProbeInterval = 2 * time.Second
)

// ErrRulesMissing is wrapped by every failed probe: the probe rule did not
// bring the proxy's own dial back to its status port.
var ErrRulesMissing = errors.New("capture rules missing")

// IsRulesMissing reports whether err is, or wraps, ErrRulesMissing.
func IsRulesMissing(err error) bool { return errors.Is(err, ErrRulesMissing) }

// Prober checks that the capture rules are installed in its network
// namespace: it dials 127.0.0.1:ProbePort, where nothing listens, and only
// the probe rule of the table inet weft (for UID ProxyUID) redirects that
// dial to the status port. The status port serves the Prober itself as
// the handler of ProbePath, which answers only the nonces this Prober has
// in flight, so an answer proves the dial came back to this very process.
//
// The zero value is ready to use.
type Prober struct {
	// Address dialled; empty means 127.0.0.1:ProbePort.
	Address string
	// Timeout bounds one probe; zero means DefaultProbeTimeout.
	Timeout time.Duration

	mu      sync.Mutex
	pending map[string]struct{}
}

func (p *Prober) address() string {
	if p.Address == "" {
		return net.JoinHostPort("127.0.0.1", strconv.Itoa(ProbePort))
	}
	return p.Address
}

// Probe dials the probe address and returns nil once this process's
// status port has answered, or an error wrapping ErrRulesMissing that says
// what happened instead.
func (p *Prober) Probe(ctx context.Context) error {
	nonce, err := newNonce()
	if err != nil {
		return err
	}
	p.mu.Lock()
	if p.pending == nil {
		p.pending = map[string]struct{}{}
	}
	p.pending[nonce] = struct{}{}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.pending, nonce)
		p.mu.Unlock()
	}()

	timeout := p.Timeout
	if timeout <= 0 {
		timeout = DefaultProbeTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	addr := p.address()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+ProbePath, nil)
	if err != nil {
		return fmt.Errorf("capture probe request: %w", err)
	}
	req.Header.Set(ProbeHeader, nonce)
	client := &http.Client{
		Transport: &http.Transport{
			Proxy:             nil,
			DialContext:       (&net.Dialer{}).DialContext,
			DisableKeepAlives: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		return probeError(addr, timeout, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256))
	if err != nil {
		return fmt.Errorf("%w: %s: reading the answer: %w", ErrRulesMissing, addr, err)
	}
	if resp.StatusCode != http.StatusOK || string(body) != nonce {
		return fmt.Errorf("%w: %s was answered (%s) by something other than this proxy's status port", ErrRulesMissing, addr, resp.Status)
	}
	return nil
}

// probeError says why the dial failed; a refused dial is what a missing
// table looks like.
func probeError(addr string, timeout time.Duration, err error) error {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		msg := fmt.Sprintf("%s refused: no rule redirects it to the status port (is table inet %s installed?)", addr, Table)
		if uid := os.Geteuid(); uid != ProxyUID {
			msg += fmt.Sprintf("; the probe rule matches UID %d only and this proxy runs as UID %d", ProxyUID, uid)
		}
		return fmt.Errorf("%w: %s", ErrRulesMissing, msg)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w: %s did not answer within %s", ErrRulesMissing, addr, timeout)
	default:
		return fmt.Errorf("%w: %s: %w", ErrRulesMissing, addr, err)
	}
}

// ServeHTTP answers the probe: 200 with the nonce when the nonce is one
// this Prober has in flight, 404 otherwise (someone else's request).
func (p *Prober) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	nonce := r.Header.Get(ProbeHeader)
	p.mu.Lock()
	_, ok := p.pending[nonce]
	p.mu.Unlock()
	if !ok || nonce == "" {
		http.Error(w, "not a capture probe of this proxy", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = io.WriteString(w, nonce) //nolint:gosec // G705: only a nonce this Prober made (hex) is echoed, as plain text

}

func newNonce() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("capture probe nonce: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// Health probes in the background so that readiness stays cheap: Run
// probes at once and then every Interval; Err is the last result.
type Health struct {
	// Prober is what is run; nil means a zero Prober.
	Prober *Prober
	// Interval between probes; zero means DefaultProbeInterval.
	Interval time.Duration
	// Logger gets the transitions; nil discards.
	Logger *slog.Logger

	mu     sync.Mutex
	probed bool
	err    error
}

// errNotProbed is Err before the first probe has ended.
var errNotProbed = fmt.Errorf("%w: not probed yet", ErrRulesMissing)

// Err is nil when the last probe passed, or why it failed. Before the
// first probe has ended it fails too: readiness must not run ahead of the
// rules.
func (h *Health) Err() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.probed {
		return errNotProbed
	}
	return h.err
}

// Run probes until ctx ends, and returns nil then.
func (h *Health) Run(ctx context.Context) error {
	prober := h.Prober
	if prober == nil {
		prober = &Prober{}
	}
	log := h.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	interval := h.Interval
	if interval <= 0 {
		interval = DefaultProbeInterval
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		err := prober.Probe(ctx)
		if ctx.Err() != nil {
			return nil
		}
		h.mu.Lock()
		first, was := !h.probed, h.err
		h.probed, h.err = true, err
		h.mu.Unlock()
		switch {
		case err != nil && (first || was == nil || was.Error() != err.Error()):
			log.Warn("capture rules missing", "error", err)
		case err == nil && (first || was != nil):
			log.Info("capture rules present")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}
