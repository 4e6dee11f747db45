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

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	_, hairpin := runApp(ctx, t, cs, "hairpin", firstNode(c.l))
	svc, pod := runApp(ctx, t, cs, "on-worker", workerNode(c.l))

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
