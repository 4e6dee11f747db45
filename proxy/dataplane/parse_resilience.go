package dataplane

import (
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/weftmesh/weft/proxy/httpproxy"
)

// Envoy's retry budget defaults.
const (
	defaultBudgetPercent        = 20
	defaultMinRetryConcurrency  = 3
	maxPercent                  = 100
	defaultOutlierEnforcingGate = 0
)

// parseCircuitBreakers returns the thresholds of priority DEFAULT, Envoy's
// defaults when the cluster sets none. Thresholds of priority HIGH are
// refused: routes here have no priority.
func parseCircuitBreakers(p *problems, c *clusterv3.Cluster) httpproxy.BreakerConfig {
	const path = "circuit_breakers"
	var cfg httpproxy.BreakerConfig
	cb := c.GetCircuitBreakers()
	if cb == nil {
		return cfg
	}
	p.OnlyFields(path, cb, "thresholds")
	for i, th := range cb.GetThresholds() {
		at := index(field(path, "thresholds"), i)
		p.OnlyFields(at, th, "priority", "max_connections", "max_pending_requests", "max_requests", "max_retries", "retry_budget", "track_remaining")
		if th.GetPriority() != corev3.RoutingPriority_DEFAULT {
			p.Addf(field(at, "priority"), "unsupported priority %s", th.GetPriority())
			continue
		}
		cfg.MaxConnections = positive(p, field(at, "max_connections"), th.GetMaxConnections())
		cfg.MaxPendingRequests = positive(p, field(at, "max_pending_requests"), th.GetMaxPendingRequests())
		cfg.MaxRequests = positive(p, field(at, "max_requests"), th.GetMaxRequests())
		cfg.MaxRetries = positive(p, field(at, "max_retries"), th.GetMaxRetries())
		if rb := th.GetRetryBudget(); rb != nil {
			bat := field(at, "retry_budget")
			p.OnlyFields(bat, rb, "budget_percent", "min_retry_concurrency")
			b := &httpproxy.RetryBudget{Percent: defaultBudgetPercent, MinConcurrency: defaultMinRetryConcurrency}
			if v := rb.GetBudgetPercent(); v != nil {
				b.Percent = v.GetValue()
				if b.Percent < 0 || b.Percent > maxPercent {
					p.Addf(field(bat, "budget_percent"), "must be within [0, 100]")
				}
			}
			if v := rb.GetMinRetryConcurrency(); v != nil {
				b.MinConcurrency = int64(v.GetValue())
			}
			cfg.Budget = b
		}
	}
	return cfg
}

// positive returns a threshold, which must not be zero when set (zero
// would refuse every request); 0 when unset, for the default.
func positive(p *problems, path string, v *wrapperspb.UInt32Value) int64 {
	if v == nil {
		return 0
	}
	if v.GetValue() == 0 {
		p.Addf(path, "must be at least 1")
	}
	return int64(v.GetValue())
}

// parseOutlierDetection returns the cluster's outlier detection, nil when
// it has none. Only the consecutive-failure detectors are supported.
func parseOutlierDetection(p *problems, c *clusterv3.Cluster) *httpproxy.OutlierConfig {
	const path = "outlier_detection"
	od := c.GetOutlierDetection()
	if od == nil {
		return nil
	}
	p.OnlyFields(path, od, "consecutive_5xx", "interval", "base_ejection_time", "max_ejection_percent",
		"enforcing_consecutive_5xx", "consecutive_gateway_failure", "enforcing_consecutive_gateway_failure",
		"max_ejection_time", "always_eject_one_host")
	cfg := httpproxy.DefaultOutlierConfig()
	cfg.EnforcingGatewayFailure = defaultOutlierEnforcingGate
	if v := od.GetConsecutive_5Xx(); v != nil {
		cfg.Consecutive5xx = v.GetValue()
		if cfg.Consecutive5xx == 0 {
			p.Addf(field(path, "consecutive_5xx"), "must be at least 1")
		}
	}
	if v := od.GetConsecutiveGatewayFailure(); v != nil {
		cfg.ConsecutiveGatewayFailure = v.GetValue()
		if cfg.ConsecutiveGatewayFailure == 0 {
			p.Addf(field(path, "consecutive_gateway_failure"), "must be at least 1")
		}
	}
	cfg.Enforcing5xx = percent(p, field(path, "enforcing_consecutive_5xx"), od.GetEnforcingConsecutive_5Xx(), cfg.Enforcing5xx)
	cfg.EnforcingGatewayFailure = percent(p, field(path, "enforcing_consecutive_gateway_failure"), od.GetEnforcingConsecutiveGatewayFailure(), cfg.EnforcingGatewayFailure)
	cfg.MaxEjectionPercent = percent(p, field(path, "max_ejection_percent"), od.GetMaxEjectionPercent(), cfg.MaxEjectionPercent)
	cfg.Interval = nonZero(p, field(path, "interval"), od.GetInterval(), cfg.Interval)
	cfg.BaseEjectionTime = nonZero(p, field(path, "base_ejection_time"), od.GetBaseEjectionTime(), cfg.BaseEjectionTime)
	cfg.MaxEjectionTime = nonZero(p, field(path, "max_ejection_time"), od.GetMaxEjectionTime(), cfg.MaxEjectionTime)
	cfg.AlwaysEjectOneHost = od.GetAlwaysEjectOneHost().GetValue()
	return &cfg
}

func percent(p *problems, path string, v *wrapperspb.UInt32Value, def uint32) uint32 {
	if v == nil {
		return def
	}
	if v.GetValue() > maxPercent {
		p.Addf(path, "must be at most 100")
	}
	return v.GetValue()
}

// nonZero parses a duration that must be positive when set.
func nonZero(p *problems, path string, d *durationpb.Duration, def time.Duration) time.Duration {
	if d == nil {
		return def
	}
	v := parseDuration(p, path, d, def)
	if v == 0 {
		p.Addf(path, "must be positive")
		return def
	}
	return v
}
