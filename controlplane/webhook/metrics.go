package webhook

import "github.com/prometheus/client_golang/prometheus"

// Results of an admission, labels of weft_injector_pods_total.
const (
	resultInjected  = "injected"  // the pod got the proxy
	resultSkipped   = "skipped"   // left unmeshed: opt-out, host network, already injected
	resultDenied    = "denied"    // refused: an invalid weft.dev/ annotation
	resultMalformed = "malformed" // not a pod the webhook could read
)

// Results of reading the injector's ConfigMap, labels of
// weft_injector_config_loads_total.
const (
	loadApplied = "applied" // now in force
	loadMissing = "missing" // no ConfigMap: the defaults are in force
	loadInvalid = "invalid" // refused: the last good configuration stays
)

// Results of a caBundle update, labels of weft_injector_cabundle_updates_total.
const (
	updatePatched = "patched"
	updateFailed  = "failed"
)

type metrics struct {
	pods    *prometheus.CounterVec
	loads   *prometheus.CounterVec
	bundles *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		pods: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weft_injector_pods_total",
			Help: "Pods the injection webhook admitted, by result: injected, skipped (opt-out, host network, already injected), denied (invalid weft.dev/ annotation), malformed.",
		}, []string{"result"}),
		loads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weft_injector_config_loads_total",
			Help: "Times the injector's ConfigMap was read, by result: applied, missing (defaults in force), invalid (the last good configuration stays).",
		}, []string{"result"}),
		bundles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weft_injector_cabundle_updates_total",
			Help: "Writes of the CA's roots into the MutatingWebhookConfiguration's caBundle, by result: patched, failed.",
		}, []string{"result"}),
	}
	for _, r := range []string{resultInjected, resultSkipped, resultDenied, resultMalformed} {
		m.pods.WithLabelValues(r)
	}
	for _, r := range []string{loadApplied, loadMissing, loadInvalid} {
		m.loads.WithLabelValues(r)
	}
	for _, r := range []string{updatePatched, updateFailed} {
		m.bundles.WithLabelValues(r)
	}
	return m
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.pods, m.loads, m.bundles}
}
