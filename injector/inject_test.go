package injector

import (
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func testPod(annotations map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", Annotations: annotations},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name:  "app",
			Image: "example.com/app:1",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
		}}},
	}
}

func TestInjectInvalidAnnotations(t *testing.T) {
	tests := []struct {
		annotation, value string
		wantMsg           string
	}{
		{AnnotationExcludeInboundPorts, "80,http", `annotation weft.dev/exclude-inbound-ports: "80,http": "http" is not a port (1-65535)`},
		{AnnotationExcludeInboundPorts, "0", `annotation weft.dev/exclude-inbound-ports: "0": "0" is not a port (1-65535)`},
		{AnnotationExcludeInboundPorts, "80,,443", `annotation weft.dev/exclude-inbound-ports: "80,,443": "" is not a port (1-65535)`},
		{AnnotationExcludeOutboundPorts, "65536", `annotation weft.dev/exclude-outbound-ports: "65536": "65536" is not a port (1-65535)`},
		{AnnotationExcludeOutboundPorts, "-1", `annotation weft.dev/exclude-outbound-ports: "-1": "-1" is not a port (1-65535)`},
		{AnnotationExcludeOutboundCIDRs, "10.0.0.0/8,10.0.0.300/32", `annotation weft.dev/exclude-outbound-cidrs: "10.0.0.0/8,10.0.0.300/32": "10.0.0.300/32" is not a CIDR`},
		{AnnotationExcludeOutboundCIDRs, "10.0.0.1", `annotation weft.dev/exclude-outbound-cidrs: "10.0.0.1": "10.0.0.1" is not a CIDR`},
		{AnnotationProxyCPU, "lots", `annotation weft.dev/proxy-cpu: "lots": not a Kubernetes quantity (e.g. 100m, 128Mi)`},
		{AnnotationProxyMemory, "-5Mi", `annotation weft.dev/proxy-memory: "-5Mi": must be positive`},
		{AnnotationProxyMemory, "1Gi", `annotation weft.dev/proxy-memory: "1Gi": the memory request 1Gi exceeds the limit 256Mi`},
		{AnnotationProxyMemoryLimit, "20Mi", `annotation weft.dev/proxy-memory-limit: "20Mi": the memory request 40Mi exceeds the limit 20Mi`},
		{AnnotationProxyCPULimit, "5m", `annotation weft.dev/proxy-cpu-limit: "5m": the cpu request 10m exceeds the limit 5m`},
		{AnnotationProxyCPULimit, "1.5.1", `annotation weft.dev/proxy-cpu-limit: "1.5.1": not a Kubernetes quantity (e.g. 100m, 128Mi)`},
		{LabelInject, "yes", `annotation weft.dev/inject: "yes": want enabled or disabled`},
		{AnnotationProxyless, "maybe", `annotation weft.dev/proxyless: "maybe": want true or false`},
		{AnnotationStatus, "pending", `annotation weft.dev/status: "pending": set by the injector; the only value is injected`},
	}
	for _, tt := range tests {
		t.Run(tt.annotation+"="+tt.value, func(t *testing.T) {
			pod := testPod(map[string]string{tt.annotation: tt.value})
			out, res, err := Inject(DefaultConfig(), pod)
			if err == nil {
				t.Fatalf("no error; result %+v", res)
			}
			if err.Error() != tt.wantMsg {
				t.Errorf("error %q, want %q", err, tt.wantMsg)
			}
			if !IsAnnotationError(err) {
				t.Errorf("error %v is not an AnnotationError", err)
			}
			if out != nil || res.Injected {
				t.Errorf("got a pod or result with the error: %v %+v", out, res)
			}
			if len(pod.Spec.InitContainers) != 0 || len(pod.Annotations) != 1 {
				t.Error("the input was modified")
			}
		})
	}
}

func TestInjectValidAnnotations(t *testing.T) {
	tests := []struct {
		name         string
		annotations  map[string]string
		wantInitArgs []string
	}{
		{"none", nil, []string{"init", "--exclude-inbound-ports", "15020"}},
		{"empty values", map[string]string{AnnotationExcludeInboundPorts: "", AnnotationExcludeOutboundPorts: " ", AnnotationExcludeOutboundCIDRs: ""},
			[]string{"init", "--exclude-inbound-ports", "15020"}},
		{"15020 given again", map[string]string{AnnotationExcludeInboundPorts: "15020,80"},
			[]string{"init", "--exclude-inbound-ports", "15020,80"}},
		{"host bits masked", map[string]string{AnnotationExcludeOutboundCIDRs: "192.168.1.7/24"},
			[]string{"init", "--exclude-inbound-ports", "15020", "--exclude-outbound-cidrs", "192.168.1.0/24"}},
		{"enabled, not proxyless", map[string]string{LabelInject: InjectEnabled, AnnotationProxyless: "false"},
			[]string{"init", "--exclude-inbound-ports", "15020"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, res, err := Inject(DefaultConfig(), testPod(tt.annotations))
			if err != nil {
				t.Fatal(err)
			}
			if !res.Injected {
				t.Fatalf("not injected: %+v", res)
			}
			if got := out.Spec.InitContainers[0].Args; strings.Join(got, " ") != strings.Join(tt.wantInitArgs, " ") {
				t.Errorf("weft-init args %q, want %q", got, tt.wantInitArgs)
			}
		})
	}
}

