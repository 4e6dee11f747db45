package injector

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Result says what Inject did.
type Result struct {
	// Injected is true when the pod was changed into a meshed pod.
	Injected bool
	// Skipped, when not Injected, says why the pod was left alone (a pod
	// with hostNetwork still gets the annotation weft.dev/inject-skipped).
	Skipped string
}

// Inject returns a meshed copy of pod; pod itself is not modified. A pod
// that opted out, is proxyless, uses the host's network or is already
// injected comes back unchanged but for the annotation
// weft.dev/inject-skipped on host-network pods, with Result.Skipped saying
// why. The error reports an invalid weft.dev/ annotation (an
// *AnnotationError) or a probe naming a port its container lacks; the pod
// must then be refused.
func Inject(cfg Config, pod *corev1.Pod) (*corev1.Pod, Result, error) {
	out := pod.DeepCopy()
	res, err := InjectPodSpec(cfg, &out.ObjectMeta, &out.Spec)
	if err != nil {
		return nil, Result{}, err
	}
	return out, res, nil
}

// InjectPodSpec injects in place a pod template's metadata and spec (or a
// pod's): what Inject does, for Deployments, Jobs and the other workloads
// weftctl reads. On error, meta and spec are unchanged.
func InjectPodSpec(cfg Config, meta *metav1.ObjectMeta, spec *corev1.PodSpec) (Result, error) {
	return injectPodSpec(cfg, meta, spec, workloadOf(meta))
}

// injectPodSpec is InjectPodSpec for a pod of workload (its proxy's
// --workload; "" leaves the proxy to guess from the pod's name).
func injectPodSpec(cfg Config, meta *metav1.ObjectMeta, spec *corev1.PodSpec, workload string) (Result, error) {
	if skip, err := skipReason(meta, spec); err != nil || skip != "" {
		if skip == SkippedHostNetwork {
			setAnnotation(meta, AnnotationSkipped, SkippedHostNetwork)
		}
		return Result{Skipped: skip}, err
	}
	opts, err := parseOptions(cfg, meta.Annotations)
	if err != nil {
		return Result{}, err
	}
	newSpec := spec.DeepCopy()
	probes, err := rewriteProbes(newSpec.Containers)
	if err != nil {
		return Result{}, err
	}
	proxy, err := proxyContainer(cfg, opts, probes, workload)
	if err != nil {
		return Result{}, err
	}
	injected := []corev1.Container{}
	if !cfg.CNI {
		injected = append(injected, initContainer(cfg, opts))
	}
	injected = append(injected, proxy)
	newSpec.InitContainers = append(injected, newSpec.InitContainers...)
	newSpec.Volumes = append(newSpec.Volumes, volumes(cfg)...)

	*spec = *newSpec
	if !hasPrometheusAnnotations(meta) {
		setAnnotation(meta, "prometheus.io/scrape", "true")
		setAnnotation(meta, "prometheus.io/port", fmt.Sprint(StatusPort))
		setAnnotation(meta, "prometheus.io/path", "/metrics")
	}
	setAnnotation(meta, AnnotationStatus, StatusInjected)
	return Result{Injected: true}, nil
}

// skipReason says why a pod is not injected ("" when it is), or reports an
// invalid weft.dev/inject annotation.
func skipReason(meta *metav1.ObjectMeta, spec *corev1.PodSpec) (string, error) {
	if v, ok := meta.Annotations[LabelInject]; ok && v != InjectEnabled && v != InjectDisabled {
		return "", &AnnotationError{Annotation: LabelInject, Value: v, Reason: "want enabled or disabled"}
	}
	if v, ok := meta.Annotations[AnnotationProxyless]; ok && v != "true" && v != "false" {
		return "", &AnnotationError{Annotation: AnnotationProxyless, Value: v, Reason: "want true or false"}
	}
	if v, ok := meta.Annotations[AnnotationStatus]; ok && v != StatusInjected {
		return "", &AnnotationError{Annotation: AnnotationStatus, Value: v, Reason: "set by the injector; the only value is injected"}
	}
	switch {
	case meta.Labels[LabelInject] == InjectDisabled:
		return "opted out by label " + LabelInject + "=" + InjectDisabled, nil
	case meta.Annotations[LabelInject] == InjectDisabled:
		return "opted out by annotation " + LabelInject + "=" + InjectDisabled, nil
	case meta.Annotations[AnnotationStatus] == StatusInjected:
		return "already injected", nil
	case hasContainer(spec, ProxyContainerName) || hasContainer(spec, InitContainerName):
		return "already has a container named " + ProxyContainerName + " or " + InitContainerName, nil
	case spec.HostNetwork:
		return SkippedHostNetwork, nil
	case meta.Annotations[AnnotationProxyless] == "true":
		return "proxyless (annotation " + AnnotationProxyless + "=true)", nil
	}
	return "", nil
}

// hasPrometheusAnnotations reports whether the pod sets its own scrape
// annotations: then they are the app's, and the proxy's are not added
// (mixing the two would scrape neither).
func hasPrometheusAnnotations(meta *metav1.ObjectMeta) bool {
	for _, key := range []string{"prometheus.io/scrape", "prometheus.io/port", "prometheus.io/path"} {
		if _, ok := meta.Annotations[key]; ok {
			return true
		}
	}
	return false
}

func hasContainer(spec *corev1.PodSpec, name string) bool {
	for _, list := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for _, c := range list {
			if c.Name == name {
				return true
			}
		}
	}
	return false
}

func setAnnotation(meta *metav1.ObjectMeta, key, value string) {
	if meta.Annotations == nil {
		meta.Annotations = map[string]string{}
	}
	meta.Annotations[key] = value
}
