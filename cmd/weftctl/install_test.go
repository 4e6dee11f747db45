package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/weftmesh/weft/controlplane/kube/kubetest"
	"github.com/weftmesh/weft/install/helm"
)

// weftctl runs weftctl in process and returns its exit status and output.
func weftctl(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	code := run(t.Context(), args, strings.NewReader(""), &out, &out)
	return code, out.String()
}

// TestInstallDryRunIsCommitted: install/weft.yaml is what `weftctl install
// --dry-run` prints (make generate writes it; make verify fails when it
// is stale, and so does this test).
func TestInstallDryRunIsCommitted(t *testing.T) {
	code, out := weftctl(t, "install", "--dry-run")
	if code != 0 {
		t.Fatalf("weftctl install --dry-run: exit %d\n%s", code, out)
	}
	committed, err := os.ReadFile(filepath.Join("..", "..", "install", "weft.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if out != string(committed) {
		t.Error("install/weft.yaml is stale: run make generate")
	}
	for _, want := range []string{"kind: Namespace", "kind: CustomResourceDefinition", "kind: Deployment", "kind: GatewayClass",
		"caBundle is left out here on purpose"} {
		if !strings.Contains(out, want) {
			t.Errorf("weftctl install --dry-run lacks %q", want)
		}
	}
}

// TestInstallSetString: --set-string keeps a value that looks like a
// number a string (an image tag made of a commit's digits).
func TestInstallSetString(t *testing.T) {
	code, out := weftctl(t, "install", "--dry-run", "--set-string", "images.tag=3547958")
	if code != 0 || !strings.Contains(out, "weft-proxy:3547958") {
		t.Fatalf("weftctl install --dry-run --set-string images.tag=3547958: exit %d; the proxy image is not tagged 3547958:\n%.2000s", code, out)
	}
}

// TestInstallBadInput: what the user sees for a command line or values
// install cannot use; no cluster is needed to refuse them.
func TestInstallBadInput(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		args     []string
		wantCode int
		want     string
	}{
		{[]string{"install", "--dry-run", "--set", "noequals"}, 2, `--set "noequals"`},
		{[]string{"install", "--dry-run", "-f", filepath.Join(dir, "missing.yaml")}, 2, "missing.yaml"},
		{[]string{"install", "--dry-run", "--set", "cni.enable=true"}, 1, "enable"},
		{[]string{"install", "--dry-run", "--set", "controlPlane.replicas=zero"}, 1, "replicas"},
		// --set reads an all-digit tag as a number, which the schema
		// refuses; the message says what to use instead.
		{[]string{"install", "--dry-run", "--set", "images.tag=3547958"}, 1, "with --set-string"},
		{[]string{"install", "--dry-run", "--set-string", "noequals"}, 2, `--set-string "noequals"`},
		{[]string{"install", "--timeout", "0s"}, 2, "--timeout 0s: must be positive"},
		{[]string{"install", "extra"}, 2, `unknown command "extra"`},
		{[]string{"uninstall", "--timeout", "-1s"}, 2, "must be positive"},
		{[]string{"install", "--kubeconfig", filepath.Join(dir, "none")}, 1, "kubeconfig"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out := weftctl(t, tt.args...)
			if code != tt.wantCode || !strings.Contains(out, tt.want) {
				t.Errorf("exit %d, want %d, with %q in the output:\n%s", code, tt.wantCode, tt.want, out)
			}
		})
	}
}

