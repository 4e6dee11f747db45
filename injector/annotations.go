package injector

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Labels and annotations the injector reads or writes (docs/injection.md).
const (
	// LabelInject on a namespace (enabled) selects it for injection; on a
	// pod, as label or annotation, the value disabled opts the pod out.
	LabelInject = "weft.dev/inject"
	// AnnotationStatus is set to StatusInjected on an injected pod: what
	// makes injection idempotent.
	AnnotationStatus = "weft.dev/status"
	// AnnotationSkipped says why a pod that would have been injected was
	// not (host network).
	AnnotationSkipped = "weft.dev/inject-skipped"
	// AnnotationProxyless marks a proxyless gRPC workload ("true"), which
	// has no sidecar.
	AnnotationProxyless = "weft.dev/proxyless"

	AnnotationExcludeInboundPorts  = "weft.dev/exclude-inbound-ports"
	AnnotationExcludeOutboundPorts = "weft.dev/exclude-outbound-ports"
	AnnotationExcludeOutboundCIDRs = "weft.dev/exclude-outbound-cidrs"

	AnnotationProxyCPU         = "weft.dev/proxy-cpu"
	AnnotationProxyMemory      = "weft.dev/proxy-memory"
	AnnotationProxyCPULimit    = "weft.dev/proxy-cpu-limit"
	AnnotationProxyMemoryLimit = "weft.dev/proxy-memory-limit"

	InjectEnabled  = "enabled"
	InjectDisabled = "disabled"
	StatusInjected = "injected"
	// SkippedHostNetwork is the value of AnnotationSkipped on a pod with
	// hostNetwork: true.
	SkippedHostNetwork = "hostNetwork"
)

// AnnotationError is an invalid value of a weft.dev/ annotation; the webhook
// refuses the pod with its message (and records it as an event).
type AnnotationError struct {
	Annotation string
	Value      string
	Reason     string
}

func (e *AnnotationError) Error() string {
	return fmt.Sprintf("annotation %s: %q: %s", e.Annotation, e.Value, e.Reason)
}

// IsAnnotationError reports whether err is, or wraps, an AnnotationError.
func IsAnnotationError(err error) bool {
	var ae *AnnotationError
	return errors.As(err, &ae)
}

// options are the per-pod settings parsed from the annotations.
type options struct {
	excludeInboundPorts  []int
	excludeOutboundPorts []int
	excludeOutboundCIDRs []netip.Prefix
	resources            corev1.ResourceRequirements
}

// parseOptions reads every annotation injection depends on, reporting the
// first invalid one in a fixed order (so a message does not flap).
func parseOptions(cfg Config, annotations map[string]string) (options, error) {
	var o options
	var err error
	if o.excludeInboundPorts, err = portsAnnotation(annotations, AnnotationExcludeInboundPorts); err != nil {
		return o, err
	}
	if o.excludeOutboundPorts, err = portsAnnotation(annotations, AnnotationExcludeOutboundPorts); err != nil {
		return o, err
	}
	if o.excludeOutboundCIDRs, err = cidrsAnnotation(annotations, AnnotationExcludeOutboundCIDRs); err != nil {
		return o, err
	}
	if o.resources, err = resourcesAnnotations(cfg.Resources, annotations); err != nil {
		return o, err
	}
	return o, nil
}

// CaptureExclusions is what a pod's annotations leave out of traffic
// capture: the weft.dev/exclude-* annotations, with the status port always
// excluded inbound, exactly as the weft-init container's flags say. The
// weft-cni plugin installs the same for pods injected without weft-init.
type CaptureExclusions struct {
	InboundPorts  []int
	OutboundPorts []int
	OutboundCIDRs []netip.Prefix
}

