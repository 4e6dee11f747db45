package identity

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/weftmesh/weft/meshid"
)

// Config configures a Manager.
type Config struct {
	// CAAddress is the host:port of the CA's gRPC server (port 15012 on the
	// control plane). Required.
	CAAddress string
	// TrustDomain is the mesh's trust domain. Required.
	TrustDomain spiffeid.TrustDomain
	// Namespace and ServiceAccount name the workload; the CSR asks for
	// spiffe://<td>/ns/<Namespace>/sa/<ServiceAccount>. Required.
	Namespace      string
	ServiceAccount string
	// Token returns the bearer token proving the workload's identity (a
	// projected ServiceAccount token with audience weft-ca, or a bootstrap
	// token). It is called before every request, so a token that rotates on
	// disk is re-read. Required.
	Token func(ctx context.Context) (string, error)
	// RootCAs verify the CA server, which must present the control plane's
	// SPIFFE ID (meshid.ControlPlane). Roots from the CA's latest trust
	// bundle are trusted too. Required.
	RootCAs []*x509.Certificate
	// TTL is the certificate lifetime to ask for; zero leaves it to the CA.
	TTL time.Duration
	// RetryInitial and RetryMax bound the exponential backoff between failed
	// requests. Defaults 500ms and 30s.
	RetryInitial time.Duration
	RetryMax     time.Duration
	// RequestTimeout bounds one request to the CA. Default 15s.
	RequestTimeout time.Duration
	// Logger receives progress and failures; nil discards.
	Logger *slog.Logger
	// Registerer receives weft_proxy_svid_expiry_timestamp_seconds and
	// weft_proxy_svid_renewals_total; nil keeps them unregistered.
	Registerer prometheus.Registerer
}

// Default fills zero fields that have defaults.
func (c *Config) Default() {
	if c.RetryInitial == 0 {
		c.RetryInitial = 500 * time.Millisecond
	}
	if c.RetryMax == 0 {
		c.RetryMax = 30 * time.Second
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 15 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports the first field that is missing or out of range.
func (c *Config) Validate() error {
	switch {
	case c.CAAddress == "":
		return errors.New("CAAddress: required")
	case c.TrustDomain.IsZero():
		return errors.New("TrustDomain: required")
	case c.Token == nil:
		return errors.New("config: Token is required")
	case len(c.RootCAs) == 0:
		return errors.New("RootCAs: at least one root is required to verify the CA")
	case c.TTL < 0:
		return fmt.Errorf("TTL %s: must not be negative", c.TTL)
	case c.RetryInitial <= 0 || c.RetryMax < c.RetryInitial:
		return fmt.Errorf("RetryInitial %s, RetryMax %s: want 0 < RetryInitial <= RetryMax", c.RetryInitial, c.RetryMax)
	case c.RequestTimeout <= 0:
		return fmt.Errorf("RequestTimeout %s: must be positive", c.RequestTimeout)
	}
	if _, err := meshid.Workload(c.TrustDomain, c.Namespace, c.ServiceAccount); err != nil {
		return fmt.Errorf("config: Namespace %q, ServiceAccount %q: %w", c.Namespace, c.ServiceAccount, err)
	}
	return nil
}