// TestInstallUpgradeUninstall installs Weft into a real API server with
// the CNI DaemonSet, upgrades it without (which prunes the DaemonSet and
// its RBAC), and uninstalls it, leaving nothing behind. The API server
// runs no controllers, so Deployments never become available: --wait is
// shown to fail, then turned off.
func TestInstallUpgradeUninstall(t *testing.T) {
	env := kubetest.StartT(t, kubetest.Options{})
	kubeconfig := writeKubeconfig(t, env.Config, "") // check_test.go
	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	k := []string{"--kubeconfig", kubeconfig}

	// 1. Install with the CNI plugin.
	code, out := weftctl(t, append([]string{"install", "--wait=false", "--set", "cni.enabled=true"}, k...)...)
	if code != 0 {
		t.Fatalf("install: exit %d\n%s", code, out)
	}
	for _, want := range []string{
		"Installing Weft (release weft, revision 1) into weft-system",
		"✔ created Namespace weft-system",
		"CustomResourceDefinition authorizationpolicies.mesh.weft.dev", // configured: kubetest installed it
		"✔ created Deployment weft-system/weft-controlplane",
		"✔ created DaemonSet weft-system/weft-cni",
		"✔ created MutatingWebhookConfiguration weft-sidecar-injector",
		"✔ created GatewayClass weft", // the API server serves the Gateway API
	} {
		if !strings.Contains(out, want) {
			t.Errorf("install output lacks %q:\n%s", want, out)
		}
	}
	cm, err := cs.CoreV1().ConfigMaps(helm.Namespace).Get(ctx, "weft-injector", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cm.Data["config.yaml"], "cni: true") {
		t.Errorf("with cni.enabled the injector's config.yaml says:\n%s", cm.Data["config.yaml"])
	}
	if _, err := cs.AppsV1().DaemonSets(helm.Namespace).Get(ctx, "weft-cni", metav1.GetOptions{}); err != nil {
		t.Fatalf("DaemonSet weft-cni: %v", err)
	}

	// The control plane writes the webhook's caBundle (a JSON patch, as
	// controlplane/webhook does); no later install may erase it.
	bundle := []byte(`[{"op":"add","path":"/webhooks/0/clientConfig/caBundle","value":"Y2FCdW5kbGU="}]`)
	if _, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Patch(ctx, "weft-sidecar-injector", types.JSONPatchType, bundle,
		metav1.PatchOptions{FieldManager: "weft-controlplane"}); err != nil {
		t.Fatal(err)
	}

	// 2. The same again, waiting: the Deployment never becomes available
	// here, and install says so.
	code, out = weftctl(t, append([]string{"install", "--set", "cni.enabled=true", "--timeout", "2s"}, k...)...)
	if code != 1 || !strings.Contains(out, "✖ Deployment weft-system/weft-controlplane: 0 of 0 replicas available") ||
		!strings.Contains(out, "control plane not available after 2s") {
		t.Errorf("install --timeout 2s on a cluster without controllers: exit %d, want 1 and the Deployment's ✖ line:\n%s", code, out)
	}
	if !strings.Contains(out, "Upgrading Weft (release weft, revision 2)") || !strings.Contains(out, "✔ configured Deployment weft-system/weft-controlplane") {
		t.Errorf("second install does not say it upgrades:\n%s", out)
	}

	// 3. Upgrade without the CNI plugin: its objects are pruned.
	code, out = weftctl(t, append([]string{"install", "--wait=false"}, k...)...)
	if code != 0 {
		t.Fatalf("upgrade: exit %d\n%s", code, out)
	}
	for _, want := range []string{"revision 3", "✔ pruned DaemonSet weft-system/weft-cni", "✔ pruned ClusterRoleBinding weft-cni", "✔ pruned ClusterRole weft-cni", "✔ pruned ServiceAccount weft-system/weft-cni"} {
		if !strings.Contains(out, want) {
			t.Errorf("upgrade output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "pruned Deployment") || strings.Contains(out, "pruned CustomResourceDefinition") {
		t.Errorf("upgrade pruned what the chart still renders:\n%s", out)
	}
	if _, err := cs.AppsV1().DaemonSets(helm.Namespace).Get(ctx, "weft-cni", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("DaemonSet weft-cni after the upgrade: %v, want NotFound", err)
	}
	if _, err := cs.RbacV1().ClusterRoles().Get(ctx, "weft-cni", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("ClusterRole weft-cni after the upgrade: %v, want NotFound", err)
	}
	mwc, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "weft-sidecar-injector", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(mwc.Webhooks[0].ClientConfig.CABundle); got != "caBundle" {
		t.Errorf("the webhook's caBundle after two upgrades is %q, want the control plane's %q", got, "caBundle")
	}
	d, err := cs.AppsV1().Deployments(helm.Namespace).Get(ctx, "weft-controlplane", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Annotations[helm.AnnotationRevision]; got != "3" {
		t.Errorf("Deployment's %s = %q, want 3", helm.AnnotationRevision, got)
	}

	// What the control plane would have created at run time, and a
	// user's ConfigMap of the same name, which must stay.
	for _, ns := range []string{"shop", "other"} {
		if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	runtime := []func() error{
		func() error {
			_, err := cs.CoreV1().Secrets(helm.Namespace).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: caSecretName}}, metav1.CreateOptions{})
			return err
		},
		func() error {
			_, err := cs.CoordinationV1().Leases(helm.Namespace).Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: statusLeaseName}}, metav1.CreateOptions{})
			return err
		},
		func() error {
			_, err := cs.CoreV1().ConfigMaps("shop").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: caRootConfigMap,
				Labels: map[string]string{"app.kubernetes.io/managed-by": "weft-controlplane"}}}, metav1.CreateOptions{})
			return err
		},
		func() error {
			_, err := cs.CoreV1().ConfigMaps("other").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: caRootConfigMap}}, metav1.CreateOptions{})
			return err
		},
	}
	for _, create := range runtime {
		if err := create(); err != nil {
			t.Fatal(err)
		}
	}

	// 4. Uninstall: nothing of Weft's is left but the namespace, which
	// only the namespace controller (not running here) finalizes. A long
	// timeout: the API server's own CRD finalizer has been seen to take
	// one to four minutes under a loaded -race run (it takes seconds
	// otherwise); if it ever runs out, kubetest logs the API server's
	// log.
	code, out = weftctl(t, append([]string{"uninstall", "--timeout", "10m"}, k...)...)
	if code != 0 {
		t.Fatalf("uninstall: exit %d\n%s", code, out)
	}
	for _, want := range []string{"✔ deleted MutatingWebhookConfiguration weft-sidecar-injector", "✔ deleted ConfigMap shop/weft-ca-root",
		"✔ deleted Secret weft-system/weft-ca", "✔ deleted Lease weft-system/weft-controlplane-status", "✔ deleted Namespace weft-system",
		"✔ deleted CustomResourceDefinition trafficpolicies.mesh.weft.dev", "Weft is uninstalled."} {
		if !strings.Contains(out, want) {
			t.Errorf("uninstall output lacks %q:\n%s", want, out)
		}
	}
	if strings.Index(out, "MutatingWebhookConfiguration") > strings.Index(out, "Deployment") {
		t.Errorf("uninstall deleted the Deployment before the webhook configuration:\n%s", out)
	}
	if strings.Index(out, "CustomResourceDefinition") < strings.Index(out, "Namespace") {
		t.Errorf("uninstall deleted the CRDs before the rest:\n%s", out)
	}
	c, err := newKubeApplier(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	left, err := c.labelled(ctx, helm.ReleaseName)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range left {
		t.Errorf("left after uninstall: %s", describe(o))
	}
	if _, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "weft-sidecar-injector", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("webhook configuration after uninstall: %v, want NotFound", err)
	}
	for _, gone := range []func() error{
		func() error {
			_, err := cs.CoreV1().Secrets(helm.Namespace).Get(ctx, caSecretName, metav1.GetOptions{})
			return err
		},
		func() error {
			_, err := cs.CoreV1().ConfigMaps("shop").Get(ctx, caRootConfigMap, metav1.GetOptions{})
			return err
		},
	} {
		if err := gone(); !apierrors.IsNotFound(err) {
			t.Errorf("a run-time object is left after uninstall: %v", err)
		}
	}
	if _, err := cs.CoreV1().ConfigMaps("other").Get(ctx, caRootConfigMap, metav1.GetOptions{}); err != nil {
		t.Errorf("uninstall deleted a ConfigMap the control plane did not create: %v", err)
	}
	ns, err := cs.CoreV1().Namespaces().Get(ctx, helm.Namespace, metav1.GetOptions{})
	if err == nil && ns.DeletionTimestamp == nil {
		t.Errorf("namespace %s is not being deleted", helm.Namespace)
	}

	// 5. Uninstalling again finds nothing and succeeds.
	if code, out := weftctl(t, append([]string{"uninstall"}, k...)...); code != 0 || strings.Contains(out, "✔ deleted Deployment") {
		t.Errorf("second uninstall: exit %d\n%s", code, out)
	}
}

