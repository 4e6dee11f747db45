//go:build e2e

package e2e

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestInjectedDeployment: in a namespace labelled weft.dev/inject=enabled
// the real webhook injects the proxy as a native sidecar (an init
// container that keeps running), started before the app, and the pod is
// Ready only once both are.
func TestInjectedDeployment(t *testing.T) {
	requireCluster(t)
	namespace(t, "e2e-inject", true)
	appDeployment(t, "e2e-inject", "server", "server", 1)

	pods, err := env.kube.CoreV1().Pods("e2e-inject").List(t.Context(), metav1.ListOptions{LabelSelector: "app=server"})
	if err != nil || len(pods.Items) != 1 {
		t.Fatalf("listing the server's pods: %v (%d)", err, len(pods.Items))
	}
	pod := pods.Items[0]
	i := slices.IndexFunc(pod.Spec.InitContainers, func(c corev1.Container) bool { return c.Name == "weft-proxy" })
	if i < 0 {
		t.Fatalf("the pod has no weft-proxy init container: %v", pod.Spec.InitContainers)
	}
	if rp := pod.Spec.InitContainers[i].RestartPolicy; rp == nil || *rp != corev1.ContainerRestartPolicyAlways {
		t.Errorf("weft-proxy is not a native sidecar (restartPolicy %v)", rp)
	}
	// The webhook named the Deployment, from the ReplicaSet the real
	// controller made, as the workload of the proxy's metrics.
	args := strings.Join(pod.Spec.InitContainers[i].Args, " ")
	if !strings.Contains(args, "--workload server ") && !strings.HasSuffix(args, "--workload server") {
		t.Errorf("weft-proxy's args do not name its Deployment as the workload (--workload server): %s", args)
	}
	var proxyStarted, appStarted time.Time
	for _, s := range pod.Status.InitContainerStatuses {
		if s.Name == "weft-proxy" && s.State.Running != nil {
			proxyStarted = s.State.Running.StartedAt.Time
		}
	}
	for _, s := range pod.Status.ContainerStatuses {
		if s.Name == "app" && s.State.Running != nil {
			appStarted = s.State.Running.StartedAt.Time
		}
	}
	if proxyStarted.IsZero() || appStarted.IsZero() || appStarted.Before(proxyStarted) {
		t.Errorf("the proxy started at %v and the app at %v: the proxy must start first", proxyStarted, appStarted)
	}
}

// TestMeshedClientToClusterIP: a meshed client reaches a meshed server
// through its ClusterIP Service over mTLS, and the server's sidecar saw
// the client's SPIFFE ID; an unmeshed client goes through kube-proxy's
// DNAT and is accepted in plaintext under the default PERMISSIVE mode.
func TestMeshedClientToClusterIP(t *testing.T) {
	requireCluster(t)
	namespace(t, "e2e-mtls", true)
	appDeployment(t, "e2e-mtls", "server", "server", 1)
	var svc corev1.Service
	if err := env.client.Get(t.Context(), key("e2e-mtls", "server"), &svc); err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("http://%s:80/hello", svc.Spec.ClusterIP)

	out := runJob(t, "e2e-mtls", "meshed-client", "client", "get", url)
	if !strings.Contains(out, "server") {
		t.Errorf("the meshed client's GET %s answered:\n%s", url, out)
	}
	clientID := "spiffe://cluster.local/ns/e2e-mtls/sa/client"
	page := serverMetrics(t, "e2e-mtls", "app=server")
	if !strings.Contains(page, clientID) {
		t.Errorf("the server's sidecar metrics never name the client's SPIFFE ID %s", clientID)
	}
	// Installed with controlPlane.accessLog: the server's sidecar logs
	// the request, with the client's identity, where kubectl logs reads.
	waitFor(t, 10*time.Second, "the server sidecar's access log line", func() (bool, string) {
		logs := podLogs(t, "e2e-mtls", "app=server", "weft-proxy")
		for line := range strings.Lines(logs) {
			if strings.Contains(line, `"path":"/hello"`) && strings.Contains(line, `"peer_id":"`+clientID+`"`) {
				return true, ""
			}
		}
		return false, "no line with path /hello and peer_id " + clientID + " in:\n" + lastLines(logs, 10)
	})

	namespace(t, "e2e-plain", false)
	out = runJob(t, "e2e-plain", "plain-client", "default", "get", url)
	if !strings.Contains(out, "server") {
		t.Errorf("an unmeshed client's GET %s (PERMISSIVE) answered:\n%s", url, out)
	}
}

