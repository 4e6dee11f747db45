//go:build e2e

package e2e

import (
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/weftmesh/weft/integration/cluster"
)

// placement moves a pod (cluster.OnWorker puts it on the second node).
type placement func(*corev1.PodSpec)

// TestAcrossNodes: the mesh spans the cluster's two nodes (the worker is
// a network namespace of its own with its own containerd, kubelet and
// kube-proxy; pods are routed between the nodes' subnets). Under STRICT,
// a meshed client on the worker reaches a meshed server on the first node
// through its Service's name, and a meshed client on the first node
// reaches a meshed server on the worker through its ClusterIP and by its
// pod IP; each server's sidecar names its client's SPIFFE ID. An
// unmeshed client on the worker is refused.
func TestAcrossNodes(t *testing.T) {
	requireCluster(t)
	const ns = "e2e-nodes"
	namespace(t, ns, true)
	if err := applyYAML(t.Context(), []byte(`apiVersion: mesh.weft.dev/v1alpha1
kind: PeerAuthentication
metadata: {name: default, namespace: e2e-nodes}
spec:
  mtls: {mode: STRICT}
`)); err != nil {
		t.Fatal(err)
	}
	appDeployment(t, ns, "here", "here", 1)
	appDeployment(t, ns, "there", "there", 1, cluster.OnWorker)
	here := podOn(t, ns, "app=here", cluster.NodeName)
	there := podOn(t, ns, "app=there", cluster.WorkerName)
	var svc corev1.Service
	if err := env.client.Get(t.Context(), key(ns, "there"), &svc); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		job, serviceAccount string
		place               placement
		url                 string
		server              string // the name it answers with (--name)
	}{
		{"worker-to-name", "client-w", cluster.OnWorker, "http://here." + ns + ".svc.cluster.local/a", "here"},
		{"first-to-clusterip", "client-1", nil, fmt.Sprintf("http://%s/b", svc.Spec.ClusterIP), "there"},
		{"first-to-pod-ip", "client-1", nil, fmt.Sprintf("http://%s:8080/c", there.Status.PodIP), "there"},
	} {
		out, ok := placedJob(t, ns, c.job, c.serviceAccount, c.place, "get", c.url)
		if !ok || !strings.Contains(out, `"hostname": "`+c.server+`"`) {
			t.Errorf("%s: GET %s (succeeded %v) answered:\n%s", c.job, c.url, ok, out)
		}
	}
	for server, client := range map[string]string{"app=here": "client-w", "app=there": "client-1"} {
		id := "spiffe://cluster.local/ns/" + ns + "/sa/" + client
		if page := serverMetrics(t, ns, server); !strings.Contains(page, id) {
			t.Errorf("the sidecar of %s never names its client's SPIFFE ID %s", server, id)
		}
	}

	namespace(t, ns+"-plain", false)
	url := fmt.Sprintf("http://%s:8080/", here.Status.PodIP)
	if out, ok := placedJob(t, ns+"-plain", "plain-from-worker", "default", cluster.OnWorker, "get", url); ok {
		t.Errorf("an unmeshed client on the worker reached the STRICT server at %s:\n%s", url, out)
	}
}

// podOn returns the one pod matching selector and checks it runs on node.
func podOn(t *testing.T, ns, selector, node string) *corev1.Pod {
	t.Helper()
	pods, err := env.kube.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: selector})
	if err != nil || len(pods.Items) != 1 {
		t.Fatalf("pods %s in %s: %v (%d)", selector, ns, err, len(pods.Items))
	}
	p := &pods.Items[0]
	if p.Spec.NodeName != node || p.Status.PodIP == "" {
		t.Fatalf("pod %s runs on %q with IP %q, want %s", p.Name, p.Spec.NodeName, p.Status.PodIP, node)
	}
	return p
}
