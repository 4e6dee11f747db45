package identity

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

// Results of weft_proxy_svid_renewals_total.
const (
	resultSuccess = "success"
	resultFailure = "failure"
)

type metrics struct {
	expiry prometheus.Gauge
	// certExpiry is expiry under the name every Weft component uses, as
	// certificate="workload". A family with a variable label: a gateway's
	// dataplane adds its served certificates to the same collector.
	certExpiry *prometheus.GaugeVec
	renewals   *prometheus.CounterVec
}

// newMetrics creates the identity metrics and registers them on reg; a nil
// reg keeps them unregistered.
func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		expiry: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "weft_proxy_svid_expiry_timestamp_seconds",
			Help: "NotAfter of the workload's current X.509 SVID, in seconds since the Unix epoch.",
		}),
		certExpiry: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "weft_certificate_expiry_timestamp_seconds",
			Help: "NotAfter of a certificate in use, in seconds since the Unix epoch.",
		}, []string{"certificate"}),
		renewals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weft_proxy_svid_renewals_total",
			Help: "Attempts to replace the workload's X.509 SVID after the first one, by result (success, failure).",
		}, []string{"result"}),
	}
	// Both results show from the start, so that rate() works at once.
	m.renewals.WithLabelValues(resultSuccess)
	m.renewals.WithLabelValues(resultFailure)
	if reg == nil {
		return m
	}
	m.expiry = register(reg, m.expiry)
	m.certExpiry = register(reg, m.certExpiry)
	m.renewals = register(reg, m.renewals)
	return m
}

// observe records the SVID now in use.
func (m *metrics) observe(svid *x509svid.SVID) {
	m.expiry.Set(float64(svid.Certificates[0].NotAfter.Unix()))
	m.certExpiry.WithLabelValues("workload").Set(float64(svid.Certificates[0].NotAfter.Unix()))
}

// register registers c, or returns the identical collector already
// registered (a proxy restarted in the same process shares a registry).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		if are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); ok {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
	}
	return c
}
