package proxy

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/workloadapi"

	"github.com/weftmesh/weft/meshid"
	"github.com/weftmesh/weft/proxy/capture"
	"github.com/weftmesh/weft/proxy/dataplane"
	"github.com/weftmesh/weft/proxy/status"
	"github.com/weftmesh/weft/proxy/tracing"
	"github.com/weftmesh/weft/proxy/xdsclient"
)

// Config configures a proxy. Start from Default.
type Config struct {
	// Mode is sidecar (the zero value) or gateway (mode.go).
	Mode Mode
	// ControlPlaneAddress is host:port of the control plane's xDS and CA port.
	ControlPlaneAddress string
	// XDSProtocol is the ADS variant spoken to the control plane: delta
	// (Default: a change sends only what changed) or sotw (state of the
	// world: every change resends whole types). The zero value is sotw.
	XDSProtocol xdsclient.Protocol
	// CARootFile holds the PEM roots that the control plane's certificate
	// must chain to. Unused with WorkloadAPISocket.
	CARootFile string
	// TrustDomain of the mesh.
	TrustDomain string
	// Name and Namespace of the workload this proxy serves: its xDS node ID.
	Name      string
	Namespace string
	// Workload names the workload (a Deployment's name, not a pod's) in
	// metric labels and the workload headers between sidecars; empty
	// means guessed from Name (meshmetrics.WorkloadOfPod).
	Workload string
	// ServiceAccount of the workload: its identity.
	ServiceAccount string
	// TokenFile holds the credential shown to the CA (a bootstrap token in
	// standalone mode). It is re-read before every request, so it may rotate.
	// Unused with WorkloadAPISocket.
	TokenFile string
	// WorkloadAPISocket, when set, is the address of a SPIFFE Workload API
	// (e.g. unix:///run/spire/agent.sock, a SPIRE agent): the proxy takes its
	// SVID and trust bundle from there, renewed by the issuer, and never
	// asks Weft's CA. The bundle must then hold the root of the control
	// plane's certificate. A bare absolute path means a unix socket.
	WorkloadAPISocket string
	// AdminAddress serves /ready, /metrics and /config_dump. Keep it on
	// loopback: it shows the proxy's configuration.
	AdminAddress string
	// StatusAddress serves the status port the kubelet talks to: /ready
	// (the native sidecar's startupProbe), /metrics and the app's
	// rewritten probes under /app-health/ (package status). In a pod it
	// listens on all addresses, since the kubelet probes the pod IP.
	// Empty disables it.
	StatusAddress string
	// AppProbes is the app's original probes as the injector wrote them
	// into the env var WEFT_APP_PROBES (JSON, see status.ParseProbes);
	// empty means none.
	AppProbes string
	// CertTTL is the certificate lifetime asked of the CA; zero lets the CA
	// choose. Unused with WorkloadAPISocket.
	CertTTL time.Duration
	// Capture says that the pod's traffic is captured into this proxy
	// (docs/capture.md; the injector sets it): readiness then fails while
	// the capture rules are missing (a probe through the probe rule, which
	// needs the status port on capture.StatusPort), and connections that
	// reached the app without passing through the proxy are counted in
	// weft_proxy_capture_bypassed_connections_total.
	Capture bool
	// ExcludeInboundPorts are the pod's ports whose inbound TCP the rules
	// do not capture (as weft-init's --exclude-inbound-ports): a direct
	// connection to them is no bypass. Only with Capture.
	ExcludeInboundPorts []uint16
	// DrainTimeout is how long Close (SIGTERM) lets established
	// connections run after the listeners stopped accepting: in-flight
	// HTTP requests finish, keep-alive HTTP/1 clients get Connection:
	// close, HTTP/2 clients GOAWAY, and what is left is closed when it
	// passes. Zero closes them at once.
	DrainTimeout time.Duration
	// TracingOTLPEndpoint, when set, turns tracing on: a span per HTTP
	// request, exported to this OTLP collector (host:port for gRPC, an
	// http(s):// URL for OTLP/HTTP; package tracing, docs/tracing.md).
	// Empty leaves trace headers to pass untouched.
	TracingOTLPEndpoint string
	// TracingSampling is the share of the traces this proxy starts that
	// are recorded, 0 to 1; a request arriving with a sampling decision
	// keeps it.
	TracingSampling float64
}

// workloadAPIAddress is WorkloadAPISocket as a go-spiffe address: a bare
// absolute path becomes a unix:// URI.
func (c Config) workloadAPIAddress() string {
	if strings.HasPrefix(c.WorkloadAPISocket, "/") {
		return "unix://" + c.WorkloadAPISocket
	}
	return c.WorkloadAPISocket
}

