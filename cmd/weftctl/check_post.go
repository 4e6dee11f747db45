package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/weftmesh/weft/controlplane/ca"
)

// weftCRDs are the CRDs of install/crds (a test keeps the two in step).
var weftCRDs = []string{
	"authorizationpolicies.mesh.weft.dev",
	"peerauthentications.mesh.weft.dev",
	"trafficpolicies.mesh.weft.dev",
	"workloads.mesh.weft.dev",
}

// rootExpiryWarning is how long before its expiry a CA root fails the
// check: time enough to rotate it (docs/identity.md).
const rootExpiryWarning = 30 * 24 * time.Hour

const installHint = "install Weft: weftctl install, or kubectl apply -f install/weft.yaml"

func (c *checker) checkCRDs(ctx context.Context) []checkResult {
	const what = "Weft CRDs installed and established"
	var missing, pending []string
	for _, name := range weftCRDs {
		crd, err := c.dyn.Resource(crdResource).Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			missing = append(missing, name)
			continue
		case err != nil:
			return []checkResult{failed(what, err.Error(), "")}
		}
		if !crdEstablished(crd) {
			pending = append(pending, name)
		}
	}
	var why []string
	if len(missing) > 0 {
		why = append(why, "missing "+strings.Join(missing, ", "))
	}
	if len(pending) > 0 {
		why = append(why, "not established "+strings.Join(pending, ", "))
	}
	if len(why) > 0 {
		hint := installHint
		if len(missing) == 0 {
			hint = "kubectl describe crd " + pending[0] + " (its conditions say why the API server does not serve it)"
		}
		return []checkResult{failed(what, strings.Join(why, "; "), hint)}
	}
	return []checkResult{passed(fmt.Sprintf("%s (%d)", what, len(weftCRDs)))}
}

var crdResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// crdEstablished tells whether the API server serves crd: its Established
// condition is True.
func crdEstablished(crd *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Established" {
			return m["status"] == "True"
		}
	}
	return false
}

func (c *checker) checkControlPlane(ctx context.Context) []checkResult {
	what := fmt.Sprintf("control plane Deployment %s/%s available", c.namespace, controlPlaneName)
	d, err := c.cs.AppsV1().Deployments(c.namespace).Get(ctx, controlPlaneName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return []checkResult{failed(what, "not found", installHint)}
	case err != nil:
		return []checkResult{failed(what, err.Error(), "")}
	}
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	if got := d.Status.AvailableReplicas; got < want || want == 0 {
		return []checkResult{failed(what, fmt.Sprintf("%d of %d replicas available", got, want),
			fmt.Sprintf("kubectl -n %[1]s describe deployment %[2]s; kubectl -n %[1]s logs deployment/%[2]s", c.namespace, controlPlaneName))}
	}
	return []checkResult{passed(fmt.Sprintf("%s (%d of %d replicas)", what, d.Status.AvailableReplicas, want))}
}

// caRoots reads the CA's roots from its Secret's ca.crt.
func (c *checker) caRoots(ctx context.Context) ([]*x509.Certificate, error) {
	ref := ca.SecretRef{Namespace: c.namespace, Name: ca.SecretName}
	s, err := c.cs.CoreV1().Secrets(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("reading Secret %s: %w", ref, err)
	}
	roots, err := parseCertsPEM(s.Data[ca.CertManagerRoots])
	if err != nil {
		return nil, fmt.Errorf("reading Secret %s, key %s: %w", ref, ca.CertManagerRoots, err)
	}
	return roots, nil
}

func (c *checker) checkCARoot(ctx context.Context) checkResult {
	what := fmt.Sprintf("CA root (Secret %s/%s)", c.namespace, ca.SecretName)
	roots, err := c.caRoots(ctx)
	if err != nil {
		hint := ""
		if apierrors.IsNotFound(err) {
			err = errors.New("not found")
			hint = fmt.Sprintf("the control plane creates it at its first start: kubectl -n %s logs deployment/%s", c.namespace, controlPlaneName)
		}
		return failed(what, err.Error(), hint)
	}
	// The root that expires first is the one to worry about.
	first := roots[0]
	for _, r := range roots[1:] {
		if r.NotAfter.Before(first.NotAfter) {
			first = r
		}
	}
	left := first.NotAfter.Sub(c.now())
	if left < rootExpiryWarning {
		why := fmt.Sprintf("expires %s, in %s", first.NotAfter.UTC().Format(time.DateOnly), humanDuration(left))
		if left <= 0 {
			why = "expired " + first.NotAfter.UTC().Format(time.DateOnly)
		}
		return failed(what, why, "rotate the root before it expires: docs/identity.md, \"Rotating a root, step by step\"")
	}
	return passed(fmt.Sprintf("%s valid until %s (%s)", what, first.NotAfter.UTC().Format(time.DateOnly), humanDuration(left)))
}

// parseCertsPEM reads every certificate of a PEM bundle; at least one.
func parseCertsPEM(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for rest := data; ; {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		certs = append(certs, cert)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM certificate")
	}
	return certs, nil
}

// humanDuration is d in days, or hours under two days, or minutes.
func humanDuration(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%d days", int(d/(24*time.Hour)))
	case d >= 2*time.Hour:
		return fmt.Sprintf("%d hours", int(d/time.Hour))
	default:
		return fmt.Sprintf("%d minutes", int(d/time.Minute))
	}
}
