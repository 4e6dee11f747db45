//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// outage is how long TestControlPlaneOutage keeps the control plane away.
const outage = 2 * time.Minute

// TestControlPlaneOutage: with the control plane's Deployment deleted for
// two minutes, meshed pods that were running keep calling each other over
// mTLS with their last config (the allowed service account still gets
// 200, the denied one still 403) and stay Ready; once `weftctl install`
// brings the control plane back, a new pod is injected again.
func TestControlPlaneOutage(t *testing.T) {
	requireCluster(t)
	const ns = "e2e-outage"
	namespace(t, ns, true)
	sc := newAPIScene(t, ns)
	applyAPIPolicy(t, ns)
	verdicts := sc.answers(http.StatusOK, http.StatusForbidden)
	waitFor(t, time.Minute, "the policy's verdicts before the outage", verdicts)

	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
		defer cancel()
		if err := installWeft(ctx, env.cluster.Kubeconfig()); err != nil {
			t.Errorf("bringing the control plane back: %v", err)
		}
	})
	cp := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "weft-controlplane", Namespace: "weft-system"}}
	if err := env.client.Delete(t.Context(), cp, client.PropagationPolicy(metav1.DeletePropagationForeground)); err != nil {
		t.Fatalf("deleting the control plane: %v", err)
	}
	waitFor(t, 2*time.Minute, "the control plane's pods to be gone", func() (bool, string) {
		pods, err := env.kube.CoreV1().Pods("weft-system").List(t.Context(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=weft,app.kubernetes.io/component=controlplane"})
		if err != nil {
			return false, err.Error()
		}
		return len(pods.Items) == 0, fmt.Sprintf("%d pods left", len(pods.Items))
	})

	gone := time.Now()
	checks, failed := 0, []string{}
	for time.Since(gone) < outage {
		checks++
		if ok, msg := verdicts(); !ok {
			failed = append(failed, fmt.Sprintf("%v: %s", time.Since(gone).Round(time.Second), msg))
		}
		time.Sleep(3 * time.Second)
	}
	if len(failed) > 0 {
		t.Errorf("%d of %d checks during the outage went wrong:\n%s", len(failed), checks, strings.Join(failed, "\n"))
	}
	for _, app := range []string{"server", "allowed", "denied"} {
		if !podsReady(t, ns, "app="+app) {
			t.Errorf("the %s pod stopped being Ready without the control plane", app)
		}
	}

	if err := installWeft(t.Context(), env.cluster.Kubeconfig()); err != nil {
		t.Fatalf("bringing the control plane back: %v", err)
	}
	appDeployment(t, ns, "after", "after", 1)
	pods, err := env.kube.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "app=after"})
	if err != nil || len(pods.Items) != 1 {
		t.Fatalf("the new pod: %v", err)
	}
	if !slices.ContainsFunc(pods.Items[0].Spec.InitContainers, func(c corev1.Container) bool { return c.Name == "weft-proxy" }) {
		t.Errorf("a pod created after the control plane came back was not injected")
	}
	waitFor(t, time.Minute, "the policy's verdicts after the outage", verdicts)
}

// relayVia returns a function that has the first pod matching selector
// GET a URL (weft-e2e-app's /relay, reached at the pod's IP from the
// node) and reports the status it got: 0 when the relay itself failed.
func relayVia(t *testing.T, ns, selector string) func(target string) int {
	t.Helper()
	pods, err := env.kube.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: selector})
	if err != nil || len(pods.Items) == 0 {
		t.Fatalf("no pod %s in %s: %v", selector, ns, err)
	}
	ip := pods.Items[0].Status.PodIP
	c := http.Client{Timeout: 10 * time.Second}
	return func(target string) int {
		resp, err := c.Get(fmt.Sprintf("http://%s:8080/relay?url=%s", ip, url.QueryEscape(target)))
		if err != nil {
			t.Logf("relay through %s: %v", ip, err)
			return 0
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}
}

// podsReady reports whether every pod matching selector is Ready.
func podsReady(t *testing.T, ns, selector string) bool {
	t.Helper()
	pods, err := env.kube.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: selector})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	if len(pods.Items) == 0 {
		return false
	}
	for _, p := range pods.Items {
		if !slices.ContainsFunc(p.Status.Conditions, func(c corev1.PodCondition) bool {
			return c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue
		}) {
			return false
		}
	}
	return true
}
