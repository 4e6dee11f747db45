package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/weftmesh/weft/injector"
)

// handler admits pods through injector.Inject with the configuration of
// the moment.
type handler struct {
	config  func() injector.Config
	metrics *metrics
	log     *slog.Logger
}

// Handle answers one AdmissionReview: the JSON patch injection makes, no
// patch when it changes nothing, or a refusal naming the invalid
// annotation.
func (h *handler) Handle(ctx context.Context, req admission.Request) admission.Response {
	if req.Kind.Group != "" || req.Kind.Kind != "Pod" || req.SubResource != "" || req.Operation != admissionv1.Create {
		// The configuration selects pod creations only; anything else
		// passes untouched.
		return admission.Allowed("")
	}
	var pod corev1.Pod
	if err := json.Unmarshal(req.Object.Raw, &pod); err != nil {
		h.metrics.pods.WithLabelValues(resultMalformed).Inc()
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("decode pod: %w", err))
	}
	log := h.log.With("namespace", req.Namespace, "pod", podName(&pod))
	out, res, err := injector.Inject(h.config(), &pod)
	if err != nil {
		h.metrics.pods.WithLabelValues(resultDenied).Inc()
		log.InfoContext(ctx, "pod refused", "error", err)
		return denied(err.Error())
	}
	if res.Injected {
		h.metrics.pods.WithLabelValues(resultInjected).Inc()
		log.DebugContext(ctx, "pod injected")
	} else {
		h.metrics.pods.WithLabelValues(resultSkipped).Inc()
		log.DebugContext(ctx, "pod not injected", "reason", res.Skipped)
	}
	if equality.Semantic.DeepEqual(&pod, out) {
		return admission.Allowed(res.Skipped)
	}
	patched, err := json.Marshal(out)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, fmt.Errorf("encode injected pod: %w", err))
	}
	return admission.PatchResponseFromRaw(req.Object.Raw, patched)
}

// denied refuses a pod as a bad request; the API server shows message
// after `admission webhook "<name>" denied the request: `.
func denied(message string) admission.Response {
	resp := admission.Denied(message)
	resp.Result.Code = http.StatusBadRequest
	resp.Result.Reason = metav1.StatusReasonBadRequest
	return resp
}

// podName is the pod's name, or its generateName prefix when the name is
// not chosen yet (pods of Deployments, Jobs...).
func podName(p *corev1.Pod) string {
	if p.Name != "" {
		return p.Name
	}
	return p.GenerateName
}