// ParseCaptureExclusions reads the exclusions of a pod's annotations; an
// invalid annotation is an *AnnotationError naming it.
func ParseCaptureExclusions(annotations map[string]string) (CaptureExclusions, error) {
	var o options
	var err error
	if o.excludeInboundPorts, err = portsAnnotation(annotations, AnnotationExcludeInboundPorts); err != nil {
		return CaptureExclusions{}, err
	}
	if o.excludeOutboundPorts, err = portsAnnotation(annotations, AnnotationExcludeOutboundPorts); err != nil {
		return CaptureExclusions{}, err
	}
	if o.excludeOutboundCIDRs, err = cidrsAnnotation(annotations, AnnotationExcludeOutboundCIDRs); err != nil {
		return CaptureExclusions{}, err
	}
	return CaptureExclusions{
		InboundPorts:  inboundExclusions(o),
		OutboundPorts: o.excludeOutboundPorts,
		OutboundCIDRs: o.excludeOutboundCIDRs,
	}, nil
}

// splitList splits a comma-separated annotation value; an empty value is an
// empty list.
func splitList(value string) []string {
	if strings.TrimSpace(value) == "" {
		return nil
	}
	items := strings.Split(value, ",")
	for i := range items {
		items[i] = strings.TrimSpace(items[i])
	}
	return items
}

func portsAnnotation(annotations map[string]string, name string) ([]int, error) {
	value, ok := annotations[name]
	if !ok {
		return nil, nil
	}
	var ports []int
	for _, item := range splitList(value) {
		n, err := strconv.Atoi(item)
		if err != nil || n < 1 || n > 65535 {
			return nil, &AnnotationError{Annotation: name, Value: value, Reason: fmt.Sprintf("%q is not a port (1-65535)", item)}
		}
		ports = appendNew(ports, n)
	}
	return ports, nil
}

func cidrsAnnotation(annotations map[string]string, name string) ([]netip.Prefix, error) {
	value, ok := annotations[name]
	if !ok {
		return nil, nil
	}
	var cidrs []netip.Prefix
	for _, item := range splitList(value) {
		p, err := netip.ParsePrefix(item)
		if err != nil {
			return nil, &AnnotationError{Annotation: name, Value: value, Reason: fmt.Sprintf("%q is not a CIDR", item)}
		}
		cidrs = appendNew(cidrs, p.Masked())
	}
	return cidrs, nil
}

func appendNew[T comparable](list []T, v T) []T {
	for _, have := range list {
		if have == v {
			return list
		}
	}
	return append(list, v)
}

// resourcesAnnotations applies the per-pod overrides to the configured
// resources, checking that no request exceeds its limit afterwards.
func resourcesAnnotations(base corev1.ResourceRequirements, annotations map[string]string) (corev1.ResourceRequirements, error) {
	res := *base.DeepCopy()
	overrides := []struct {
		annotation string
		list       *corev1.ResourceList
		name       corev1.ResourceName
	}{
		{AnnotationProxyCPU, &res.Requests, corev1.ResourceCPU},
		{AnnotationProxyMemory, &res.Requests, corev1.ResourceMemory},
		{AnnotationProxyCPULimit, &res.Limits, corev1.ResourceCPU},
		{AnnotationProxyMemoryLimit, &res.Limits, corev1.ResourceMemory},
	}
	for _, o := range overrides {
		value, ok := annotations[o.annotation]
		if !ok {
			continue
		}
		q, err := resource.ParseQuantity(value)
		if err != nil {
			return res, &AnnotationError{Annotation: o.annotation, Value: value, Reason: "not a Kubernetes quantity (e.g. 100m, 128Mi)"}
		}
		if q.Sign() <= 0 {
			return res, &AnnotationError{Annotation: o.annotation, Value: value, Reason: "must be positive"}
		}
		if *o.list == nil {
			*o.list = corev1.ResourceList{}
		}
		(*o.list)[o.name] = q
	}
	for _, o := range overrides[:2] {
		req, okReq := res.Requests[o.name]
		limit, okLimit := res.Limits[o.name]
		if !okReq || !okLimit || req.Cmp(limit) <= 0 {
			continue
		}
		// Name the annotation that made the pair inconsistent.
		name, value := o.annotation, annotations[o.annotation]
		if v, ok := annotations[o.annotation+"-limit"]; ok {
			name, value = o.annotation+"-limit", v
		}
		return res, &AnnotationError{Annotation: name, Value: value,
			Reason: fmt.Sprintf("the %s request %s exceeds the limit %s", o.name, req.String(), limit.String())}
	}
	return res, nil
}
