package webhook

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/weftmesh/weft/injector"
)

func appPod(mutate func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{GenerateName: "web-", Namespace: "shop", Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example.com/web"}}},
	}
	if mutate != nil {
		mutate(p)
	}
	return p
}

func podRequest(t *testing.T, pod *corev1.Pod, op admissionv1.Operation) admission.Request {
	t.Helper()
	raw, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID:       "a-uid",
		Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
		Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
		Namespace: pod.Namespace,
		Operation: op,
		Object:    runtime.RawExtension{Raw: raw},
	}}
}

// applied is the pod the API server would store: the request's object
// with the response's patch applied.
func applied(t *testing.T, req admission.Request, resp admission.Response) *corev1.Pod {
	t.Helper()
	out := req.Object.Raw
	if len(resp.Patches) > 0 {
		ops, err := json.Marshal(resp.Patches)
		if err != nil {
			t.Fatal(err)
		}
		patch, err := jsonpatch.DecodePatch(ops)
		if err != nil {
			t.Fatal(err)
		}
		if out, err = patch.Apply(out); err != nil {
			t.Fatalf("apply the webhook's patch: %v", err)
		}
	}
	var pod corev1.Pod
	if err := json.Unmarshal(out, &pod); err != nil {
		t.Fatal(err)
	}
	return &pod
}

func hasInitContainer(p *corev1.Pod, name string) bool {
	for _, c := range p.Spec.InitContainers {
		if c.Name == name {
			return true
		}
	}
	return false
}

func TestHandler(t *testing.T) {
	injected := appPod(func(p *corev1.Pod) { p.Name = "already" })
	if out, res, err := injector.Inject(injector.DefaultConfig(), injected); err != nil || !res.Injected {
		t.Fatalf("inject the already-injected pod: %v %+v", err, res)
	} else {
		injected = out
	}
	tests := []struct {
		name       string
		pod        *corev1.Pod
		op         admissionv1.Operation
		wantResult string // weft_injector_pods_total label; "" for none
		wantProxy  bool
		wantDenied string // part of the refusal's message
		wantNoDiff bool   // the pod comes back exactly as sent
		check      func(t *testing.T, p *corev1.Pod)
	}{
		{name: "injected", pod: appPod(nil), op: admissionv1.Create, wantResult: resultInjected, wantProxy: true,
			check: func(t *testing.T, p *corev1.Pod) {
				if p.Annotations[injector.AnnotationStatus] != "injected" || p.Spec.Containers[0].Name != "app" {
					t.Errorf("injected pod %+v lacks the status annotation or lost its app", p)
				}
			}},
		{name: "already injected", pod: injected, op: admissionv1.Create, wantResult: resultSkipped, wantProxy: true, wantNoDiff: true},
		{name: "opted out by annotation", pod: appPod(func(p *corev1.Pod) { p.Annotations = map[string]string{"weft.dev/inject": "disabled"} }),
			op: admissionv1.Create, wantResult: resultSkipped, wantNoDiff: true},
		{name: "host network", pod: appPod(func(p *corev1.Pod) { p.Spec.HostNetwork = true }), op: admissionv1.Create, wantResult: resultSkipped,
			check: func(t *testing.T, p *corev1.Pod) {
				if p.Annotations[injector.AnnotationSkipped] != injector.SkippedHostNetwork {
					t.Errorf("host-network pod annotations %v, want %s=%s", p.Annotations, injector.AnnotationSkipped, injector.SkippedHostNetwork)
				}
			}},
		{name: "invalid annotation", pod: appPod(func(p *corev1.Pod) {
			p.Annotations = map[string]string{injector.AnnotationExcludeInboundPorts: "80,http"}
		}), op: admissionv1.Create, wantResult: resultDenied, wantDenied: injector.AnnotationExcludeInboundPorts},
		{name: "update passes untouched", pod: appPod(nil), op: admissionv1.Update, wantNoDiff: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMetrics()
			h := &handler{config: injector.DefaultConfig, metrics: m, log: slog.New(slog.NewTextHandler(testWriter{t}, nil))}
			req := podRequest(t, tt.pod, tt.op)
			resp := h.Handle(t.Context(), req)
			for _, r := range []string{resultInjected, resultSkipped, resultDenied, resultMalformed} {
				want := 0.0
				if r == tt.wantResult {
					want = 1
				}
				if got := counter(t, m.pods.WithLabelValues(r)); got != want {
					t.Errorf("weft_injector_pods_total{result=%q} = %v, want %v", r, got, want)
				}
			}
			if tt.wantDenied != "" {
				if resp.Allowed || resp.Result == nil || resp.Result.Code != http.StatusBadRequest || !strings.Contains(resp.Result.Message, tt.wantDenied) {
					t.Fatalf("response %+v, want a 400 refusal naming %s", resp.AdmissionResponse, tt.wantDenied)
				}
				return
			}
			if !resp.Allowed {
				t.Fatalf("refused: %+v", resp.Result)
			}
			if tt.wantNoDiff && len(resp.Patches) > 0 {
				t.Errorf("pod that needs no change got the patch %v", resp.Patches)
			}
			got := applied(t, req, resp)
			if has := hasInitContainer(got, injector.ProxyContainerName); has != tt.wantProxy {
				t.Errorf("pod has the %s init container: %v, want %v", injector.ProxyContainerName, has, tt.wantProxy)
			}
			if tt.check != nil {
				tt.check(t, got)
			}
		})
	}
}

func TestHandlerRefusesWhatIsNotAPod(t *testing.T) {
	m := newMetrics()
	h := &handler{config: injector.DefaultConfig, metrics: m, log: slog.New(slog.DiscardHandler)}
	req := podRequest(t, appPod(nil), admissionv1.Create)
	req.Object.Raw = []byte(`{"spec": "not a pod spec"}`)
	resp := h.Handle(t.Context(), req)
	if resp.Allowed || resp.Result.Code != http.StatusBadRequest {
		t.Fatalf("response %+v, want a 400 refusal", resp.AdmissionResponse)
	}
	if got := counter(t, m.pods.WithLabelValues(resultMalformed)); got != 1 {
		t.Errorf("weft_injector_pods_total{result=malformed} = %v, want 1", got)
	}
}
