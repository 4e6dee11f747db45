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
