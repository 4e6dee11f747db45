package controlplane

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/rest"

	"github.com/weftmesh/weft/controlplane/ca"
	"github.com/weftmesh/weft/controlplane/model"
	"github.com/weftmesh/weft/controlplane/webhook"
)

// Config configures the control plane. Start from Default.
//
// The mode follows ConfigDir: with it, standalone mode reads the mesh from
// that directory; without it, Kubernetes mode watches the API server
// (Kubeconfig, KubeRESTConfig) and keeps the CA's root in CASecret.
type Config struct {
	// ConfigDir is the directory of YAML the mesh is read from (standalone
	// mode); empty selects Kubernetes mode.
	ConfigDir string
	// StateDir keeps the CA's root key and certificate between restarts,
	// when no CA is provided (CADir, CACertFile), in standalone mode.
	StateDir string
	// Kubeconfig is the kubeconfig file of Kubernetes mode. Empty means
	// the pod's in-cluster configuration when running in a pod, else the
	// usual kubeconfig rules ($KUBECONFIG, ~/.kube/config).
	Kubeconfig string
	// KubeRESTConfig, when not nil, is used instead of Kubeconfig: for
	// tests (envtest) and programs that embed the control plane.
	KubeRESTConfig *rest.Config
	// Identity names this replica in the Lease that elects the one
	// replica writing policy and route status (Kubernetes mode): the
	// Pod's name. Empty means the host name, which is the Pod's name in a
	// pod.
	Identity string
	// CASecret is the "<namespace>/<name>" of the Secret that keeps the
	// CA's root in Kubernetes mode, when no CA is provided; it is created
	// on first start and read once at every start.
	CASecret string
	// CADir holds a provided CA in cert-manager's layout: tls.crt (the
	// signing certificate, then any intermediates), tls.key, ca.crt (its
	// roots). Excludes CACertFile.
	CADir string
	// CACertFile, CAKeyFile and CABundleFile name a provided CA's files:
	// the signing certificate (root or intermediate, then any
	// intermediates), its key, and the roots it chains to (optional when
	// the certificate is a root).
	CACertFile   string
	CAKeyFile    string
	CABundleFile string
	// CATrustBundleFile holds more roots to trust and serve in the trust
	// bundle: the other root while one is rotated (docs/identity.md).
	CATrustBundleFile string
	// CAReloadInterval is how often the CA's files are re-read; a change
	// that passes every check takes effect at once. Zero disables polling
	// (SIGHUP still reloads).
	CAReloadInterval time.Duration
	// TrustDomain of every SPIFFE ID the CA issues.
	TrustDomain string
	// XDSAddress serves xDS and the CA (gRPC over TLS).
	XDSAddress string
	// MonitorAddress serves /metrics, /ready and /debug/ pages (plain HTTP).
	MonitorAddress string
	// ServingDNSNames are extra DNS names for the control plane's own
	// certificate; proxies check its SPIFFE ID, other clients may check these.
	ServingDNSNames []string
	// DefaultCertTTL and MaxCertTTL bound the lifetime of workload certificates.
	DefaultCertTTL time.Duration
	MaxCertTTL     time.Duration

	// WebhookAddress serves the sidecar injector's webhook (HTTPS,
	// Kubernetes mode only).
	WebhookAddress string
	// WebhookDNSNames are the names the webhook's certificate carries: the
	// Service's, or the host of the URL the API server is given.
	WebhookDNSNames []string
	// WebhookConfigName is the MutatingWebhookConfiguration whose webhooks
	// get the CA's roots as caBundle.
	WebhookConfigName string
	// InjectorConfigMap is the "<namespace>/<name>" of the ConfigMap whose
	// key config.yaml configures injection.
	InjectorConfigMap string

	// OutboundTrafficPolicy is what Pods' sidecars do with a connection to
	// a destination the mesh does not know: ALLOW_ANY passes it through,
	// REGISTRY_ONLY closes it (docs/capture.md).
	OutboundTrafficPolicy string

	// AccessLog makes sidecars write an access log line per HTTP request
	// and per TCP connection to their stdout (gateways always do).
	AccessLog bool

	// GatewayDeployer creates and owns the ServiceAccount, Deployment and
	// Service of each Gateway of Weft's class (Kubernetes mode; package
	// gateway/deploy).
	GatewayDeployer bool
}

// Default returns the configuration used when no flag says otherwise.
func Default() Config {
	return Config{
		StateDir:        "/var/lib/weft",
		CASecret:        ca.DefaultSecretRef().String(),
		TrustDomain:     model.DefaultTrustDomain,
		XDSAddress:      ":15012",
		MonitorAddress:  ":15014",
		ServingDNSNames: []string{"weft-controlplane.weft-system.svc"},
		DefaultCertTTL:  24 * time.Hour,
		MaxCertTTL:      7 * 24 * time.Hour,

		CAReloadInterval: 10 * time.Second,

		WebhookAddress:    webhook.Default().Address,
		WebhookDNSNames:   webhook.Default().DNSNames,
		WebhookConfigName: webhook.Default().ConfigurationName,
		InjectorConfigMap: webhook.Default().ConfigMapNamespace + "/" + webhook.Default().ConfigMapName,

		OutboundTrafficPolicy: string(model.OutboundAllowAny),

		GatewayDeployer: true,
	}
}

