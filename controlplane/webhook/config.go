package webhook

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/weftmesh/weft/controlplane/ca"
)

// Path is where the webhook is served; the Helm chart's webhook
// configuration (install/helm/weft) points at it.
const Path = "/inject"

// Config configures a Server. Start from Default.
type Config struct {
	// Address the webhook is served on (HTTPS).
	Address string
	// DNSNames are the names its serving certificate carries: how the API
	// server reaches it (the Service's names, or a URL's host).
	DNSNames []string
	// CertTTL is the serving certificate's lifetime; it is reissued at
	// half of it.
	CertTTL time.Duration
	// ConfigurationName is the MutatingWebhookConfiguration whose webhooks
	// get the CA's roots as caBundle.
	ConfigurationName string
	// ConfigMapNamespace and ConfigMapName name the ConfigMap whose key
	// ConfigMapKey holds the injector's configuration.
	ConfigMapNamespace string
	ConfigMapName      string
	// BundleCheckInterval is how often the caBundle is compared with the
	// CA's roots (which change when a root is rotated); a change to the
	// MutatingWebhookConfiguration itself is seen at once.
	BundleCheckInterval time.Duration
}

// ConfigMapKey is the key of the injector's ConfigMap that holds its
// configuration (YAML, see injector.ParseConfig).
const ConfigMapKey = "config.yaml"

// Default returns the configuration of an installed control plane.
func Default() Config {
	return Config{
		Address:             ":15017",
		DNSNames:            []string{"weft-controlplane.weft-system.svc", "weft-controlplane.weft-system.svc.cluster.local"},
		CertTTL:             24 * time.Hour,
		ConfigurationName:   "weft-sidecar-injector",
		ConfigMapNamespace:  "weft-system",
		ConfigMapName:       "weft-injector",
		BundleCheckInterval: 10 * time.Second,
	}
}

// Validate reports every field that cannot work.
func (c Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Address); err != nil {
		errs = append(errs, fmt.Errorf("webhook address %q: %w", c.Address, err))
	}
	if len(c.DNSNames) == 0 {
		errs = append(errs, errors.New("webhook DNS names must not be empty: the API server checks them"))
	}
	if c.CertTTL <= 0 || c.CertTTL > ca.MaxTTL {
		errs = append(errs, fmt.Errorf("webhook certificate lifetime %s must be positive and at most %s", c.CertTTL, ca.MaxTTL))
	}
	if c.ConfigurationName == "" {
		errs = append(errs, errors.New("webhook configuration name must not be empty"))
	}
	if c.ConfigMapNamespace == "" || c.ConfigMapName == "" {
		errs = append(errs, errors.New("injector ConfigMap namespace and name must not be empty"))
	}
	if c.BundleCheckInterval <= 0 {
		errs = append(errs, fmt.Errorf("caBundle check interval %s must be positive", c.BundleCheckInterval))
	}
	return errors.Join(errs...)
}
