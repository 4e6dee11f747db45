package controlplane

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/weftmesh/weft/controlplane/model"
)

// Config configures the control plane. Start from Default.
type Config struct {
	// ConfigDir is the directory of YAML the mesh is read from.
	ConfigDir string
	// StateDir keeps the CA's root key and certificate between restarts.
	StateDir string
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
}

// Default returns the configuration used when no flag says otherwise.
func Default() Config {
	return Config{
		StateDir:        "/var/lib/weft",
		TrustDomain:     model.DefaultTrustDomain,
		XDSAddress:      ":15012",
		MonitorAddress:  ":15014",
		ServingDNSNames: []string{"weft-controlplane.weft-system.svc"},
		DefaultCertTTL:  24 * time.Hour,
		MaxCertTTL:      7 * 24 * time.Hour,
	}
}

// Validate reports every field that cannot work, naming the flag.
func (c Config) Validate() error {
	var errs []error
	if c.ConfigDir == "" {
		errs = append(errs, errors.New("--config-dir is required"))
	}
	if c.StateDir == "" {
		errs = append(errs, errors.New("--state-dir must not be empty"))
	}
	if _, err := spiffeid.TrustDomainFromString(c.TrustDomain); err != nil {
		errs = append(errs, fmt.Errorf("--trust-domain %q: %w", c.TrustDomain, err))
	}
	for flag, addr := range map[string]string{"--xds-address": c.XDSAddress, "--monitor-address": c.MonitorAddress} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: %w", flag, addr, err))
		}
	}
	if c.DefaultCertTTL <= 0 || c.MaxCertTTL <= 0 || c.DefaultCertTTL > c.MaxCertTTL {
		errs = append(errs, fmt.Errorf("--cert-ttl %s must be positive and at most --max-cert-ttl %s", c.DefaultCertTTL, c.MaxCertTTL))
	}
	return errors.Join(errs...)
}
