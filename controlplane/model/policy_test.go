package model

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/weftmesh/weft/api/v1alpha1"
)

// TestMTLSModeOfProxylessWorkloads: a proxyless gRPC workload has no
// sidecar to terminate mTLS, so even a mesh-wide STRICT leaves its ports
// plaintext (clients then send plaintext), while a sidecar next to it
// follows the policy.
func TestMTLSModeOfProxylessWorkloads(t *testing.T) {
	m := &Mesh{Policies: Policies{PeerAuthentications: []v1alpha1.PeerAuthentication{{
		ObjectMeta: metav1.ObjectMeta{Namespace: v1alpha1.RootNamespace, Name: "default"},
		Spec:       v1alpha1.PeerAuthenticationSpec{MTLS: &v1alpha1.MutualTLS{Mode: v1alpha1.MTLSStrict}},
	}}}}
	sidecar := &Workload{Name: "a", Namespace: "shop"}
	proxyless := &Workload{Name: "b", Namespace: "shop", Proxyless: true}
	if got := m.MTLSMode(sidecar, 80); got != v1alpha1.MTLSStrict {
		t.Errorf("sidecar workload: %s, want STRICT", got)
	}
	if got := m.MTLSMode(proxyless, 80); got != v1alpha1.MTLSDisable {
		t.Errorf("proxyless workload: %s, want DISABLE", got)
	}
}
