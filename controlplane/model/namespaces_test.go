package model

import (
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/weftmesh/weft/api/v1alpha1"
)

func TestNamespaceRange(t *testing.T) {
	s := []NamespacedName{{"a", "1"}, {"b", "1"}, {"b", "2"}, {"d", "1"}}
	ns := func(n *NamespacedName) string { return n.Namespace }
	tests := []struct {
		ns     string
		lo, hi int
	}{
		{"a", 0, 1}, {"b", 1, 3}, {"c", 3, 3}, {"d", 3, 4}, {"0", 0, 0}, {"z", 4, 4},
	}
	for _, tt := range tests {
		t.Run(tt.ns, func(t *testing.T) {
			if lo, hi := namespaceRange(s, tt.ns, ns); lo != tt.lo || hi != tt.hi {
				t.Errorf("namespaceRange(%q) = [%d, %d), want [%d, %d)", tt.ns, lo, hi, tt.lo, tt.hi)
			}
		})
	}
	if lo, hi := namespaceRange([]NamespacedName(nil), "a", ns); lo != 0 || hi != 0 {
		t.Errorf("namespaceRange(nil) = [%d, %d)", lo, hi)
	}
}

// TestPolicyLookupsAcrossNamespaces checks the lookups that search only
// the namespaces concerned: policies of every other namespace, sorted on
// both sides of the one asked about, must not leak in, and the root
// namespace's must.
func TestPolicyLookupsAcrossNamespaces(t *testing.T) {
	pa := func(ns, name string, mode v1alpha1.MTLSMode, sel map[string]string) v1alpha1.PeerAuthentication {
		p := v1alpha1.PeerAuthentication{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
		p.Spec.MTLS = &v1alpha1.MutualTLS{Mode: mode}
		if sel != nil {
			p.Spec.Selector = &v1alpha1.WorkloadSelector{MatchLabels: sel}
		}
		return p
	}
	tp := func(ns, name, target string) v1alpha1.TrafficPolicy {
		return v1alpha1.TrafficPolicy{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec:       v1alpha1.TrafficPolicySpec{TargetRef: v1alpha1.ServiceReference{Kind: "Service", Name: target}},
		}
	}
	m := &Mesh{Policies: Policies{
		PeerAuthentications: []v1alpha1.PeerAuthentication{
			pa("zzz", "default", v1alpha1.MTLSDisable, nil),
			pa("aaa", "default", v1alpha1.MTLSDisable, nil),
			pa("shop", "default", v1alpha1.MTLSPermissive, nil),
			pa(v1alpha1.RootNamespace, "default", v1alpha1.MTLSStrict, nil),
			pa(v1alpha1.RootNamespace, "legacy", v1alpha1.MTLSDisable, map[string]string{"app": "legacy"}),
		},
		TrafficPolicies: []v1alpha1.TrafficPolicy{
			tp("aaa", "api", "api"), tp("zzz", "api", "api"), tp("shop", "b-api", "api"), tp("shop", "a-web", "web"),
		},
	}}
	m.Sort()
	modes := []struct {
		w    Workload
		want v1alpha1.MTLSMode
	}{
		{Workload{Namespace: "shop"}, v1alpha1.MTLSPermissive},
		{Workload{Namespace: "other"}, v1alpha1.MTLSStrict},
		{Workload{Namespace: "other", Labels: map[string]string{"app": "legacy"}}, v1alpha1.MTLSDisable},
		{Workload{Namespace: v1alpha1.RootNamespace}, v1alpha1.MTLSStrict},
		{Workload{Namespace: "zzz"}, v1alpha1.MTLSDisable},
		{Workload{Namespace: "zzzz"}, v1alpha1.MTLSStrict},
	}
	for _, tt := range modes {
		t.Run("mode "+tt.w.Namespace, func(t *testing.T) {
			if got := m.MTLSMode(&tt.w, 80); got != tt.want {
				t.Errorf("MTLSMode = %s, want %s", got, tt.want)
			}
		})
	}
	policies := []struct {
		svc  NamespacedName
		want string // namespace/name of the policy, "" for none
	}{
		{NamespacedName{"shop", "api"}, "shop/b-api"},
		{NamespacedName{"shop", "web"}, "shop/a-web"},
		{NamespacedName{"shop", "db"}, ""},
		{NamespacedName{"aaa", "api"}, "aaa/api"},
		{NamespacedName{"zzz", "api"}, "zzz/api"},
		{NamespacedName{"mid", "api"}, ""},
	}
	for _, tt := range policies {
		t.Run("traffic "+tt.svc.String(), func(t *testing.T) {
			got := ""
			if p := m.TrafficPolicy(tt.svc); p != nil {
				got = p.Namespace + "/" + p.Name
			}
			if got != tt.want {
				t.Errorf("TrafficPolicy(%s) = %q, want %q", tt.svc, got, tt.want)
			}
		})
	}
	if got := m.peerAuthenticationsFor(&Workload{Namespace: v1alpha1.RootNamespace}); !slices.Equal(got, []int{2, 3}) {
		t.Errorf("peerAuthenticationsFor(root workload) = %v, want each root policy once: [2 3]", got)
	}
}
