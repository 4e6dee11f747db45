package cluster

import (
	"bytes"
	"context"
	_ "embed" // dns.yaml
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Cluster DNS (docs/e2e.md, "Cluster DNS"): CoreDNS behind kube-dns, the
// resolver the kubelet writes into every ClusterFirst pod's resolv.conf.
const (
	// DNSServiceIP is kube-dns's ClusterIP and the kubelet's clusterDNS.
	DNSServiceIP = "198.19.0.10"
	// ClusterDomain is the kubelet's clusterDomain and CoreDNS's zone.
	ClusterDomain = "cluster.local"
	// CoreDNSImage is the image dns.yaml runs; Up imports it from
	// <ImagesDir>/coredns.tar (hack/e2eimages).
	CoreDNSImage = "weft.dev/e2e/coredns:v1.15.0"
	// corednsTarball is CoreDNSImage's tarball name under Config.ImagesDir.
	corednsTarball = "coredns.tar"
	// fieldManager owns what the harness applies.
	fieldManager = "weft-e2e"
)

// dnsManifest is kubeadm's kube-dns setup, trimmed for the e2e cluster.
//
//go:embed dns.yaml
var dnsManifest []byte

// applyDNS applies dns.yaml server-side. It needs only the API server:
// the pod waits for the node (startNode imports its image before the
// kubelet starts).
func (c *Cluster) applyDNS(ctx context.Context) error {
	objs, err := manifestObjects(dnsManifest)
	if err != nil {
		return fmt.Errorf("dns.yaml: %w", err)
	}
	cl, err := client.New(c.RESTConfig(), client.Options{})
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	for _, u := range objs {
		if err := cl.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(fieldManager), client.ForceOwnership); err != nil {
			return fmt.Errorf("applying %s %s: %w", u.GetKind(), u.GetName(), err)
		}
	}
	return nil
}

// waitDNS waits until kube-dns has a Ready endpoint: from then on, pods
// resolve Service names. CoreDNS is Ready once it has listed the
// Services, through the API server's ClusterIP, so after kube-proxy.
func (c *Cluster) waitDNS(ctx context.Context) error {
	started := time.Now()
	cs, err := kubernetes.NewForConfig(c.rest)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	wait, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	kubelet, err := c.process("kubelet")
	if err != nil {
		return err
	}
	// The kubelet runs the pod: if it dies, waiting is over.
	if err := kubelet.waitFor(wait, "kube-dns Ready", func(ctx context.Context) error {
		return dnsReady(ctx, cs)
	}); err != nil {
		return err
	}
	c.log.Info("ready", "component", "coredns", "service", DNSServiceIP, "waited", time.Since(started).Round(time.Millisecond))
	return nil
}

// process is the started process named name.
func (c *Cluster) process(name string) (*process, error) {
	for _, p := range c.procs {
		if p.name == name {
			return p, nil
		}
	}
	return nil, fmt.Errorf("%s has not been started", name)
}

// dnsReady says whether kube-dns has a Ready endpoint, and if not, what
// CoreDNS's pod is doing.
func dnsReady(ctx context.Context, cs kubernetes.Interface) error {
	slices, err := cs.DiscoveryV1().EndpointSlices(metav1.NamespaceSystem).List(ctx, metav1.ListOptions{
		LabelSelector: discoveryv1.LabelServiceName + "=kube-dns",
	})
	if err != nil {
		return err
	}
	for _, s := range slices.Items {
		for _, e := range s.Endpoints {
			if e.Conditions.Ready != nil && *e.Conditions.Ready {
				return nil
			}
		}
	}
	pods, err := cs.CoreV1().Pods(metav1.NamespaceSystem).List(ctx, metav1.ListOptions{LabelSelector: "k8s-app=kube-dns"})
	if err != nil {
		return err
	}
	if len(pods.Items) == 0 {
		return errors.New("kube-dns has no Ready endpoint and no CoreDNS pod exists yet")
	}
	var states []string
	for _, p := range pods.Items {
		states = append(states, podState(&p))
	}
	return fmt.Errorf("kube-dns has no Ready endpoint: %s", strings.Join(states, "; "))
}

// podState is a pod's phase and its containers' states, for errors.
func podState(p *corev1.Pod) string {
	s := fmt.Sprintf("pod %s %s", p.Name, p.Status.Phase)
	for _, cs := range p.Status.ContainerStatuses {
		switch st := cs.State; {
		case st.Waiting != nil:
			s += fmt.Sprintf(", %s waiting (%s: %s)", cs.Name, st.Waiting.Reason, st.Waiting.Message)
		case st.Terminated != nil:
			s += fmt.Sprintf(", %s terminated (%s, exit %d)", cs.Name, st.Terminated.Reason, st.Terminated.ExitCode)
		default:
			s += fmt.Sprintf(", %s running, ready=%t, restarts %d", cs.Name, cs.Ready, cs.RestartCount)
		}
	}
	for _, cond := range p.Status.Conditions {
		if cond.Type == corev1.PodScheduled && cond.Status != corev1.ConditionTrue {
			s += ", unschedulable: " + cond.Message
		}
	}
	return s
}

// manifestObjects decodes a multi-document YAML into its objects.
func manifestObjects(data []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, err
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
}