// TestPodToPodIP: a meshed client that dials a meshed server pod by its
// IP, or by a headless Service's name (whose DNS answers pod IPs),
// reaches it over mTLS: the server runs STRICT, which refuses an
// unmeshed client's plaintext to that same address, and its sidecar
// names the client's SPIFFE ID, which only the pod-IP requests carry (no
// ClusterIP is called in the namespace).
func TestPodToPodIP(t *testing.T) {
	requireCluster(t)
	const ns = "e2e-podip"
	namespace(t, ns, true)
	if err := applyYAML(t.Context(), []byte(`apiVersion: mesh.weft.dev/v1alpha1
kind: PeerAuthentication
metadata: {name: default, namespace: e2e-podip}
spec:
  mtls: {mode: STRICT}
---
apiVersion: v1
kind: Service
metadata: {name: server-pods, namespace: e2e-podip}
spec:
  clusterIP: None
  selector: {app: server}
  ports: [{name: http, port: 8080, appProtocol: http}]
`)); err != nil {
		t.Fatal(err)
	}
	appDeployment(t, ns, "server", "server", 1)
	pods, err := env.kube.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "app=server"})
	if err != nil || len(pods.Items) != 1 || pods.Items[0].Status.PodIP == "" {
		t.Fatalf("the server pod and its IP: %v", err)
	}
	byIP := fmt.Sprintf("http://%s:8080/by-ip", pods.Items[0].Status.PodIP)
	byName := "http://server-pods." + ns + ".svc.cluster.local:8080/by-name"

	for name, url := range map[string]string{"by-pod-ip": byIP, "by-headless-name": byName} {
		if out := runJob(t, ns, name, "client", "get", url); !strings.Contains(out, `"hostname": "server`) {
			t.Errorf("the meshed client's GET %s answered:\n%s", url, out)
		}
	}
	clientID := "spiffe://cluster.local/ns/" + ns + "/sa/client"
	if page := serverMetrics(t, ns, "app=server"); !strings.Contains(page, clientID) {
		t.Errorf("the server's sidecar metrics never name the client's SPIFFE ID %s", clientID)
	}

	namespace(t, ns+"-plain", false)
	if out, ok := runJobResult(t, ns+"-plain", "plain-by-pod-ip", "default", "get", byIP); ok {
		t.Errorf("an unmeshed client's plaintext GET %s reached the STRICT server:\n%s", byIP, out)
	}
}

// serverMetrics reads the metrics of the sidecar of the first pod
// matching selector, from the root network namespace, which reaches pod
// IPs through the CNI bridge.
func serverMetrics(t *testing.T, ns, selector string) string {
	t.Helper()
	pods, err := env.kube.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: selector})
	if err != nil || len(pods.Items) == 0 {
		t.Fatalf("no pod %s in %s: %v", selector, ns, err)
	}
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(fmt.Sprintf("http://%s:15020/metrics", pods.Items[0].Status.PodIP))
	if err != nil {
		t.Fatalf("scraping the sidecar of %s: %v", pods.Items[0].Name, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestStrictProbesAndJobs: under STRICT mTLS the kubelet's HTTP readiness
// probes still pass (the injector rewrote them to the status port), a
// meshed Job completes and its pod terminates (the native sidecar ends
// with it), and an unmeshed client arriving through kube-proxy's DNAT is
// refused.
func TestStrictProbesAndJobs(t *testing.T) {
	requireCluster(t)
	namespace(t, "e2e-strict", true)
	if err := applyYAML(t.Context(), []byte(`apiVersion: mesh.weft.dev/v1alpha1
kind: PeerAuthentication
metadata: {name: default, namespace: e2e-strict}
spec:
  mtls: {mode: STRICT}
`)); err != nil {
		t.Fatal(err)
	}
	appDeployment(t, "e2e-strict", "server", "server", 1) // waits for Ready: the probe passed
	var svc corev1.Service
	if err := env.client.Get(t.Context(), key("e2e-strict", "server"), &svc); err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("http://%s/", svc.Spec.ClusterIP)

	runJob(t, "e2e-strict", "meshed-job", "client", "get", url)
	pods, err := env.kube.CoreV1().Pods("e2e-strict").List(t.Context(), metav1.ListOptions{LabelSelector: "job=meshed-job"})
	if err != nil || len(pods.Items) != 1 {
		t.Fatalf("the job's pod: %v", err)
	}
	if phase := pods.Items[0].Status.Phase; phase != corev1.PodSucceeded {
		t.Errorf("the meshed job's pod is %s, want Succeeded (the sidecar must end with the app)", phase)
	}

	namespace(t, "e2e-strict-plain", false)
	r := load(t, "e2e-strict-plain", "plain", "default", url, 3)
	if r.OK != 0 {
		t.Errorf("an unmeshed client got %d answers from a STRICT server: %+v", r.OK, r)
	}
}