// Default returns the configuration used when no flag says otherwise.
func Default() Config {
	return Config{ //nolint:gosec // TokenFile is a path, not a credential
		Mode:                ModeSidecar,
		ControlPlaneAddress: "weft-controlplane.weft-system.svc:15012",
		XDSProtocol:         xdsclient.ProtocolDelta,
		CARootFile:          "/var/run/weft/ca/root-cert.pem",
		TrustDomain:         "cluster.local",
		Namespace:           "default",
		ServiceAccount:      "default",
		TokenFile:           "/var/run/secrets/tokens/weft-ca-token",
		AdminAddress:        "127.0.0.1:15000",
		StatusAddress:       ":15020",
		DrainTimeout:        dataplane.DefaultDrainTimeout,
		TracingSampling:     tracing.DefaultSampling,
	}
}

// Validate reports every field that cannot work, naming the flag.
func (c Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.ControlPlaneAddress); err != nil {
		errs = append(errs, fmt.Errorf("--control-plane %q: %w", c.ControlPlaneAddress, err))
	}
	if err := c.XDSProtocol.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("--xds-protocol: %w", err))
	}
	if _, _, err := net.SplitHostPort(c.AdminAddress); err != nil {
		errs = append(errs, fmt.Errorf("--admin-address %q: %w", c.AdminAddress, err))
	}
	if c.StatusAddress != "" {
		if _, _, err := net.SplitHostPort(c.StatusAddress); err != nil {
			errs = append(errs, fmt.Errorf("--status-address %q: %w", c.StatusAddress, err))
		}
	}
	if probes, err := status.ParseProbes(c.AppProbes); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", status.EnvAppProbes, err))
	} else if len(probes) > 0 && c.StatusAddress == "" {
		errs = append(errs, fmt.Errorf("%s is set but --status-address is empty: the rewritten probes would go unanswered", status.EnvAppProbes))
	}
	td, err := spiffeid.TrustDomainFromString(c.TrustDomain)
	if err != nil {
		errs = append(errs, fmt.Errorf("--trust-domain %q: %w", c.TrustDomain, err))
	}
	if c.Name == "" {
		errs = append(errs, errors.New("--name is required: the workload's name"))
	}
	if c.WorkloadAPISocket != "" {
		if err := workloadapi.ValidateAddress(c.workloadAPIAddress()); err != nil {
			errs = append(errs, fmt.Errorf("--workload-api-socket %q: %w (e.g. unix:///run/spire/agent.sock)", c.WorkloadAPISocket, err))
		}
	} else {
		// Only the CA flow needs these.
		if c.CARootFile == "" {
			errs = append(errs, errors.New("--ca-root-file is required (or --workload-api-socket)"))
		}
		if c.TokenFile == "" {
			errs = append(errs, errors.New("--token-file is required (or --workload-api-socket)"))
		}
	}
	if err == nil {
		if _, err := meshid.Workload(td, c.Namespace, c.ServiceAccount); err != nil {
			errs = append(errs, fmt.Errorf("--namespace %q / --service-account %q: %w", c.Namespace, c.ServiceAccount, err))
		}
	}
	errs = append(errs, c.validateCapture()...)
	errs = append(errs, c.validateMode()...)
	if c.CertTTL < 0 {
		errs = append(errs, fmt.Errorf("--cert-ttl %s must not be negative", c.CertTTL))
	}
	if c.DrainTimeout < 0 {
		errs = append(errs, fmt.Errorf("--drain-timeout %s must not be negative", c.DrainTimeout))
	}
	if err := c.tracingConfig("", nil).Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// validateCapture checks Capture and ExcludeInboundPorts.
func (c Config) validateCapture() []error {
	var errs []error
	if !c.Capture {
		if len(c.ExcludeInboundPorts) > 0 {
			errs = append(errs, errors.New("--exclude-inbound-ports is set without --capture: it only tells the capture health check which ports the rules leave alone"))
		}
		return errs
	}
	if _, port, err := net.SplitHostPort(c.StatusAddress); err == nil && port != strconv.Itoa(capture.StatusPort) {
		errs = append(errs, fmt.Errorf("--capture needs the status port on %d, where the probe rule sends the capture probe; --status-address is %q", capture.StatusPort, c.StatusAddress))
	} else if c.StatusAddress == "" {
		errs = append(errs, fmt.Errorf("--capture needs the status port (--status-address :%d): the capture probe is answered there", capture.StatusPort))
	}
	for _, p := range c.ExcludeInboundPorts {
		if p == 0 {
			errs = append(errs, errors.New("--exclude-inbound-ports: 0 is not a port (1-65535)"))
		}
	}
	return errs
}

// tracingConfig is the tracing configuration of the proxy of workload.
func (c Config) tracingConfig(workload string, log *slog.Logger) tracing.Config {
	return tracing.Config{
		Endpoint:  c.TracingOTLPEndpoint,
		Sampling:  c.TracingSampling,
		Workload:  workload,
		Namespace: c.Namespace,
		Logger:    log,
	}
}
