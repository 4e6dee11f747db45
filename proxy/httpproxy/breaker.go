package httpproxy

import (
	"sync/atomic"
)

// Envoy's default circuit breaker thresholds (priority DEFAULT).
const (
	DefaultMaxConnections     = 1024
	DefaultMaxPendingRequests = 1024
	DefaultMaxRequests        = 1024
	DefaultMaxRetries         = 3
)

// FlagUpstreamOverflow is a request refused by a circuit breaker (503).
const FlagUpstreamOverflow = "UO"

// BreakerConfig is a cluster's circuit breaker thresholds
// (circuit_breakers.thresholds of priority DEFAULT). Zero fields take
// Envoy's defaults.
type BreakerConfig struct {
	// MaxConnections bounds the upstream connections of the cluster, all
	// endpoints together.
	MaxConnections int64
	// MaxPendingRequests bounds the requests waiting for a connection.
	MaxPendingRequests int64
	// MaxRequests bounds the requests in flight.
	MaxRequests int64
	// MaxRetries bounds the retries in flight; ignored when Budget is set.
	MaxRetries int64
	// Budget, when not nil, replaces MaxRetries by a retry budget.
	Budget *RetryBudget
}

// RetryBudget bounds the retries in flight to a share of the requests in
// flight and pending, but never below MinConcurrency.
type RetryBudget struct {
	// Percent is the share in percent; Envoy's default is 20.
	Percent float64
	// MinConcurrency is the floor; Envoy's default is 3.
	MinConcurrency int64
}

// Breaker is the circuit breaker of one cluster. Create it with
// NewBreaker; it is safe for concurrent use. A nil *Breaker has Envoy's
// default thresholds but counts nothing: it never trips.
type Breaker struct {
	cfg                                     BreakerConfig
	connections, pending, requests, retries atomic.Int64
}

// NewBreaker returns a Breaker with nothing in flight.
func NewBreaker(cfg BreakerConfig) *Breaker {
	if cfg.MaxConnections <= 0 {
		cfg.MaxConnections = DefaultMaxConnections
	}
	if cfg.MaxPendingRequests <= 0 {
		cfg.MaxPendingRequests = DefaultMaxPendingRequests
	}
	if cfg.MaxRequests <= 0 {
		cfg.MaxRequests = DefaultMaxRequests
	}
	if cfg.MaxRetries <= 0 {
		cfg.MaxRetries = DefaultMaxRetries
	}
	return &Breaker{cfg: cfg}
}

// acquire takes one unit of counter c under limit, or reports false and
// takes nothing.
func acquire(c *atomic.Int64, limit int64) bool {
	if c.Add(1) > limit {
		c.Add(-1)
		return false
	}
	return true
}

// slot is a unit taken from a Breaker; its release gives it back once.
type slot struct{ c *atomic.Int64 }

func (s slot) release() {
	if s.c != nil {
		s.c.Add(-1)
	}
}

// request takes a request slot.
func (b *Breaker) request() (slot, bool) {
	if b == nil {
		return slot{}, true
	}
	if !acquire(&b.requests, b.cfg.MaxRequests) {
		return slot{}, false
	}
	return slot{&b.requests}, true
}

// pend takes a pending-request slot, held until the request has a
// connection.
func (b *Breaker) pend() (slot, bool) {
	if b == nil {
		return slot{}, true
	}
	if !acquire(&b.pending, b.cfg.MaxPendingRequests) {
		return slot{}, false
	}
	return slot{&b.pending}, true
}

// connection takes a connection slot, held until the connection closes.
func (b *Breaker) connection() (slot, bool) {
	if b == nil {
		return slot{}, true
	}
	if !acquire(&b.connections, b.cfg.MaxConnections) {
		return slot{}, false
	}
	return slot{&b.connections}, true
}

// retry takes a retry slot, under MaxRetries or the retry budget.
func (b *Breaker) retry() (slot, bool) {
	if b == nil {
		return slot{}, true
	}
	limit := b.cfg.MaxRetries
	if bu := b.cfg.Budget; bu != nil {
		active := b.requests.Load() + b.pending.Load()
		limit = max(bu.MinConcurrency, int64(bu.Percent/100*float64(active)))
	}
	if !acquire(&b.retries, limit) {
		return slot{}, false
	}
	return slot{&b.retries}, true
}
