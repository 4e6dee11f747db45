package integration

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/controlplane/kube/kubetest"
)

// TestKubernetesModeWritesPolicyStatus: the control plane in Kubernetes
// mode tells users, in the object's status as kubectl shows it, that a
// TrafficPolicy targets a Service that does not exist, and clears that
// once the Service is created.
func TestKubernetesModeWritesPolicyStatus(t *testing.T) {
	env := kubetest.StartT(t, kubetest.Options{})
	k := newKubeFixture(t, env)
	k.create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "weft-system"}})
	k.create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}})
	k.create(&v1alpha1.TrafficPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"},
		Spec: v1alpha1.TrafficPolicySpec{
			TargetRef:    v1alpha1.ServiceReference{Name: "web"},
			LoadBalancer: &v1alpha1.LoadBalancer{Algorithm: v1alpha1.LeastRequest},
		},
	})
	k.startControlPlane("127.0.96.1:0")

	accepted := func() *metav1.Condition {
		var tp v1alpha1.TrafficPolicy
		if err := k.c.Get(t.Context(), client.ObjectKey{Namespace: "shop", Name: "web"}, &tp); err != nil {
			t.Fatal(err)
		}
		return meta.FindStatusCondition(tp.Status.Conditions, "Accepted")
	}
	waitForLong(t, "Accepted=False TargetNotFound on the TrafficPolicy", func() bool {
		c := accepted()
		return c != nil && c.Status == metav1.ConditionFalse && c.Reason == "TargetNotFound"
	})

	k.create(&corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}},
	})
	waitForLong(t, "Accepted=True once the Service exists", func() bool {
		c := accepted()
		return c != nil && c.Status == metav1.ConditionTrue
	})
}

// waitForLong is waitFor with room for a leader election (a Lease is
// acquired within seconds, but a loaded machine stretches that).
func waitForLong(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
