//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// appImage is the test app (integration/e2e/apps), imported, never pulled.
const appImage = "weft.dev/e2e/app:v1"

// applyYAML server-side applies every object of a multi-document YAML.
func applyYAML(ctx context.Context, data []byte) error {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		var u unstructured.Unstructured
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if len(u.Object) == 0 {
			continue
		}
		//nolint:staticcheck // client.Apply with unstructured objects is what the replacement lacks
		if err := env.client.Patch(ctx, &u, client.Apply, client.FieldOwner("weft-e2e"), client.ForceOwnership); err != nil {
			return fmt.Errorf("%s %s: %w", u.GetKind(), u.GetName(), err)
		}
	}
}

// namespace creates a namespace for one test, meshed or not, and deletes
// it when the test ends.
func namespace(t *testing.T, name string, meshed bool) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if meshed {
		ns.Labels = map[string]string{"weft.dev/inject": "enabled"}
	}
	if err := env.client.Create(t.Context(), ns); err != nil {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = env.client.Delete(ctx, ns)
	})
}

// appDeployment is a Deployment of the test app serving HTTP on 8080,
// and its ClusterIP Service on port 80.
func appDeployment(t *testing.T, ns, name, serviceAccount string, replicas int32, place ...placement) {
	t.Helper()
	labels := map[string]string{"app": name}
	serviceAccountFor(t, ns, serviceAccount)
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					ServiceAccountName: serviceAccount,
					Containers: []corev1.Container{{
						Name:            "app",
						Image:           appImage,
						ImagePullPolicy: corev1.PullNever,
						Args:            []string{"serve", "--http", ":8080", "--name", name},
						Ports:           []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
						ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
							Path: "/healthz", Port: intstr.FromInt32(8080),
						}}, PeriodSeconds: 1},
					}},
				},
			},
		},
	}
	for _, p := range place {
		p(&d.Spec.Template.Spec)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.ServiceSpec{
			Selector: labels,
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), AppProtocol: ptr.To("http")}},
		},
	}
	for _, o := range []client.Object{d, svc} {
		if err := env.client.Create(t.Context(), o); err != nil {
			t.Fatalf("creating %s/%s: %v", ns, o.GetName(), err)
		}
	}
	waitFor(t, 3*time.Minute, fmt.Sprintf("deployment %s/%s available", ns, name), func() (bool, string) {
		var got appsv1.Deployment
		if err := env.client.Get(t.Context(), client.ObjectKeyFromObject(d), &got); err != nil {
			return false, err.Error()
		}
		return got.Status.AvailableReplicas == replicas, fmt.Sprintf("%d/%d available", got.Status.AvailableReplicas, replicas)
	})
}

// runJob runs the test app once with args as a Job in ns (as the service
// account) and returns its logs; the Job must complete.
func runJob(t *testing.T, ns, name, serviceAccount string, args ...string) string {
	t.Helper()
	logs, ok := runJobResult(t, ns, name, serviceAccount, args...)
	if !ok {
		t.Fatalf("job %s/%s failed; its logs:\n%s", ns, name, logs)
	}
	return logs
}

// runJobResult is runJob for a Job that may fail: its logs, and whether
// it succeeded.
func runJobResult(t *testing.T, ns, name, serviceAccount string, args ...string) (string, bool) {
	t.Helper()
	return placedJob(t, ns, name, serviceAccount, nil, args...)
}

// placedJob is runJobResult for a Job whose pod place may move (nil: the
// scheduler's choice, which the worker's taint keeps on the first node).
func placedJob(t *testing.T, ns, name, serviceAccount string, place placement, args ...string) (string, bool) {
	t.Helper()
	serviceAccountFor(t, ns, serviceAccount)
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: batchv1.JobSpec{
			BackoffLimit: ptr.To[int32](0),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"job": name}},
				Spec: corev1.PodSpec{
					ServiceAccountName: serviceAccount,
					RestartPolicy:      corev1.RestartPolicyNever,
					Containers: []corev1.Container{{
						Name: "app", Image: appImage, ImagePullPolicy: corev1.PullNever, Args: args,
					}},
				},
			},
		},
	}
	if place != nil {
		place(&job.Spec.Template.Spec)
	}
	if err := env.client.Create(t.Context(), job); err != nil {
		t.Fatalf("creating job %s/%s: %v", ns, name, err)
	}
	var done batchv1.Job
	waitFor(t, 3*time.Minute, fmt.Sprintf("job %s/%s to finish", ns, name), func() (bool, string) {
		if err := env.client.Get(t.Context(), client.ObjectKeyFromObject(job), &done); err != nil {
			return false, err.Error()
		}
		return done.Status.Succeeded+done.Status.Failed > 0, fmt.Sprintf("active %d", done.Status.Active)
	})
	return podLogs(t, ns, "job="+name, "app"), done.Status.Succeeded > 0
}

// podLogs returns the logs of container in the first pod matching the
// label selector.
func podLogs(t *testing.T, ns, selector, container string) string {
	t.Helper()
	pods, err := env.kube.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: selector})
	if err != nil || len(pods.Items) == 0 {
		t.Fatalf("no pod %s in %s: %v", selector, ns, err)
	}
	raw, err := env.kube.CoreV1().Pods(ns).GetLogs(pods.Items[0].Name, &corev1.PodLogOptions{Container: container}).DoRaw(t.Context())
	if err != nil {
		t.Fatalf("logs of %s: %v", pods.Items[0].Name, err)
	}
	return string(raw)
}

// waitFor polls cond until it holds, failing the test after timeout with
// cond's last word.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		ok, msg := cond()
		if ok {
			return
		}
		last = msg
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("timed out after %v waiting for %s: %s", timeout, what, last)
}

func key(ns, name string) client.ObjectKey { return client.ObjectKey{Namespace: ns, Name: name} }

// serviceAccountFor creates the service account name in ns unless it is
// "default" or exists.
func serviceAccountFor(t *testing.T, ns, name string) {
	t.Helper()
	if name == "default" {
		return
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	if err := env.client.Create(t.Context(), sa); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("creating service account %s/%s: %v", ns, name, err)
	}
}
