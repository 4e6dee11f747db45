package httpproxy

import (
	"math/rand/v2"
	"sync"
	"time"
)

// Envoy's outlier detection defaults.
const (
	DefaultConsecutive5xx            = 5
	DefaultConsecutiveGatewayFailure = 5
	DefaultOutlierInterval           = 10 * time.Second
	DefaultBaseEjectionTime          = 30 * time.Second
	DefaultMaxEjectionTime           = 300 * time.Second
	DefaultMaxEjectionPercent        = 10
	DefaultEnforcingConsecutive5xx   = 100
)

// OutlierConfig is a cluster's outlier_detection. Use
// DefaultOutlierConfig for Envoy's defaults; zero durations and counts
// take their defaults in NewOutlier.
type OutlierConfig struct {
	// Consecutive5xx 5xx responses or local failures (connect failure,
	// reset, timeout) in a row eject an endpoint, enforced with
	// probability Enforcing5xx percent.
	Consecutive5xx uint32
	Enforcing5xx   uint32
	// ConsecutiveGatewayFailure 502, 503, 504 responses or local failures
	// in a row eject an endpoint, enforced with probability
	// EnforcingGatewayFailure percent (Envoy's default: 0, never).
	ConsecutiveGatewayFailure uint32
	EnforcingGatewayFailure   uint32
	// Interval is the period over which an endpoint that stays healthy
	// loses one ejection from its multiplier.
	Interval time.Duration
	// BaseEjectionTime times the number of ejections is how long an
	// endpoint stays out, at most MaxEjectionTime (if larger than the
	// base).
	BaseEjectionTime time.Duration
	MaxEjectionTime  time.Duration
	// MaxEjectionPercent bounds the share of endpoints ejected at once.
	MaxEjectionPercent uint32
	// AlwaysEjectOneHost lets one endpoint be ejected whatever
	// MaxEjectionPercent says.
	AlwaysEjectOneHost bool
}

// DefaultOutlierConfig returns Envoy's defaults.
func DefaultOutlierConfig() OutlierConfig {
	return OutlierConfig{
		Consecutive5xx:            DefaultConsecutive5xx,
		Enforcing5xx:              DefaultEnforcingConsecutive5xx,
		ConsecutiveGatewayFailure: DefaultConsecutiveGatewayFailure,
		Interval:                  DefaultOutlierInterval,
		BaseEjectionTime:          DefaultBaseEjectionTime,
		MaxEjectionTime:           DefaultMaxEjectionTime,
		MaxEjectionPercent:        DefaultMaxEjectionPercent,
	}
}

// Outlier ejects the endpoints of one cluster that fail in a row. Create
// it with NewOutlier; it is safe for concurrent use. It starts no
// goroutine: an ejected endpoint returns at the first Ejected call after
// its ejection time.
type Outlier struct {
	cfg OutlierConfig
	now func() time.Time

	mu    sync.Mutex
	hosts map[string]*outlierHost
}

type outlierHost struct {
	consecutive5xx, consecutiveGateway uint32
	ejections                          uint32    // the multiplier
	ejectedUntil                       time.Time // zero when not ejected
	since                              time.Time // last ejection or decay
}

// NewOutlier returns an Outlier with no endpoint ejected.
func NewOutlier(cfg OutlierConfig) *Outlier {
	def := DefaultOutlierConfig()
	if cfg.Consecutive5xx == 0 {
		cfg.Consecutive5xx = def.Consecutive5xx
	}
	if cfg.ConsecutiveGatewayFailure == 0 {
		cfg.ConsecutiveGatewayFailure = def.ConsecutiveGatewayFailure
	}
	if cfg.Interval <= 0 {
		cfg.Interval = def.Interval
	}
	if cfg.BaseEjectionTime <= 0 {
		cfg.BaseEjectionTime = def.BaseEjectionTime
	}
	if cfg.MaxEjectionTime <= 0 {
		cfg.MaxEjectionTime = def.MaxEjectionTime
	}
	cfg.MaxEjectionTime = max(cfg.MaxEjectionTime, cfg.BaseEjectionTime)
	return &Outlier{cfg: cfg, now: time.Now, hosts: make(map[string]*outlierHost)}
}