// TestInstallAfterDeploymentDeleted: with the control plane Deployment
// deleted by hand, install brings it back as an upgrade of the same
// release (the revision the other objects carry), not a first install.
func TestInstallAfterDeploymentDeleted(t *testing.T) {
	env := kubetest.StartT(t, kubetest.Options{})
	kubeconfig := writeKubeconfig(t, env.Config, "")
	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	k := []string{"--kubeconfig", kubeconfig}
	if code, out := weftctl(t, append([]string{"install", "--wait=false"}, k...)...); code != 0 {
		t.Fatalf("install: exit %d\n%s", code, out)
	}
	if err := cs.AppsV1().Deployments(helm.Namespace).Delete(t.Context(), "weft-controlplane", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	code, out := weftctl(t, append([]string{"install", "--wait=false"}, k...)...)
	if code != 0 || !strings.Contains(out, "Upgrading Weft (release weft, revision 2)") || !strings.Contains(out, "✔ created Deployment weft-system/weft-controlplane") {
		t.Errorf("install after the Deployment was deleted: exit %d, want an upgrade to revision 2 that creates it:\n%s", code, out)
	}
}

// TestLingering: when uninstall gives up waiting, the user is told what
// holds the object back.
func TestLingering(t *testing.T) {
	crd := object("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", "peerauthentications.mesh.weft.dev")
	crd.SetFinalizers([]string{"customresourcecleanup.apiextensions.k8s.io"})
	crd.Object["status"] = map[string]any{"conditions": []any{
		map[string]any{"type": "Established", "status": "True"},
		map[string]any{"type": "Terminating", "status": "True", "reason": "InstanceDeletionInProgress", "message": "CustomResource deletion is in progress"},
	}}
	want := " (finalizers: customresourcecleanup.apiextensions.k8s.io; Terminating: InstanceDeletionInProgress: CustomResource deletion is in progress)"
	if got := lingering(crd); got != want {
		t.Errorf("lingering(a CRD being finalized) = %q, want %q", got, want)
	}
	if got := lingering(object("v1", "ConfigMap", "shop", "x")); got != "" {
		t.Errorf("lingering(an object with nothing to say) = %q, want empty", got)
	}
	if got := lingering(nil); got != "" {
		t.Errorf("lingering(nil) = %q, want empty (the last Get failed)", got)
	}
}
