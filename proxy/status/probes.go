package status

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strings"
	"time"
)

// EnvAppProbes is the environment variable in which the injector hands
// weft-proxy the app's original probes.
const EnvAppProbes = "WEFT_APP_PROBES"

// PathPrefix is where the rewritten probes are served.
const PathPrefix = "/app-health/"

// DefaultTimeout is the kubelet's default probe timeout, used when a probe
// has no timeoutSeconds.
const DefaultTimeout = time.Second

// Probes is the probe table: status-port path
// (/app-health/<container>/<livez|readyz|startupz>) to the app's original
// probe, with its port resolved to a number.
type Probes map[string]Probe

// Probe is one of the app's original probes. Exactly one of HTTPGet and
// GRPC is set.
type Probe struct {
	HTTPGet *HTTPGetAction `json:"httpGet,omitempty"`
	GRPC    *GRPCAction    `json:"grpc,omitempty"`
	// TimeoutSeconds bounds the probe; zero means DefaultTimeout.
	TimeoutSeconds int `json:"timeoutSeconds,omitempty"`
}

// Timeout is how long the probe may take.
func (p Probe) Timeout() time.Duration {
	if p.TimeoutSeconds <= 0 {
		return DefaultTimeout
	}
	return time.Duration(p.TimeoutSeconds) * time.Second
}

// HTTPGetAction is a Kubernetes httpGet probe with a numeric port.
type HTTPGetAction struct {
	// Path, with an optional query, as the kubelet would request it.
	Path string `json:"path,omitempty"`
	Port int    `json:"port"`
	// Scheme is HTTP (the default) or HTTPS; the app's certificate is not
	// verified, as the kubelet does not verify it.
	Scheme string `json:"scheme,omitempty"`
	// Host to connect to; empty means 127.0.0.1. Only loopback is allowed.
	Host        string       `json:"host,omitempty"`
	HTTPHeaders []HTTPHeader `json:"httpHeaders,omitempty"`
}

// HTTPHeader is a header sent with an httpGet probe.
type HTTPHeader struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// GRPCAction is a Kubernetes grpc probe: grpc.health.v1.Health/Check on
// 127.0.0.1:Port, in plaintext, for Service.
type GRPCAction struct {
	Port    int    `json:"port"`
	Service string `json:"service"`
}

// ParseProbes reads the JSON probe table of WEFT_APP_PROBES. Empty input
// means no probes. It refuses what it cannot serve rather than skipping
// it: a probe the proxy would silently not answer fails the pod later and
// obscurely. Unknown fields are ignored so that a newer injector's table
// still works.
func ParseProbes(data string) (Probes, error) {
	if strings.TrimSpace(data) == "" {
		return nil, nil
	}
	var probes Probes
	if err := json.Unmarshal([]byte(data), &probes); err != nil {
		return nil, fmt.Errorf("not a JSON probe table: %w", err)
	}
	paths := make([]string, 0, len(probes))
	for path := range probes {
		paths = append(paths, path)
	}
	sort.Strings(paths)
	var errs []error
	for _, path := range paths {
		p := probes[path]
		if err := p.normalize(path); err != nil {
			errs = append(errs, fmt.Errorf("probe %q: %w", path, err))
			continue
		}
		probes[path] = p
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return probes, nil
}

// normalize checks p, served at path, and fills in its defaults.
func (p *Probe) normalize(path string) error {
	if err := checkPath(path); err != nil {
		return err
	}
	if p.TimeoutSeconds < 0 {
		return fmt.Errorf("timeoutSeconds %d is negative", p.TimeoutSeconds)
	}
	switch {
	case (p.HTTPGet == nil) == (p.GRPC == nil):
		return errors.New("needs exactly one of httpGet and grpc")
	case p.GRPC != nil:
		return checkPort(p.GRPC.Port)
	}
	h := p.HTTPGet
	if err := checkPort(h.Port); err != nil {
		return err
	}
	switch strings.ToUpper(h.Scheme) {
	case "", "HTTP":
		h.Scheme = "HTTP"
	case "HTTPS":
		h.Scheme = "HTTPS"
	default:
		return fmt.Errorf("scheme %q is neither HTTP nor HTTPS", h.Scheme)
	}
	if h.Host != "" && !isLoopback(h.Host) {
		return fmt.Errorf("host %q is not loopback: the status port forwards probes only to the pod itself", h.Host)
	}
	for _, hdr := range h.HTTPHeaders {
		if hdr.Name == "" || strings.ContainsAny(hdr.Name, " \t\r\n:") {
			return fmt.Errorf("header name %q is not a valid HTTP header name", hdr.Name)
		}
		if strings.ContainsAny(hdr.Value, "\r\n") {
			return fmt.Errorf("header %s: value contains a line break", hdr.Name)
		}
	}
	if _, err := h.url(); err != nil {
		return err
	}
	return nil
}

// checkPath accepts /app-health/<container>/<livez|readyz|startupz>.
func checkPath(path string) error {
	rest, ok := strings.CutPrefix(path, PathPrefix)
	container, kind, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 || container == "" || (kind != "livez" && kind != "readyz" && kind != "startupz") {
		return fmt.Errorf("path is not %s<container>/<livez|readyz|startupz>", PathPrefix)
	}
	return nil
}

func checkPort(port int) error {
	if port < 1 || port > 65535 {
		return fmt.Errorf("port %d is not 1–65535 (named ports must be resolved by the injector)", port)
	}
	return nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// url is where the probe goes, built the way the kubelet builds it: the
// path may carry a query.
func (h HTTPGetAction) url() (*url.URL, error) {
	host := h.Host
	if host == "" {
		host = "127.0.0.1"
	}
	u, err := url.Parse(h.Path)
	if err != nil {
		u = &url.URL{Path: h.Path}
	}
	if u.Scheme != "" || u.Host != "" || u.User != nil {
		return nil, fmt.Errorf("path %q must be a path, not a URL", h.Path)
	}
	u.Scheme = strings.ToLower(h.Scheme)
	u.Host = net.JoinHostPort(strings.Trim(host, "[]"), fmt.Sprint(h.Port))
	return u, nil
}
