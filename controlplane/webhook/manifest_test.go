package webhook

import (
	"slices"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/weftmesh/weft/install/helm"
)

// installedConfiguration decodes the Helm chart's webhook configuration
// (install/helm/weft/templates/mutatingwebhookconfiguration.yaml, as
// rendered) strictly: a field the API does not know fails the test.
func installedConfiguration(t testing.TB) *admissionregistrationv1.MutatingWebhookConfiguration {
	t.Helper()
	objs, err := helm.Render(helm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	o := helm.Find(objs, "MutatingWebhookConfiguration", Default().ConfigurationName)
	if o == nil {
		t.Fatalf("the chart renders no MutatingWebhookConfiguration %s", Default().ConfigurationName)
	}
	var mwc admissionregistrationv1.MutatingWebhookConfiguration
	if err := yaml.UnmarshalStrict(o.YAML(), &mwc); err != nil {
		t.Fatalf("the chart's webhook configuration: %v", err)
	}
	return &mwc
}

func TestInstallManifest(t *testing.T) {
	mwc := installedConfiguration(t)
	d := Default()
	if mwc.APIVersion != "admissionregistration.k8s.io/v1" || mwc.Kind != "MutatingWebhookConfiguration" || mwc.Name != d.ConfigurationName {
		t.Fatalf("the chart's webhook configuration is %s %s %q, want admissionregistration.k8s.io/v1 MutatingWebhookConfiguration %q", mwc.APIVersion, mwc.Kind, mwc.Name, d.ConfigurationName)
	}
	if len(mwc.Webhooks) != 1 {
		t.Fatalf("the chart's webhook configuration has %d webhooks, want 1", len(mwc.Webhooks))
	}
	w := mwc.Webhooks[0]
	svc := w.ClientConfig.Service
	checks := []struct {
		what string
		ok   bool
	}{
		{"name sidecar-injector.weft.dev", w.Name == "sidecar-injector.weft.dev"},
		{"clientConfig.service weft-system/weft-controlplane:15017" + Path, svc != nil && svc.Namespace == "weft-system" && svc.Name == "weft-controlplane" &&
			svc.Port != nil && *svc.Port == 15017 && svc.Path != nil && *svc.Path == Path && w.ClientConfig.URL == nil},
		{"the service's name among the certificate's DNS names", svc != nil && slices.Contains(d.DNSNames, svc.Name+"."+svc.Namespace+".svc")},
		{"no caBundle (written at run time)", len(w.ClientConfig.CABundle) == 0},
		{"rules: pod CREATE in core v1", len(w.Rules) == 1 && slices.Equal(w.Rules[0].Operations, []admissionregistrationv1.OperationType{admissionregistrationv1.Create}) &&
			slices.Equal(w.Rules[0].APIGroups, []string{""}) && slices.Equal(w.Rules[0].APIVersions, []string{"v1"}) && slices.Equal(w.Rules[0].Resources, []string{"pods"})},
		{"namespaceSelector weft.dev/inject=enabled", w.NamespaceSelector != nil && len(w.NamespaceSelector.MatchExpressions) == 0 &&
			len(w.NamespaceSelector.MatchLabels) == 1 && w.NamespaceSelector.MatchLabels["weft.dev/inject"] == "enabled"},
		{"objectSelector weft.dev/inject NotIn [disabled]", w.ObjectSelector != nil && len(w.ObjectSelector.MatchLabels) == 0 && len(w.ObjectSelector.MatchExpressions) == 1 &&
			w.ObjectSelector.MatchExpressions[0].Key == "weft.dev/inject" && w.ObjectSelector.MatchExpressions[0].Operator == metav1.LabelSelectorOpNotIn &&
			slices.Equal(w.ObjectSelector.MatchExpressions[0].Values, []string{"disabled"})},
		{"failurePolicy Fail", w.FailurePolicy != nil && *w.FailurePolicy == admissionregistrationv1.Fail},
		{"sideEffects None", w.SideEffects != nil && *w.SideEffects == admissionregistrationv1.SideEffectClassNone},
		{"admissionReviewVersions [v1]", slices.Equal(w.AdmissionReviewVersions, []string{"v1"})},
		{"timeoutSeconds 10", w.TimeoutSeconds != nil && *w.TimeoutSeconds == 10},
		{"reinvocationPolicy Never", w.ReinvocationPolicy != nil && *w.ReinvocationPolicy == admissionregistrationv1.NeverReinvocationPolicy},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("the chart's webhook configuration: want %s; webhook is %+v", c.what, w)
		}
	}
}
