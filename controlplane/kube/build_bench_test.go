package kube_test

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/weftmesh/weft/controlplane/kube"
)

// BenchmarkBuild builds a mesh of 100 namespaces, 1,000 Services and
// 10,000 mesh pods behind them (10 per Service, one EndpointSlice each):
// the work of one rebuild after an event.
func BenchmarkBuild(b *testing.B) {
	objs := &kube.Objects{}
	for n := range 100 {
		nsName := fmt.Sprintf("ns-%d", n)
		objs.Namespaces = append(objs.Namespaces, ns(nsName))
		for s := range 10 {
			svc := fmt.Sprintf("svc-%d", s)
			objs.Services = append(objs.Services, corev1.Service{ObjectMeta: meta(nsName, svc), Spec: corev1.ServiceSpec{
				Selector: map[string]string{"app": svc},
				Ports:    []corev1.ServicePort{{Name: "http", Port: 80}},
			}})
			es := slice(nsName, svc+"-abc", svc, 8080)
			for p := range 10 {
				ip := fmt.Sprintf("10.%d.%d.%d", n, s, p+1)
				pod := meshPod(nsName, fmt.Sprintf("%s-%d", svc, p), ip, 8080)
				pod.Labels = map[string]string{"app": svc}
				objs.Pods = append(objs.Pods, pod)
				es.Endpoints = append(es.Endpoints, endpoint(ip, pod.Name, nil))
			}
			objs.EndpointSlices = append(objs.EndpointSlices, es)
		}
	}
	objs.Namespaces = append(objs.Namespaces, corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "weft-system"}})
	b.ReportAllocs()
	for b.Loop() {
		m, _ := kube.Build(td, objs)
		if len(m.Workloads) != 10000 {
			b.Fatalf("%d workloads", len(m.Workloads))
		}
	}
}
