package injector

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// TestWorkloadOf: the workload a pod's metrics are labelled with, from
// its controller at admission.
func TestWorkloadOf(t *testing.T) {
	owned := func(kind, name string, controller bool, labels map[string]string) *metav1.ObjectMeta {
		return &metav1.ObjectMeta{
			GenerateName:    name + "-",
			Labels:          labels,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: kind, Name: name, UID: "u", Controller: ptr.To(controller)}},
		}
	}
	hash := map[string]string{"pod-template-hash": "7d4b9c8f6"}
	tests := []struct {
		name string
		meta *metav1.ObjectMeta
		want string
	}{
		{"a Deployment's pod", owned("ReplicaSet", "web-7d4b9c8f6", true, hash), "web"},
		{"a Deployment with dashes", owned("ReplicaSet", "shop-web-v2-7d4b9c8f6", true, hash), "shop-web-v2"},
		{"a ReplicaSet of its own", owned("ReplicaSet", "api", true, nil), "api"},
		{"a hash that is not the name's suffix", owned("ReplicaSet", "api-x", true, hash), "api-x"},
		{"a CronJob's run", owned("Job", "report-29012345", true, nil), "report"},
		{"a Job", owned("Job", "migrate", true, nil), "migrate"},
		{"a Job named by digits", owned("Job", "29012345", true, nil), "29012345"},
		{"a StatefulSet's pod", owned("StatefulSet", "db", true, nil), "db"},
		{"a DaemonSet's pod", owned("DaemonSet", "node-agent", true, nil), "node-agent"},
		{"an owner that is no controller", owned("ReplicaSet", "web-7d4b9c8f6", false, hash), ""},
		{"a bare pod", &metav1.ObjectMeta{Name: "debug"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := workloadOf(tt.meta); got != tt.want {
				t.Errorf("workloadOf = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestInjectNamesTheWorkload: the webhook's injection tells the proxy
// the Deployment of a ReplicaSet's pod, and tells a bare pod's nothing.
func TestInjectNamesTheWorkload(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: "web-7d4b9c8f6-", Namespace: "shop",
			Labels:          map[string]string{"pod-template-hash": "7d4b9c8f6"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-7d4b9c8f6", UID: "u", Controller: ptr.To(true)}},
		},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app"}}},
	}
	out, _, err := Inject(goldenConfig(nil), pod)
	if err != nil {
		t.Fatal(err)
	}
	if !hasArgs(out.Spec, "--workload", "web") {
		t.Errorf("a Deployment's pod: the proxy is not given --workload web")
	}
	pod.OwnerReferences = nil
	if out, _, err = Inject(goldenConfig(nil), pod); err != nil {
		t.Fatal(err)
	}
	if hasArgs(out.Spec, "--workload") {
		t.Errorf("a bare pod: the proxy is given --workload; it should guess from the pod's name")
	}
}
