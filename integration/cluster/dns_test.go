package cluster

import (
	"encoding/json"
	"net"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// dns.yaml, the kubelet's configuration and the constants agree: the
// kubelet points pods at kube-dns's ClusterIP, which is in the Service
// range, and the Deployment runs the image Up imports, never pulled, with
// a Corefile that serves the cluster domain and forwards nothing.
func TestDNSManifest(t *testing.T) {
	objs, err := manifestObjects(dnsManifest)
	if err != nil {
		t.Fatal(err)
	}
	byKind := map[string]*unstructured.Unstructured{}
	for _, u := range objs {
		byKind[u.GetKind()] = u
	}
	for _, kind := range []string{"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "ConfigMap", "Deployment", "Service"} {
		if byKind[kind] == nil {
			t.Fatalf("dns.yaml has no %s (has %d objects)", kind, len(objs))
		}
	}

	var svc corev1.Service
	convert(t, byKind["Service"], &svc)
	_, services, _ := net.ParseCIDR(ServiceCIDR)
	if svc.Namespace != "kube-system" || svc.Name != "kube-dns" || svc.Spec.ClusterIP != DNSServiceIP || !services.Contains(net.ParseIP(DNSServiceIP)) {
		t.Errorf("Service %s/%s has ClusterIP %s; want kube-system/kube-dns at %s, inside %s", svc.Namespace, svc.Name, svc.Spec.ClusterIP, DNSServiceIP, ServiceCIDR)
	}
	var protocols []corev1.Protocol
	for _, p := range svc.Spec.Ports {
		if p.Port == 53 {
			protocols = append(protocols, p.Protocol)
		}
	}
	if !slices.Equal(protocols, []corev1.Protocol{corev1.ProtocolUDP, corev1.ProtocolTCP}) {
		t.Errorf("kube-dns ports %+v, want 53/UDP and 53/TCP", svc.Spec.Ports)
	}

	var d appsv1.Deployment
	convert(t, byKind["Deployment"], &d)
	pod := d.Spec.Template.Spec
	if len(pod.Containers) != 1 || pod.Containers[0].Image != CoreDNSImage || pod.Containers[0].ImagePullPolicy != corev1.PullNever {
		t.Errorf("CoreDNS containers %+v, want one running %s with imagePullPolicy Never", pod.Containers, CoreDNSImage)
	}
	if sc := pod.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot ||
		!slices.Contains(sc.Sysctls, corev1.Sysctl{Name: "net.ipv4.ip_unprivileged_port_start", Value: "53"}) {
		t.Errorf("CoreDNS pod security context %+v: want non-root, allowed to bind port 53", pod.SecurityContext)
	}
	if !labelsMatch(d.Spec.Template.Labels, svc.Spec.Selector) {
		t.Errorf("kube-dns selects %v, the CoreDNS pods are labelled %v", svc.Spec.Selector, d.Spec.Template.Labels)
	}

	var cm corev1.ConfigMap
	convert(t, byKind["ConfigMap"], &cm)
	corefile := cm.Data["Corefile"]
	if !strings.Contains(corefile, "kubernetes "+ClusterDomain+" in-addr.arpa ip6.arpa") {
		t.Errorf("the Corefile does not serve %s:\n%s", ClusterDomain, corefile)
	}
	for _, never := range []string{"forward", "/etc/resolv.conf"} {
		if strings.Contains(corefile, never) {
			t.Errorf("the Corefile names %q: queries must never leave the machine:\n%s", never, corefile)
		}
	}

	data, err := kubeletConfig(firstNode(layout{dir: "/var/lib/weft-e2e"}))
	if err != nil {
		t.Fatal(err)
	}
	var kubelet struct {
		ClusterDNS    []string `json:"clusterDNS"`
		ClusterDomain string   `json:"clusterDomain"`
	}
	if err := json.Unmarshal(data, &kubelet); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(kubelet.ClusterDNS, []string{DNSServiceIP}) || kubelet.ClusterDomain != ClusterDomain {
		t.Errorf("kubelet clusterDNS %v, clusterDomain %q; want [%s], %q", kubelet.ClusterDNS, kubelet.ClusterDomain, DNSServiceIP, ClusterDomain)
	}
}

func convert(t *testing.T, u *unstructured.Unstructured, into any) {
	t.Helper()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, into, true); err != nil {
		t.Fatalf("%s %s: %v", u.GetKind(), u.GetName(), err)
	}
}

func labelsMatch(labels, selector map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}
