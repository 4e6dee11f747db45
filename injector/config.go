package injector

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strconv"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// Config is the mesh configuration injection needs: the key config.yaml of
// the ConfigMap weft-system/weft-injector, and the file weftctl inject
// --config reads. Field names are the YAML keys.
type Config struct {
	// ProxyImage runs both injected containers: weft-proxy, and weft-init
	// as "weft-proxy init". The image's entrypoint must be weft-proxy.
	ProxyImage string `json:"proxyImage"`
	// ControlPlaneAddress is the proxy's --control-plane (xDS and CA).
	ControlPlaneAddress string `json:"controlPlaneAddress"`
	// TrustDomain is the proxy's --trust-domain.
	TrustDomain string `json:"trustDomain"`
	// LogLevel is the proxy's --log-level: debug, info, warn or error.
	LogLevel string `json:"logLevel"`
	// CNI says every node runs the Weft CNI plugin, which installs the
	// capture rules: no weft-init container, so pods need no capabilities.
	CNI bool `json:"cni"`
	// Resources of weft-proxy (and weft-init), overridden per pod by the
	// annotations weft.dev/proxy-cpu, -memory, -cpu-limit, -memory-limit.
	// Keys given in the YAML replace the defaults' keys one by one: a
	// ConfigMap setting only requests.cpu keeps the default memory request.
	Resources corev1.ResourceRequirements `json:"resources"`
	// CARootConfigMap names the ConfigMap, in the pod's namespace, whose key
	// root-cert.pem holds the mesh's CA root; it is mounted where the proxy's
	// --ca-root-file default expects it (/var/run/weft/ca/root-cert.pem).
	CARootConfigMap string `json:"caRootConfigMap"`
	// Tracing is the proxies' tracing: off while OTLPEndpoint is empty.
	Tracing TracingConfig `json:"tracing"`
}

// TracingConfig is the key tracing of the mesh configuration
// (docs/tracing.md).
type TracingConfig struct {
	// OTLPEndpoint is the proxy's --tracing-otlp-endpoint: the OTLP
	// collector, host:port for gRPC or an http(s):// URL for OTLP/HTTP.
	OTLPEndpoint string `json:"otlpEndpoint"`
	// Sampling is the proxy's --tracing-sampling: the share of new traces
	// recorded, 0 to 1.
	Sampling float64 `json:"sampling"`
}

// Defaults of the mesh configuration.
const (
	DefaultProxyImage          = "ghcr.io/weftmesh/weft-proxy:latest"
	DefaultControlPlaneAddress = "weft-controlplane.weft-system.svc:15012"
	DefaultTrustDomain         = "cluster.local"
	DefaultLogLevel            = "info"
	DefaultCARootConfigMap     = "weft-ca-root"
	// DefaultTracingSampling is the proxy's default: 1% of new traces.
	DefaultTracingSampling = 0.01
)

// DefaultConfig is the configuration used when the ConfigMap (or --config)
// sets nothing. The proxy's resources default to requests of 10m CPU and
// 40Mi memory (an idle sidecar of a small mesh) and a 256Mi memory limit
// (a proxy growing past it leaks or serves a mesh too large for the
// defaults); there is no CPU limit, since throttling a proxy adds latency to
// every request of the app.
func DefaultConfig() Config {
	return Config{
		ProxyImage:          DefaultProxyImage,
		ControlPlaneAddress: DefaultControlPlaneAddress,
		TrustDomain:         DefaultTrustDomain,
		LogLevel:            DefaultLogLevel,
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{
				corev1.ResourceCPU:    resource.MustParse("10m"),
				corev1.ResourceMemory: resource.MustParse("40Mi"),
			},
			Limits: corev1.ResourceList{
				corev1.ResourceMemory: resource.MustParse("256Mi"),
			},
		},
		CARootConfigMap: DefaultCARootConfigMap,
		Tracing:         TracingConfig{Sampling: DefaultTracingSampling},
	}
}

// ParseConfig decodes config.yaml over DefaultConfig: fields it leaves out
// keep their defaults, an unknown field is an error naming it, and the
// result is validated.
func ParseConfig(yamlText []byte) (Config, error) {
	cfg := DefaultConfig()
	jsonText, err := yaml.YAMLToJSONStrict(yamlText)
	if err != nil {
		return Config{}, fmt.Errorf("injector configuration: %w", err)
	}
	if string(jsonText) == "null" { // empty or comments only
		return cfg, cfg.Validate()
	}
	// sigs.k8s.io/json names an unknown field by its path
	// (resources.requets), and matches keys case-sensitively as the API
	// server does.
	strict, err := kjson.UnmarshalStrict(jsonText, &cfg)
	if err != nil {
		return Config{}, fmt.Errorf("injector configuration: %w", err)
	}
	if len(strict) > 0 {
		return Config{}, fmt.Errorf("injector configuration: %w", errors.Join(strict...))
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// Validate reports every field that cannot work, naming it by its YAML key.
func (c Config) Validate() error {
	var errs []error
	if c.ProxyImage == "" {
		errs = append(errs, errors.New("proxyImage is required"))
	}
	if _, port, err := net.SplitHostPort(c.ControlPlaneAddress); err != nil {
		errs = append(errs, fmt.Errorf("controlPlaneAddress %q: %w", c.ControlPlaneAddress, err))
	} else if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		errs = append(errs, fmt.Errorf("controlPlaneAddress %q: port %q is not a port", c.ControlPlaneAddress, port))
	}
	if _, err := spiffeid.TrustDomainFromString(c.TrustDomain); err != nil {
		errs = append(errs, fmt.Errorf("trustDomain %q: %w", c.TrustDomain, err))
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		errs = append(errs, fmt.Errorf("logLevel %q: want debug, info, warn or error", c.LogLevel))
	}
	if c.CARootConfigMap == "" {
		errs = append(errs, errors.New("caRootConfigMap is required"))
	}
	errs = append(errs, c.Tracing.validate()...)
	for _, name := range slices.Sorted(maps.Keys(c.Resources.Requests)) {
		if name != corev1.ResourceCPU && name != corev1.ResourceMemory {
			errs = append(errs, fmt.Errorf("resources.requests.%s: only cpu and memory are supported", name))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(c.Resources.Limits)) {
		limit := c.Resources.Limits[name]
		if name != corev1.ResourceCPU && name != corev1.ResourceMemory {
			errs = append(errs, fmt.Errorf("resources.limits.%s: only cpu and memory are supported", name))
			continue
		}
		if req, ok := c.Resources.Requests[name]; ok && req.Cmp(limit) > 0 {
			errs = append(errs, fmt.Errorf("resources.requests.%s %s exceeds resources.limits.%s %s", name, req.String(), name, limit.String()))
		}
	}
	return errors.Join(errs...)
}
