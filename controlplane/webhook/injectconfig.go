package webhook

import (
	"log/slog"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/weftmesh/weft/injector"
)

// configSource holds the injector's configuration from its ConfigMap: the
// defaults while there is none, the last good one while it is invalid.
type configSource struct {
	ref     string // namespace/name, for logs
	current atomic.Pointer[injector.Config]
	metrics *metrics
	log     *slog.Logger
}

func newConfigSource(ref string, m *metrics, log *slog.Logger) *configSource {
	s := &configSource{ref: ref, metrics: m, log: log}
	cfg := injector.DefaultConfig()
	s.current.Store(&cfg)
	return s
}

// Config returns the configuration in force.
func (s *configSource) Config() injector.Config { return *s.current.Load() }

// update takes the ConfigMap's new state: nil when it is deleted.
func (s *configSource) update(obj runtime.Object) {
	cm, _ := obj.(*corev1.ConfigMap)
	if cm == nil {
		cfg := injector.DefaultConfig()
		s.current.Store(&cfg)
		s.metrics.loads.WithLabelValues(loadMissing).Inc()
		s.log.Info("injector configuration missing, using the defaults", "configmap", s.ref)
		return
	}
	data, ok := cm.Data[ConfigMapKey]
	if !ok {
		s.metrics.loads.WithLabelValues(loadInvalid).Inc()
		s.log.Error("injector configuration not applied, keeping the last good one", "configmap", s.ref, "resource_version", cm.ResourceVersion,
			"error", "the ConfigMap has no key "+ConfigMapKey)
		return
	}
	cfg, err := injector.ParseConfig([]byte(data))
	if err != nil {
		s.metrics.loads.WithLabelValues(loadInvalid).Inc()
		s.log.Error("injector configuration not applied, keeping the last good one", "configmap", s.ref, "resource_version", cm.ResourceVersion, "error", err)
		return
	}
	s.current.Store(&cfg)
	s.metrics.loads.WithLabelValues(loadApplied).Inc()
	s.log.Info("injector configuration applied", "configmap", s.ref, "resource_version", cm.ResourceVersion)
}
