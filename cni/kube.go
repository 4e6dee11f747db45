package cni

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// How long ADD and CHECK wait for the API server: a pod's creation waits
// on the plugin, so it must answer soon, but an API server restarting
// for a moment should not fail the pod.
const (
	getPodBudget   = 5 * time.Second
	requestTimeout = 2 * time.Second
)

// restConfig reads a kubeconfig file.
func restConfig(kubeconfig string) (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
	}
	cfg.Timeout = requestTimeout
	cfg.UserAgent = "weft-cni"
	return cfg, nil
}

// getPod reads a pod, retrying transient errors (the API server
// unreachable, overloaded or failing) for up to getPodBudget.
func getPod(ctx context.Context, kubeconfig, namespace, name string) (*corev1.Pod, error) {
	cfg, err := restConfig(kubeconfig)
	if err != nil {
		return nil, err
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
	}
	ctx, cancel := context.WithTimeout(ctx, getPodBudget)
	defer cancel()
	wait := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		pod, err := client.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			return pod, nil
		}
		if !transient(err) {
			return nil, fmt.Errorf("get pod %s/%s: %w", namespace, name, err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("get pod %s/%s: gave up after %d attempts in %s: %w", namespace, name, attempt, getPodBudget, err)
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}

// transient says whether asking again may succeed.
func transient(err error) bool {
	switch {
	case apierrors.IsNotFound(err), apierrors.IsForbidden(err), apierrors.IsUnauthorized(err),
		apierrors.IsBadRequest(err), apierrors.IsInvalid(err), apierrors.IsMethodNotSupported(err):
		return false
	}
	return true
}
