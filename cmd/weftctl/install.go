package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/weftmesh/weft/install/helm"
)

// installFlags are weftctl install's flags.
type installFlags struct {
	kube        kubeFlags
	dryRun      bool
	valueFiles  []string
	sets        []string
	setStrings  []string
	wait        bool
	timeout     time.Duration
	releaseName string
}

func newInstallCmd(s streams) *cobra.Command {
	var f installFlags
	cmd := &cobra.Command{
		Use:   "install",
		Short: "Install or upgrade Weft in the cluster (or print its YAML with --dry-run)",
		Long: `Install renders Weft's embedded Helm chart and applies it to the cluster
with server-side apply (field manager weftctl): the namespace weft-system
and the CRDs first (waiting until they are served), then RBAC, the mesh
defaults, the control plane, its webhook configuration and the
GatewayClass (when the cluster serves the Gateway API), one line per
object. Run again, it upgrades: objects the new render no longer has
(e.g. the CNI DaemonSet after --set cni.enabled=false) are deleted.

--dry-run prints the YAML instead, for a cluster that serves the Gateway
API (install/weft.yaml is this output); it needs no cluster.

Values are the chart's (install/helm/weft/values.yaml): -f FILE and
--set key=value as helm takes them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.timeout <= 0 {
				return usageErrorf("--timeout %s: must be positive", f.timeout)
			}
			return runInstall(cmd.Context(), s, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.kube.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
	fl.StringVar(&f.kube.context, "context", "", "kubeconfig context (default: the current one)")
	fl.BoolVar(&f.dryRun, "dry-run", false, "print the YAML instead of applying it (no cluster needed)")
	fl.StringArrayVarP(&f.valueFiles, "values", "f", nil, "values file (YAML) over the chart's values.yaml; repeatable")
	fl.StringArrayVar(&f.sets, "set", nil, "a value: key=value, a.b=c, several comma-separated; repeatable, after -f (a value that looks like a number or boolean becomes one)")
	fl.StringArrayVar(&f.setStrings, "set-string", nil, "as --set, but the value stays a string (an image tag such as 3547958); after --set")
	fl.BoolVar(&f.wait, "wait", true, "wait until the control plane Deployment is available")
	fl.DurationVar(&f.timeout, "timeout", 5*time.Minute, "how long to wait for the CRDs and the control plane")
	fl.StringVar(&f.releaseName, "release-name", helm.ReleaseName, "release name (app.kubernetes.io/instance)")
	return cmd
}

// installValues are weftctl's values under the user's: it creates the
// namespace itself (helm install --create-namespace would).
func installValues() map[string]any {
	return map[string]any{"namespace": map[string]any{"create": true}}
}

// dryRunAPIVersions are what a dry run assumes the cluster serves besides
// the built-in APIs: the Gateway API, a documented prerequisite.
func dryRunAPIVersions() []string {
	return []string{"gateway.networking.k8s.io/v1", "gateway.networking.k8s.io/v1/GatewayClass"}
}

func runInstall(ctx context.Context, s streams, f installFlags) error {
	values, err := helm.ParseValues(installValues(), helm.ValueFlags{Files: f.valueFiles, Sets: f.sets, SetStrings: f.setStrings})
	if err != nil {
		return &usageError{err}
	}
	opts := helm.Options{ReleaseName: f.releaseName, Values: values}
	if f.dryRun {
		opts.APIVersions = dryRunAPIVersions()
		objs, err := helm.Render(opts)
		if err != nil {
			return err
		}
		_, err = s.out.Write(helm.Manifest(objs))
		return err
	}

	cfg, _, err := f.kube.restConfig()
	if err != nil {
		return err
	}
	c, err := newKubeApplier(cfg)
	if err != nil {
		return err
	}
	opts.APIVersions, opts.KubeVersion, err = c.capabilities()
	if err != nil {
		return err
	}
	prev, err := c.revision(ctx, f.releaseName)
	if err != nil {
		return err
	}
	opts.Upgrade = prev > 0
	objs, err := helm.Render(opts)
	if err != nil {
		return err
	}
	revision := prev + 1
	verb := "Installing"
	if opts.Upgrade {
		verb = "Upgrading"
	}
	fmt.Fprintf(s.out, "%s Weft (release %s, revision %d) into %s on Kubernetes %s\n", verb, f.releaseName, revision, helm.Namespace, opts.KubeVersion)
	for _, o := range objs {
		ann := o.GetAnnotations()
		if ann == nil {
			ann = map[string]string{}
		}
		ann[helm.AnnotationRevision] = strconv.Itoa(revision)
		o.SetAnnotations(ann)
	}

	// The namespace and the CRDs first, served before anything uses them.
	split := 0
	for split < len(objs) && isFoundation(objs[split]) {
		split++
	}
	for _, o := range objs[:split] {
		if err := c.apply(ctx, s, o); err != nil {
			return err
		}
	}
	waitCtx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	for _, o := range objs[:split] {
		if o.GetKind() == "CustomResourceDefinition" {
			if err := c.waitEstablished(waitCtx, o.GetName()); err != nil {
				return err
			}
		}
	}
	c.mapper.Reset() // the new CRDs' kinds
	for _, o := range objs[split:] {
		if err := c.apply(ctx, s, o); err != nil {
			return err
		}
	}
	if err := c.prune(ctx, s, f.releaseName, objs); err != nil {
		return err
	}
	if f.wait {
		if err := waitAvailable(ctx, s, c, f.timeout); err != nil {
			return err
		}
	}
	fmt.Fprintf(s.out, "Weft is installed: run \"weftctl check\" to see it work.\n")
	return nil
}

// isFoundation reports whether o must exist before the rest: the
// namespace and the CRDs.
func isFoundation(o helm.Object) bool {
	k := o.GroupVersionKind().GroupKind()
	return k.Kind == "Namespace" && k.Group == "" || k.Kind == "CustomResourceDefinition" && k.Group == "apiextensions.k8s.io"
}

// waitAvailable waits until the control plane Deployment has all its
// replicas updated and available.
func waitAvailable(ctx context.Context, s streams, c *kubeApplier, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	deploy := c.typed.AppsV1().Deployments(helm.Namespace)
	fmt.Fprintf(s.out, "… waiting for Deployment %s/weft-controlplane to be available\n", helm.Namespace)
	var (
		last    *appsv1.Deployment
		lastErr error
	)
	err := wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
		d, err := deploy.Get(ctx, "weft-controlplane", metav1.GetOptions{})
		if err != nil {
			lastErr = err
			return false, nil
		}
		last = d
		want := int32(1)
		if d.Spec.Replicas != nil {
			want = *d.Spec.Replicas
		}
		return d.Status.ObservedGeneration >= d.Generation && d.Status.UpdatedReplicas == want && d.Status.AvailableReplicas == want, nil
	})
	if err != nil {
		state := fmt.Sprint(lastErr)
		if last != nil {
			state = fmt.Sprintf("%d of %d replicas available", last.Status.AvailableReplicas, last.Status.Replicas)
		}
		fmt.Fprintf(s.out, "✖ Deployment %s/weft-controlplane: %s\n", helm.Namespace, state)
		return fmt.Errorf("control plane not available after %s (%s): see kubectl -n %s describe deployment weft-controlplane", timeout, state, helm.Namespace)
	}
	fmt.Fprintf(s.out, "✔ Deployment %s/weft-controlplane is available (%d/%d)\n", helm.Namespace, last.Status.AvailableReplicas, last.Status.AvailableReplicas)
	return nil
}

// revision is the revision of the installed release: the highest that
// its objects carry, so that a control plane Deployment deleted by hand
// does not make the next install a first one. 0 when none is installed;
// 1 when it was installed without weftctl (kubectl apply, helm).
func (c *kubeApplier) revision(ctx context.Context, release string) (int, error) {
	have, err := c.labelled(ctx, release)
	if err != nil {
		return 0, fmt.Errorf("read the installed release: %w", err)
	}
	rev := 0
	for _, o := range have {
		n, err := strconv.Atoi(o.GetAnnotations()[helm.AnnotationRevision])
		if err != nil {
			n = 1
		}
		rev = max(rev, n)
	}
	return rev, nil
}

// apply server-side applies o and prints what happened to it.
func (c *kubeApplier) apply(ctx context.Context, s streams, o helm.Object) error {
	ri, err := c.resource(o.GroupVersionKind(), o.GetNamespace())
	if err != nil {
		return err
	}
	before, err := ri.Get(ctx, o.GetName(), metav1.GetOptions{})
	existed := err == nil
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("read %s: %w", describe(o), err)
	}
	data, err := json.Marshal(o.Object)
	if err != nil {
		return err
	}
	force := true
	after, err := ri.Patch(ctx, o.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{FieldManager: fieldManager, Force: &force, FieldValidation: "Strict"})
	if err != nil {
		fmt.Fprintf(s.out, "✖ %s\n", describe(o))
		return fmt.Errorf("apply %s (from %s): %w", describe(o), o.Source, err)
	}
	what := "created"
	switch {
	case existed && before.GetResourceVersion() == after.GetResourceVersion():
		what = "unchanged"
	case existed:
		what = "configured"
	}
	fmt.Fprintf(s.out, "✔ %s %s\n", what, describe(o))
	return nil
}

// errNotEstablished is a CRD the API server does not serve in time.
var errNotEstablished = errors.New("CRD not established")

// waitEstablished waits until the API server serves the CRD called name.
func (c *kubeApplier) waitEstablished(ctx context.Context, name string) error {
	var reason string
	err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		crd, err := c.crds.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			reason = err.Error()
			return false, nil
		}
		conds, _, _ := unstructuredConditions(crd.Object)
		for _, cond := range conds {
			if cond["type"] == "Established" {
				reason, _ = cond["message"].(string)
				return cond["status"] == "True", nil
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("%w: %s: %s", errNotEstablished, name, reason)
	}
	return nil
}
