package kube

import (
	"reflect"
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestTrimPodKeepsTheWorkload checks that the Pods the Watcher's informer
// keeps, trimmed, make the same workloads and problems as the Pods the API
// server sent, and that the bulk is gone.
func TestTrimPodKeepsTheWorkload(t *testing.T) {
	full := func() *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-1", UID: "u1", ResourceVersion: "7",
				Labels:        map[string]string{"app": "web"},
				Annotations:   map[string]string{DependenciesAnnotation: "payments/api,bad", "kubectl.kubernetes.io/last-applied-configuration": "{...}"},
				ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}},
			Spec: corev1.PodSpec{
				ServiceAccountName: "web",
				Containers: []corev1.Container{
					{Name: "app", Image: "example.com/web", Env: []corev1.EnvVar{{Name: "A", Value: "b"}},
						Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}, {ContainerPort: 53, Protocol: corev1.ProtocolUDP}}},
				},
				Volumes: []corev1.Volume{{Name: "data"}},
			},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "192.0.2.1",
				Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
		}
	}
	sidecar := full()
	sidecar.Spec.Containers = append(sidecar.Spec.Containers, corev1.Container{Name: ProxyContainer, Image: "example.com/proxy"})
	native := full()
	native.Spec.InitContainers = []corev1.Container{{Name: ProxyContainer, Image: "example.com/proxy"}}
	proxyless := full()
	proxyless.Annotations[ProxylessAnnotation] = "true"
	plain := full()
	badIP := full()
	badIP.Spec.Containers = sidecar.Spec.Containers
	badIP.Status.PodIP = "192.0.2.300"

	td := spiffeid.RequireTrustDomainFromString("cluster.local")
	nss := []corev1.Namespace{{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}}
	for name, pod := range map[string]*corev1.Pod{"sidecar": sidecar, "native sidecar": native, "proxyless": proxyless, "not in the mesh": plain, "bad IP": badIP} {
		t.Run(name, func(t *testing.T) {
			trimmed, err := trimPod(pod)
			if err != nil {
				t.Fatal(err)
			}
			tp := trimmed.(*corev1.Pod)
			want, wantProblems := Build(td, &Objects{Namespaces: nss, Pods: []corev1.Pod{*pod}})
			got, gotProblems := Build(td, &Objects{Namespaces: nss, Pods: []corev1.Pod{*tp}})
			if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(gotProblems, wantProblems) {
				t.Errorf("trimmed pod builds\n%+v %v\nthe pod builds\n%+v %v", got, gotProblems, want, wantProblems)
			}
			if len(tp.Annotations) > 2 || tp.ManagedFields != nil || tp.Spec.Volumes != nil || tp.Status.Conditions != nil || tp.Spec.Containers[0].Image != "" {
				t.Errorf("trimmed pod keeps what the mesh does not read: %+v", tp)
			}
		})
	}
	if svc, err := trimPod(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web"}}); err != nil || svc.(*corev1.Service).Name != "web" {
		t.Errorf("trimPod(Service) = %v, %v; want it unchanged", svc, err)
	}
}
