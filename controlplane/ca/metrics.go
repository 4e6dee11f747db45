package ca

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Label values of weft_ca_certificates_total besides the Reason values.
const (
	resultIssued   = "issued"
	resultRejected = "rejected"

	reasonOK              = "ok"
	reasonUnauthenticated = "unauthenticated"
	reasonInternal        = "internal"
)

type metrics struct {
	certificates *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		certificates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weft_ca_certificates_total",
			Help: "Certificate requests the CA answered, by result (issued, rejected) and reason.",
		}, []string{"result", "reason"}),
	}
	// Known series start at zero, so that rates work from the first scrape.
	m.certificates.WithLabelValues(resultIssued, reasonOK)
	m.certificates.WithLabelValues(resultRejected, reasonUnauthenticated)
	if reg != nil {
		if err := reg.Register(m.certificates); err != nil {
			return nil, fmt.Errorf("register CA metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) issued() { m.certificates.WithLabelValues(resultIssued, reasonOK).Inc() }

func (m *metrics) rejected(reason string) {
	m.certificates.WithLabelValues(resultRejected, reason).Inc()
}

// Collectors returns gauges read at every scrape: the signing certificate's
// expiry (weft_ca_signing_certificate_expiry_timestamp_seconds) and the
// number of roots in the trust bundle (weft_ca_trust_bundle_roots), so that
// an expiring CA or a rotation left half-done can be alerted on.
func (a *Authority) Collectors() []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "weft_ca_signing_certificate_expiry_timestamp_seconds",
			Help: "When the certificate the CA signs with expires, in seconds since the epoch.",
		}, func() float64 { return float64(a.SigningCertificate().NotAfter.Unix()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "weft_ca_trust_bundle_roots",
			Help: "Roots in the trust bundle the CA serves; more than one while a root is rotated.",
		}, func() float64 { return float64(len(a.Bundle())) }),
	}
}