func TestInjectSkips(t *testing.T) {
	tests := []struct {
		name        string
		mod         func(*corev1.Pod)
		wantSkipped string
	}{
		{"opted out by label", func(p *corev1.Pod) { p.Labels = map[string]string{LabelInject: InjectDisabled} }, "opted out by label weft.dev/inject=disabled"},
		{"opted out by annotation", func(p *corev1.Pod) { p.Annotations = map[string]string{LabelInject: InjectDisabled} }, "opted out by annotation weft.dev/inject=disabled"},
		{"opted out with an invalid exclusion", func(p *corev1.Pod) {
			p.Labels = map[string]string{LabelInject: InjectDisabled}
			p.Annotations = map[string]string{AnnotationExcludeInboundPorts: "x"}
		}, "opted out by label weft.dev/inject=disabled"},
		{"already injected", func(p *corev1.Pod) { p.Annotations = map[string]string{AnnotationStatus: StatusInjected} }, "already injected"},
		{"has weft-proxy", func(p *corev1.Pod) { p.Spec.Containers[0].Name = ProxyContainerName }, "already has a container named weft-proxy or weft-init"},
		{"proxyless", func(p *corev1.Pod) { p.Annotations = map[string]string{AnnotationProxyless: "true"} }, "proxyless (annotation weft.dev/proxyless=true)"},
		{"host network", func(p *corev1.Pod) { p.Spec.HostNetwork = true }, "hostNetwork"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := testPod(nil)
			tt.mod(pod)
			out, res, err := Inject(DefaultConfig(), pod)
			if err != nil {
				t.Fatal(err)
			}
			if res.Injected || res.Skipped != tt.wantSkipped {
				t.Errorf("result %+v, want skipped %q", res, tt.wantSkipped)
			}
			want := pod.DeepCopy()
			if pod.Spec.HostNetwork {
				want.Annotations = map[string]string{AnnotationSkipped: SkippedHostNetwork}
			}
			if !equalJSON(t, out, want) {
				t.Errorf("pod changed:\n%s", diffYAML(t, want, out))
			}
		})
	}
}

func TestInjectProbeErrors(t *testing.T) {
	tests := []struct {
		name    string
		mod     func(*corev1.Container)
		wantMsg string
	}{
		{"missing named port", func(c *corev1.Container) {
			c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromString("admin")}}}
		}, `container app: readinessProbe: port "admin" is not a named port of the container`},
		{"startup port out of range", func(c *corev1.Container) {
			c.StartupProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(0)}}}
		}, `container app: startupProbe: port 0 is not a port (1-65535)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := testPod(nil)
			tt.mod(&pod.Spec.Containers[0])
			_, _, err := Inject(DefaultConfig(), pod)
			if err == nil || err.Error() != tt.wantMsg {
				t.Fatalf("error %v, want %q", err, tt.wantMsg)
			}
			if IsAnnotationError(err) {
				t.Error("a probe error is not an AnnotationError")
			}
		})
	}
}

// TestInjectProbes checks the contract of WEFT_APP_PROBES: the proxy
// decodes it into AppProbe.
func TestInjectProbes(t *testing.T) {
	pod := testPod(nil)
	service := "shop.Cart"
	c := &pod.Spec.Containers[0]
	c.LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
		Path: "/healthz", Port: intstr.FromString("http"), Host: "localhost",
		HTTPHeaders: []corev1.HTTPHeader{{Name: "X", Value: "y"}},
	}}, TimeoutSeconds: 3, PeriodSeconds: 7}
	c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 9090, Service: &service}}}
	c.StartupProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("http")}}}
	pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: "remote", Image: "example.com/remote:1",
		ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
			Host: "db.example.com", Port: intstr.FromInt32(8080)}}}})

	out, _, err := Inject(DefaultConfig(), pod)
	if err != nil {
		t.Fatal(err)
	}
	got := out.Spec.Containers[0]
	if h := got.LivenessProbe.HTTPGet; h.Path != "/app-health/app/livez" || h.Port != intstr.FromInt32(StatusPort) || h.Host != "" || h.HTTPHeaders != nil {
		t.Errorf("liveness probe %+v", h)
	}
	if got.LivenessProbe.PeriodSeconds != 7 || got.LivenessProbe.TimeoutSeconds != 3 {
		t.Errorf("liveness probe timing changed: %+v", got.LivenessProbe)
	}
	if p := got.ReadinessProbe; p.GRPC != nil || p.HTTPGet == nil || p.HTTPGet.Path != "/app-health/app/readyz" {
		t.Errorf("readiness probe %+v", p)
	}
	if p := got.StartupProbe; p.TCPSocket == nil || p.HTTPGet != nil {
		t.Errorf("tcpSocket startup probe rewritten: %+v", p)
	}
	if h := out.Spec.Containers[1].ReadinessProbe.HTTPGet; h.Host != "db.example.com" || h.Port != intstr.FromInt32(8080) {
		t.Errorf("probe of another host rewritten: %+v", h)
	}
	var text string
	for _, e := range out.Spec.InitContainers[1].Env {
		if e.Name == AppProbesEnv {
			text = e.Value
		}
	}
	var probes map[string]AppProbe
	if err := json.Unmarshal([]byte(text), &probes); err != nil {
		t.Fatalf("%s %q: %v", AppProbesEnv, text, err)
	}
	want := map[string]AppProbe{
		"/app-health/app/livez": {HTTPGet: &AppHTTPGet{Path: "/healthz", Port: 8080, Host: "localhost", Scheme: "HTTP",
			HTTPHeaders: []corev1.HTTPHeader{{Name: "X", Value: "y"}}}, TimeoutSeconds: 3},
		"/app-health/app/readyz": {GRPC: &AppGRPC{Port: 9090, Service: "shop.Cart"}, TimeoutSeconds: 1},
	}
	if !equalJSON(t, probes, want) {
		t.Errorf("%s = %s", AppProbesEnv, text)
	}
}

func equalJSON(t *testing.T, a, b any) bool {
	t.Helper()
	return jsonEqual(t, mustJSON(t, a), mustJSON(t, b))
}
