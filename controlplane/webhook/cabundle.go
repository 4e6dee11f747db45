package webhook

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"strconv"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// bundlePatcher keeps the CA's roots in the caBundle of every webhook of
// one MutatingWebhookConfiguration, touching nothing else of it.
type bundlePatcher struct {
	name    string
	client  kubernetes.Interface
	roots   func() []*x509.Certificate
	metrics *metrics
	log     *slog.Logger

	// missing is set once the configuration's absence has been logged,
	// so that it is logged once, not at every check.
	missing bool
}

// bundlePEM encodes certificates as a caBundle.
func bundlePEM(certs []*x509.Certificate) []byte {
	var b bytes.Buffer
	for _, c := range certs {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.Bytes()
}

// jsonPatchOp is one RFC 6902 operation.
type jsonPatchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

// sync writes the roots into every webhook whose caBundle differs. A
// missing configuration is retried at the next check; errors are logged,
// never fatal: the webhook keeps serving, and the API server keeps
// trusting whatever caBundle it has.
func (p *bundlePatcher) sync(ctx context.Context) {
	api := p.client.AdmissionregistrationV1().MutatingWebhookConfigurations()
	mwc, err := api.Get(ctx, p.name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		if !p.missing {
			p.missing = true
			p.log.InfoContext(ctx, "webhook configuration not found, its caBundle is written once it exists", "mutatingwebhookconfiguration", p.name)
		}
		return
	case err != nil && ctx.Err() != nil:
		return // stopping
	case err != nil:
		p.metrics.bundles.WithLabelValues(updateFailed).Inc()
		p.log.WarnContext(ctx, "webhook configuration not read, caBundle not checked", "mutatingwebhookconfiguration", p.name, "error", err)
		return
	}
	p.missing = false
	ops := bundleOps(mwc, bundlePEM(p.roots()))
	if len(ops) == 0 {
		return
	}
	patch, err := json.Marshal(ops)
	if err != nil {
		p.log.ErrorContext(ctx, "caBundle patch not encoded", "error", err)
		return
	}
	if _, err := api.Patch(ctx, p.name, types.JSONPatchType, patch, metav1.PatchOptions{FieldManager: "weft-controlplane"}); err != nil {
		p.metrics.bundles.WithLabelValues(updateFailed).Inc()
		p.log.WarnContext(ctx, "caBundle not written, retrying", "mutatingwebhookconfiguration", p.name, "error", err)
		return
	}
	p.metrics.bundles.WithLabelValues(updatePatched).Inc()
	p.log.InfoContext(ctx, "caBundle written", "mutatingwebhookconfiguration", p.name, "webhooks", len(ops)/2)
}

// bundleOps is the JSON patch that sets bundle as the caBundle of every
// webhook of mwc whose caBundle differs. Each write is guarded by a test
// of the webhook's name, so that a configuration edited in between fails
// the patch (and is checked again) rather than getting a bundle at the
// wrong place.
func bundleOps(mwc *admissionregistrationv1.MutatingWebhookConfiguration, bundle []byte) []jsonPatchOp {
	var ops []jsonPatchOp
	for i, w := range mwc.Webhooks {
		if bytes.Equal(w.ClientConfig.CABundle, bundle) {
			continue
		}
		at := "/webhooks/" + strconv.Itoa(i)
		ops = append(ops,
			jsonPatchOp{Op: "test", Path: at + "/name", Value: w.Name},
			// add sets a member whether or not it exists; []byte is
			// encoded as base64, as the API expects.
			jsonPatchOp{Op: "add", Path: at + "/clientConfig/caBundle", Value: bundle},
		)
	}
	return ops
}