// Validate reports every field that cannot work, naming the flag.
func (c Config) Validate() error {
	var errs []error
	if c.KubernetesMode() {
		errs = append(errs, c.validateKubernetes()...)
	} else {
		if c.StateDir == "" && !c.ProvidedCA() {
			errs = append(errs, errors.New("--state-dir must not be empty: it keeps the CA root (or give --ca-dir or --ca-cert-file)"))
		}
		if c.Kubeconfig != "" || c.KubeRESTConfig != nil {
			errs = append(errs, errors.New("--kubeconfig is for Kubernetes mode, which --config-dir turns off: give one or the other"))
		}
	}
	errs = append(errs, c.validateCA()...)
	if _, err := spiffeid.TrustDomainFromString(c.TrustDomain); err != nil {
		errs = append(errs, fmt.Errorf("--trust-domain %q: %w", c.TrustDomain, err))
	}
	for flag, addr := range map[string]string{"--xds-address": c.XDSAddress, "--monitor-address": c.MonitorAddress} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: %w", flag, addr, err))
		}
	}
	if err := model.OutboundTrafficPolicy(c.OutboundTrafficPolicy).Validate(); err != nil {
		errs = append(errs, fmt.Errorf("--outbound-traffic-policy: %w", err))
	}
	if c.DefaultCertTTL <= 0 || c.MaxCertTTL <= 0 || c.DefaultCertTTL > c.MaxCertTTL {
		errs = append(errs, fmt.Errorf("--cert-ttl %s must be positive and at most --max-cert-ttl %s", c.DefaultCertTTL, c.MaxCertTTL))
	}
	return errors.Join(errs...)
}

// KubernetesMode reports whether the mesh comes from the Kubernetes API
// server (no ConfigDir) rather than from a directory.
func (c Config) KubernetesMode() bool { return c.ConfigDir == "" }

// SecretCA reports whether the CA's root is kept in CASecret: Kubernetes
// mode without a provided CA.
func (c Config) SecretCA() bool { return c.KubernetesMode() && !c.ProvidedCA() }

func (c Config) validateKubernetes() []error {
	var errs []error
	if _, err := c.webhookConfig(); err != nil {
		errs = append(errs, err)
	}
	if c.SecretCA() {
		if _, err := c.caSecretRef(); err != nil {
			errs = append(errs, err)
		}
		if c.CATrustBundleFile != "" {
			errs = append(errs, errors.New("--ca-trust-bundle-file needs --ca-dir or --ca-cert-file in Kubernetes mode: the root kept in --ca-secret is read once, at start"))
		}
	}
	return errs
}

// webhookConfig is the injection webhook's configuration (Kubernetes
// mode), checked.
func (c Config) webhookConfig() (webhook.Config, error) {
	w := webhook.Default()
	w.Address, w.DNSNames, w.ConfigurationName = c.WebhookAddress, c.WebhookDNSNames, c.WebhookConfigName
	ns, name, ok := strings.Cut(c.InjectorConfigMap, "/")
	if !ok || len(validation.IsDNS1123Label(ns)) > 0 || len(validation.IsDNS1123Subdomain(name)) > 0 {
		return w, fmt.Errorf("--injector-configmap %q must be <namespace>/<name> of a ConfigMap", c.InjectorConfigMap)
	}
	w.ConfigMapNamespace, w.ConfigMapName = ns, name
	var errs []error
	if _, _, err := net.SplitHostPort(c.WebhookAddress); err != nil {
		errs = append(errs, fmt.Errorf("--webhook-address %q: %w", c.WebhookAddress, err))
	}
	if len(validation.IsDNS1123Subdomain(c.WebhookConfigName)) > 0 {
		errs = append(errs, fmt.Errorf("--webhook-config-name %q must name a MutatingWebhookConfiguration", c.WebhookConfigName))
	}
	if len(c.WebhookDNSNames) == 0 {
		errs = append(errs, errors.New("--webhook-dns-names must not be empty: the API server checks the webhook's certificate against them"))
	}
	return w, errors.Join(errs...)
}

// caSecretRef parses CASecret.
func (c Config) caSecretRef() (ca.SecretRef, error) {
	ns, name, ok := strings.Cut(c.CASecret, "/")
	if !ok || len(validation.IsDNS1123Label(ns)) > 0 || len(validation.IsDNS1123Subdomain(name)) > 0 {
		return ca.SecretRef{}, fmt.Errorf("--ca-secret %q must be <namespace>/<name> of a Secret", c.CASecret)
	}
	return ca.SecretRef{Namespace: ns, Name: name}, nil
}

// ProvidedCA reports whether the CA is given (CADir or CACertFile) rather
// than created in StateDir.
func (c Config) ProvidedCA() bool { return c.CADir != "" || c.CACertFile != "" }

func (c Config) validateCA() []error {
	var errs []error
	switch {
	case c.CADir != "" && (c.CACertFile != "" || c.CAKeyFile != "" || c.CABundleFile != ""):
		errs = append(errs, errors.New("--ca-dir excludes --ca-cert-file, --ca-key-file and --ca-bundle-file: give a cert-manager directory or the files"))
	case c.CACertFile != "" && c.CAKeyFile == "":
		errs = append(errs, errors.New("--ca-cert-file needs --ca-key-file"))
	case c.CAKeyFile != "" && c.CACertFile == "":
		errs = append(errs, errors.New("--ca-key-file needs --ca-cert-file"))
	case c.CABundleFile != "" && c.CACertFile == "":
		errs = append(errs, errors.New("--ca-bundle-file needs --ca-cert-file"))
	}
	if c.CAReloadInterval < 0 {
		errs = append(errs, fmt.Errorf("--ca-reload-interval %s must not be negative (0 disables polling)", c.CAReloadInterval))
	}
	return errs
}
