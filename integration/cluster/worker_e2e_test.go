//go:build e2e

package cluster

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
)

// With Config.Worker the cluster has a second node in its own network
// namespace, tainted so that only pods that ask run there; a pod there is
// reached by pod IP and through a Service from the first node and its
// pods, reaches their Services itself, and the external client reaches
// its NodePort on either node. Down leaves nothing behind.
func TestWorker(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the cluster needs root")
	}
	ctx := t.Context()
	cfg := testConfig(t)
	cfg.Worker = true
	c, err := Up(ctx, cfg)
	if err != nil {
		t.Fatalf("Up: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Down(context.WithoutCancel(ctx)); err != nil {
			t.Errorf("Down: %v", err)
		}
		assertNothingLeft(t, cfg.StateDir)
	})
	cs, err := kubernetes.NewForConfig(c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	worker, err := cs.CoreV1().Nodes().Get(ctx, WorkerName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(worker.Spec.Taints) != 1 || worker.Spec.Taints[0].Key+"="+worker.Spec.Taints[0].Value != WorkerTaint {
		t.Errorf("the worker's taints are %v, want %s:NoSchedule", worker.Spec.Taints, WorkerTaint)
	}
	if err := c.ImportImages(ctx, filepath.Join(cfg.ImagesDir, appTarball)); err != nil {
		t.Fatal(err)
	}
	_, hairpin := runApp(ctx, t, cs) // on the first node: it does not tolerate the taint
	svc, pod := runAppOnWorker(ctx, t, cs)

	t.Run("the first node reaches the worker's pod by its IP", func(t *testing.T) {
		url := "http://" + net.JoinHostPort(pod.Status.PodIP, "8080") + "/"
		body := eventually(ctx, t, time.Minute, func() (string, error) { return get(ctx, url) })
		if !strings.Contains(body, pod.Name) {
			t.Errorf("GET %s answered %q, want it to name %s", url, body, pod.Name)
		}
	})
	t.Run("a pod on the first node reaches the worker's pod through its Service", func(t *testing.T) {
		url := "http://" + net.JoinHostPort(svc.Spec.ClusterIP, "80") + "/"
		if logs := runEphemeral(ctx, t, cs, hairpin, []string{"get", url}); !strings.Contains(logs, pod.Name) {
			t.Errorf("GET %s from %s answered %q, want it to name %s", url, hairpin.Name, logs, pod.Name)
		}
	})
	t.Run("the worker's pod reaches a Service on the first node by name", func(t *testing.T) {
		url := "http://hairpin.default.svc." + ClusterDomain + "/"
		if logs := runEphemeral(ctx, t, cs, pod, []string{"get", url}); !strings.Contains(logs, hairpin.Name) {
			t.Errorf("GET %s from %s answered %q, want it to name %s", url, pod.Name, logs, hairpin.Name)
		}
	})
	t.Run("the external client reaches the worker's NodePort on both nodes", func(t *testing.T) {
		port := strconv.Itoa(int(svc.Spec.Ports[0].NodePort))
		for _, ip := range []string{WorkerIP, NodeIP} {
			addr := net.JoinHostPort(ip, port)
			body := eventually(ctx, t, time.Minute, func() (string, error) { return getFromNetns(ctx, c.ClientNetns(), addr) })
			if !strings.Contains(body, pod.Name) {
				t.Errorf("GET http://%s/ from %s answered %q, want it to name %s", addr, c.ClientNetns(), body, pod.Name)
			}
		}
	})
}

// runAppOnWorker runs the test app on the worker (it tolerates the taint
// and selects the node) behind a NodePort Service, and waits for it.
func runAppOnWorker(ctx context.Context, t *testing.T, cs kubernetes.Interface) (*corev1.Service, *corev1.Pod) {
	t.Helper()
	labels := map[string]string{"app": "on-worker"}
	svc, err := cs.CoreV1().Services(metav1.NamespaceDefault).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "on-worker"},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeNodePort,
			Selector: labels,
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	spec := corev1.PodSpec{
		TerminationGracePeriodSeconds: new(int64),
		Containers: []corev1.Container{{
			Name: "app", Image: appImage, ImagePullPolicy: corev1.PullNever,
			Args:  []string{"serve", "--http-port", "8080"},
			Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
			ReadinessProbe: &corev1.Probe{
				ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8080)}},
				PeriodSeconds: 1,
			},
		}},
	}
	OnWorker(&spec)
	pod, err := cs.CoreV1().Pods(metav1.NamespaceDefault).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "on-worker", Labels: labels},
		Spec:       spec,
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var last *corev1.Pod
	eventually(ctx, t, 2*time.Minute, func() (string, error) {
		p, err := cs.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return "", err
		}
		last = p
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
				return "", nil
			}
		}
		return "", fmt.Errorf("pod %s is %s: %+v", p.Name, p.Status.Phase, p.Status.ContainerStatuses)
	})
	_, subnet, _ := net.ParseCIDR(WorkerPodSubnet)
	if last.Spec.NodeName != WorkerName || !subnet.Contains(net.ParseIP(last.Status.PodIP)) {
		t.Errorf("pod on %s with IP %q, want %s and an IP in %s", last.Spec.NodeName, last.Status.PodIP, WorkerName, WorkerPodSubnet)
	}
	return svc, last
}

// get returns the body of a 200 answer to GET url from the root namespace.
func get(ctx context.Context, url string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var b strings.Builder
	if _, err := io.Copy(&b, resp.Body); err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return b.String(), nil
}
