package injector

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// StatusPort is the proxy's status port: /ready, /metrics and the
// rewritten app probes under /app-health/.
const StatusPort = 15020

// StatusPortName names StatusPort on the weft-proxy container.
const StatusPortName = "weft-status"

// AppProbesEnv is the weft-proxy environment variable holding the app's
// original probes, as JSON: a map from the rewritten path
// (/app-health/<container>/<livez|readyz|startupz>) to an AppProbe.
const AppProbesEnv = "WEFT_APP_PROBES"

// AppProbe is an app's original probe, which the proxy's status port runs
// against the app on 127.0.0.1 when the kubelet calls the rewritten path.
// Exactly one of HTTPGet and GRPC is set; ports are numbers.
type AppProbe struct {
	HTTPGet        *AppHTTPGet `json:"httpGet,omitempty"`
	GRPC           *AppGRPC    `json:"grpc,omitempty"`
	TimeoutSeconds int32       `json:"timeoutSeconds"`
}

// AppHTTPGet is an httpGet probe with its port resolved to a number.
type AppHTTPGet struct {
	Path        string              `json:"path,omitempty"`
	Port        int32               `json:"port"`
	Host        string              `json:"host,omitempty"`
	Scheme      string              `json:"scheme"`
	HTTPHeaders []corev1.HTTPHeader `json:"httpHeaders,omitempty"`
}

// AppGRPC is a grpc probe: grpc.health.v1.Health/Check for Service.
type AppGRPC struct {
	Port    int32  `json:"port"`
	Service string `json:"service"`
}

// rewriteProbes points every httpGet and grpc probe of the app containers
// at the proxy's status port and returns the originals by rewritten path.
// It fails, before changing anything, when a probe names a port its
// container does not declare.
func rewriteProbes(containers []corev1.Container) (map[string]AppProbe, error) {
	type target struct {
		probe *corev1.Probe
		path  string
	}
	var targets []target
	originals := map[string]AppProbe{}
	for i := range containers {
		c := &containers[i]
		for _, p := range []struct {
			field string
			kind  string
			probe *corev1.Probe
		}{
			{"livenessProbe", "livez", c.LivenessProbe},
			{"readinessProbe", "readyz", c.ReadinessProbe},
			{"startupProbe", "startupz", c.StartupProbe},
		} {
			if !rewritable(p.probe) {
				continue
			}
			original, err := appProbe(c, p.probe)
			if err != nil {
				return nil, fmt.Errorf("container %s: %s: %w", c.Name, p.field, err)
			}
			path := fmt.Sprintf("/app-health/%s/%s", c.Name, p.kind)
			originals[path] = original
			targets = append(targets, target{p.probe, path})
		}
	}
	for _, t := range targets {
		t.probe.HTTPGet = &corev1.HTTPGetAction{
			Path:   t.path,
			Port:   intstr.FromInt32(StatusPort),
			Scheme: corev1.URISchemeHTTP,
		}
		t.probe.GRPC = nil
	}
	return originals, nil
}

// rewritable reports whether a probe goes to the pod through its inbound
// capture: an httpGet or grpc probe, unless its httpGet names another host
// (the kubelet then calls that host directly, and the proxy forwards only
// to loopback).
func rewritable(p *corev1.Probe) bool {
	switch {
	case p == nil:
		return false
	case p.GRPC != nil:
		return true
	case p.HTTPGet != nil:
		return isLocalHost(p.HTTPGet.Host)
	}
	return false
}

func isLocalHost(host string) bool {
	if host == "" || strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && ip.IsLoopback()
}

func appProbe(c *corev1.Container, p *corev1.Probe) (AppProbe, error) {
	timeout := p.TimeoutSeconds
	if timeout == 0 {
		timeout = 1 // Kubernetes' default
	}
	out := AppProbe{TimeoutSeconds: timeout}
	if g := p.GRPC; g != nil {
		out.GRPC = &AppGRPC{Port: g.Port}
		if g.Service != nil {
			out.GRPC.Service = *g.Service
		}
		return out, nil
	}
	h := p.HTTPGet
	port, err := resolvePort(c, h.Port)
	if err != nil {
		return out, err
	}
	scheme := string(h.Scheme)
	if scheme == "" {
		scheme = string(corev1.URISchemeHTTP)
	}
	out.HTTPGet = &AppHTTPGet{Path: h.Path, Port: port, Host: h.Host, Scheme: scheme, HTTPHeaders: h.HTTPHeaders}
	return out, nil
}

func resolvePort(c *corev1.Container, port intstr.IntOrString) (int32, error) {
	if port.Type == intstr.Int {
		if port.IntVal < 1 || port.IntVal > 65535 {
			return 0, fmt.Errorf("port %d is not a port (1-65535)", port.IntVal)
		}
		return port.IntVal, nil
	}
	for _, p := range c.Ports {
		if p.Name == port.StrVal {
			return p.ContainerPort, nil
		}
	}
	return 0, fmt.Errorf("port %q is not a named port of the container", port.StrVal)
}

// appProbesJSON is the value of AppProbesEnv: encoding/json sorts the map's
// keys, so the same probes always give the same text.
func appProbesJSON(probes map[string]AppProbe) (string, error) {
	b, err := json.Marshal(probes)
	if err != nil {
		return "", fmt.Errorf("encoding %s: %w", AppProbesEnv, err)
	}
	return string(b), nil
}
