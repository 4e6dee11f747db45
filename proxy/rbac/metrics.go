package rbac

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts decisions: weft_proxy_authz_denied_total{listener,
// policy, reason} and weft_proxy_authz_audited_total{listener, policy}.
// HTTP and TCP listeners of one proxy share them.
type Metrics struct {
	denied, audited *prometheus.CounterVec
}

// NewMetrics returns the counters registered with reg, or those already
// registered there by an earlier call; nil reg keeps them unregistered.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		denied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weft_proxy_authz_denied_total",
			Help: "Requests and connections denied by an RBAC filter, by the DENY policy that matched (reason denied) or none (reason not_allowed: no ALLOW policy matched).",
		}, []string{"listener", "policy", "reason"}),
		audited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weft_proxy_authz_audited_total",
			Help: "Requests and connections matched by a policy of an RBAC filter with action LOG (AUDIT policies).",
		}, []string{"listener", "policy"}),
	}
	if reg == nil {
		return m
	}
	m.denied = register(reg, m.denied)
	m.audited = register(reg, m.audited)
	return m
}

// Observe counts decision d of listener.
func (m *Metrics) Observe(listener string, d Decision) {
	for _, k := range d.Audited {
		m.audited.WithLabelValues(listener, k).Inc()
	}
	if !d.Allowed {
		m.denied.WithLabelValues(listener, d.Policy, d.Reason).Inc()
	}
}

// register registers c, or returns the identical collector already
// registered.
func register(reg prometheus.Registerer, c *prometheus.CounterVec) *prometheus.CounterVec {
	err := reg.Register(c)
	if are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); ok {
		if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
			return existing
		}
	}
	return c
}
