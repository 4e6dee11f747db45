package cni_test

import (
	"bytes"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/weftmesh/weft/install/helm"
)

// The Helm chart's CNI objects (install/helm/weft/templates/cni.yaml,
// rendered with cni.enabled) are accepted by a real API server, and the
// DaemonSet runs "weft-cni install" with flags the binary has.
func TestInstallManifest(t *testing.T) {
	env := shared.Env(t)
	objs, err := helm.Render(helm.Options{Values: map[string]any{"cni": map[string]any{"enabled": true}}})
	if err != nil {
		t.Fatal(err)
	}
	var data []byte
	for _, o := range objs {
		if o.Source == "weft/templates/cni.yaml" {
			data = append(append(data, o.YAML()...), "---\n"...)
		}
	}
	hc, err := rest.HTTPClientFor(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hc.CloseIdleConnections)
	dyn, err := dynamic.NewForConfigAndClient(env.Config, hc)
	if err != nil {
		t.Fatal(err)
	}
	nsGVR := corev1.SchemeGroupVersion.WithResource("namespaces")
	ns := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "weft-system"}}}
	if _, err := dyn.Resource(nsGVR).Create(t.Context(), ns, metav1.CreateOptions{}); err != nil && !strings.Contains(err.Error(), "already exists") {
		t.Fatal(err)
	}
	resources := map[string]string{
		"ServiceAccount": "serviceaccounts", "ClusterRole": "clusterroles",
		"ClusterRoleBinding": "clusterrolebindings", "DaemonSet": "daemonsets",
	}
	var ds *appsv1.DaemonSet
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		var obj unstructured.Unstructured
		if err := dec.Decode(&obj.Object); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		gvk := obj.GroupVersionKind()
		gvr := gvk.GroupVersion().WithResource(resources[gvk.Kind])
		var ri dynamic.ResourceInterface = dyn.Resource(gvr)
		if obj.GetNamespace() != "" {
			ri = dyn.Resource(gvr).Namespace(obj.GetNamespace())
		}
		if _, err := ri.Create(t.Context(), &obj, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
			t.Errorf("the API server refuses %s %s of the chart's cni.yaml: %v", gvk.Kind, obj.GetName(), err)
		}
		if gvk.Kind == "DaemonSet" {
			ds = &appsv1.DaemonSet{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, ds); err != nil {
				t.Fatal(err)
			}
		}
	}
	if ds == nil {
		t.Fatal("the chart's cni.yaml has no DaemonSet")
	}
	spec := ds.Spec.Template.Spec
	if spec.PriorityClassName != "system-node-critical" || !slices.ContainsFunc(spec.Tolerations, func(t corev1.Toleration) bool {
		return t.Operator == corev1.TolerationOpExists && t.Key == ""
	}) {
		t.Errorf("DaemonSet: priorityClassName %q, tolerations %v; want system-node-critical, tolerating every taint", spec.PriorityClassName, spec.Tolerations)
	}
	c := spec.Containers[0]
	if !slices.Equal(c.Command, []string{"weft-cni", "install"}) {
		t.Fatalf("DaemonSet command %q, want weft-cni install", c.Command)
	}

	// The binary knows the manifest's flags: parsing stops at -h with the
	// usage, not at an unknown flag.
	args := append(append([]string{"install"}, c.Args...), "-h")
	out, _ := exec.Command(filepath.Join(plugin.Dir(t), "weft-cni"), args...).CombinedOutput()
	if !strings.Contains(string(out), "Usage of weft-cni install") || strings.Contains(string(out), "not defined") {
		t.Errorf("weft-cni %s:\n%s\nwant the usage, every flag known", strings.Join(args, " "), out)
	}
}
