package injector

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// args are the proxy's tracing flags: none while tracing is off, so that
// pods injected before tracing existed compare equal.
func (t TracingConfig) args() []string {
	if t.OTLPEndpoint == "" {
		return nil
	}
	return []string{
		"--tracing-otlp-endpoint", t.OTLPEndpoint,
		"--tracing-sampling", strconv.FormatFloat(t.Sampling, 'g', -1, 64),
	}
}

// validate checks the endpoint and the share as the proxy would, so that a
// bad ConfigMap is refused here rather than crash-looping every new pod.
func (t TracingConfig) validate() []error {
	var errs []error
	if e := t.OTLPEndpoint; e != "" {
		if err := checkOTLPEndpoint(e); err != nil {
			errs = append(errs, fmt.Errorf("tracing.otlpEndpoint %q: %w", e, err))
		}
	}
	if math.IsNaN(t.Sampling) || t.Sampling < 0 || t.Sampling > 1 {
		errs = append(errs, fmt.Errorf("tracing.sampling %v: want a share from 0 to 1 (0.01 is 1%%)", t.Sampling))
	}
	return errs
}

// checkOTLPEndpoint accepts host:port (OTLP/gRPC) or an http(s):// URL
// with a host (OTLP/HTTP).
func checkOTLPEndpoint(e string) error {
	if strings.Contains(e, "://") {
		u, err := url.Parse(e)
		switch {
		case err != nil:
			return err
		case u.Scheme != "http" && u.Scheme != "https":
			return fmt.Errorf("scheme %q: want http or https (or host:port for OTLP/gRPC)", u.Scheme)
		case u.Host == "":
			return errors.New("the host is missing")
		}
		return nil
	}
	host, port, err := net.SplitHostPort(e)
	if err != nil {
		return fmt.Errorf("want host:port for OTLP/gRPC or an http(s):// URL for OTLP/HTTP: %w", err)
	}
	if host == "" {
		return errors.New("the host is missing")
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return fmt.Errorf("port %q is not a port", port)
	}
	return nil
}