// Ejected reports whether the endpoint at address is ejected now. A nil
// Outlier ejects nothing.
func (o *Outlier) Ejected(address string) bool {
	if o == nil {
		return false
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	h := o.hosts[address]
	return h != nil && o.ejected(h, o.now())
}

// ejected returns an endpoint whose time is over, and reports whether it
// is still out. Called with mu held.
func (o *Outlier) ejected(h *outlierHost, now time.Time) bool {
	if h.ejectedUntil.IsZero() {
		return false
	}
	if now.Before(h.ejectedUntil) {
		return true
	}
	h.ejectedUntil = time.Time{}
	h.since = now
	return false
}

// Observe learns the outcome of one attempt on the endpoint at address:
// its response status, or 0 when it failed locally (no connection,
// reset, timeout). hosts is the cluster's number of endpoints, for
// MaxEjectionPercent.
func (o *Outlier) Observe(address string, status, hosts int) {
	if o == nil {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	now := o.now()
	h := o.hosts[address]
	if h == nil {
		if len(o.hosts) > 2*hosts+8 {
			o.prune(now)
		}
		h = &outlierHost{since: now}
		o.hosts[address] = h
	}
	if o.ejected(h, now) {
		return
	}
	// The multiplier decays by one per interval spent healthy.
	if h.ejections > 0 {
		n := uint32(min(now.Sub(h.since)/o.cfg.Interval, time.Duration(h.ejections))) //nolint:gosec // at most ejections
		h.ejections -= n
		h.since = h.since.Add(time.Duration(n) * o.cfg.Interval)
	}
	switch {
	case status >= 500 || status == 0:
		h.consecutive5xx++
		if status == 0 || status == 502 || status == 503 || status == 504 {
			h.consecutiveGateway++
		} else {
			h.consecutiveGateway = 0
		}
	default:
		h.consecutive5xx, h.consecutiveGateway = 0, 0
		return
	}
	eject := h.consecutive5xx >= o.cfg.Consecutive5xx && enforced(o.cfg.Enforcing5xx) ||
		h.consecutiveGateway >= o.cfg.ConsecutiveGatewayFailure && enforced(o.cfg.EnforcingGatewayFailure)
	if !eject || !o.mayEject(now, hosts) {
		return
	}
	h.consecutive5xx, h.consecutiveGateway = 0, 0
	h.ejections++
	d := min(time.Duration(h.ejections)*o.cfg.BaseEjectionTime, o.cfg.MaxEjectionTime)
	h.ejectedUntil = now.Add(d)
	h.since = now
}

// prune forgets the endpoints with nothing to remember, so that endpoints
// removed from the cluster do not pile up. Called with mu held.
func (o *Outlier) prune(now time.Time) {
	for addr, h := range o.hosts {
		if !o.ejected(h, now) && h.ejections == 0 && h.consecutive5xx == 0 && h.consecutiveGateway == 0 {
			delete(o.hosts, addr)
		}
	}
}

// mayEject reports whether one more endpoint may be ejected out of hosts.
// Called with mu held.
func (o *Outlier) mayEject(now time.Time, hosts int) bool {
	out := 0
	for _, h := range o.hosts {
		if o.ejected(h, now) {
			out++
		}
	}
	return out == 0 && o.cfg.AlwaysEjectOneHost || float64(out+1)*100 <= float64(o.cfg.MaxEjectionPercent)*float64(hosts)
}

// enforced draws whether an ejection enforced at percent happens.
func enforced(percent uint32) bool {
	return percent >= 100 || percent > 0 && rand.Uint32N(100) < percent //nolint:gosec // no secrecy needed
}
