package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/weftmesh/weft/install/helm"
)

// Objects the control plane creates at run time (not in the chart), which
// uninstall deletes too.
const (
	caSecretName     = "weft-ca"                  // controlplane/ca: the CA's root key
	statusLeaseName  = "weft-controlplane-status" // controlplane/status
	caRootConfigMap  = "weft-ca-root"             // controlplane/rootpublish, in every labelled namespace
	rootPublishLabel = "app.kubernetes.io/managed-by=weft-controlplane"
)

// uninstallFlags are weftctl uninstall's flags.
type uninstallFlags struct {
	kube        kubeFlags
	keepCRDs    bool
	keepCA      bool
	wait        bool
	timeout     time.Duration
	releaseName string
}

func newUninstallCmd(s streams) *cobra.Command {
	var f uninstallFlags
	cmd := &cobra.Command{
		Use:   "uninstall",
		Short: "Remove Weft from the cluster",
		Long: `Uninstall deletes everything weftctl install (or install/weft.yaml, or
the Helm chart) created, whatever values it was installed with — the
webhook configuration first, so that no pod creation fails on a webhook
without a server — and what the control plane created at run time: the
ConfigMaps weft-ca-root in every namespace, the Lease, and the CA's Secret
(the mesh's root key: with --keep-ca, the Secret and the namespace stay,
and a reinstall keeps the same root). The CRDs go last, and with them
every policy in the cluster, unless --keep-crds. Injected pods keep their
sidecars until they are re-created.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.timeout <= 0 {
				return usageErrorf("--timeout %s: must be positive", f.timeout)
			}
			return runUninstall(cmd.Context(), s, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.kube.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
	fl.StringVar(&f.kube.context, "context", "", "kubeconfig context (default: the current one)")
	fl.BoolVar(&f.keepCRDs, "keep-crds", false, "keep the CRDs, and so every Weft policy in the cluster")
	fl.BoolVar(&f.keepCA, "keep-ca", false, "keep the CA's Secret (and so the namespace "+helm.Namespace+")")
	fl.BoolVar(&f.wait, "wait", true, "wait until every deleted object is gone")
	fl.DurationVar(&f.timeout, "timeout", 5*time.Minute, "how long to wait")
	fl.StringVar(&f.releaseName, "release-name", helm.ReleaseName, "release name (app.kubernetes.io/instance)")
	return cmd
}

func runUninstall(ctx context.Context, s streams, f uninstallFlags) error {
	cfg, _, err := f.kube.restConfig()
	if err != nil {
		return err
	}
	c, err := newKubeApplier(cfg)
	if err != nil {
		return err
	}
	plan, err := c.uninstallPlan(ctx, f)
	if err != nil {
		return err
	}
	fmt.Fprintf(s.out, "Uninstalling Weft (release %s) from %s\n", f.releaseName, helm.Namespace)
	var deleted []*unstructured.Unstructured
	for _, o := range plan {
		ri, err := c.resource(o.GroupVersionKind(), o.GetNamespace())
		if isGone(err) {
			continue // a kind the cluster does not serve (the Gateway API's)
		}
		if err != nil {
			return err
		}
		cur, err := ri.Get(ctx, o.GetName(), metav1.GetOptions{})
		if isGone(err) || err == nil && cur.GetDeletionTimestamp() != nil {
			continue // not installed (another option), or already being deleted
		}
		if err := c.delete(ctx, o); err != nil {
			fmt.Fprintf(s.out, "✖ %s\n", describe(o))
			return err
		}
		fmt.Fprintf(s.out, "✔ deleted %s\n", describe(o))
		deleted = append(deleted, o)
	}
	if f.wait {
		waitCtx, cancel := context.WithTimeout(ctx, f.timeout)
		defer cancel()
		for _, o := range deleted {
			// The namespace controller finalizes the namespace after
			// its contents; that is not ours to wait for.
			if o.GetKind() == "Namespace" {
				continue
			}
			if err := c.waitGone(waitCtx, o); err != nil {
				return err
			}
		}
	}
	fmt.Fprintln(s.out, "Weft is uninstalled.")
	return nil
}

// uninstallPlan is what uninstall deletes, in order: the chart's objects
// rendered with every option on, so that their names are known even for
// an install whose labels were lost, and every object carrying the
// release's labels, in reverse install order (the webhook configuration
// first); the control plane's run-time objects; the namespace; the CRDs.
func (c *kubeApplier) uninstallPlan(ctx context.Context, f uninstallFlags) ([]*unstructured.Unstructured, error) {
	all, err := helm.Render(helm.Options{
		ReleaseName: f.releaseName,
		Values: map[string]any{
			"namespace":    map[string]any{"create": true},
			"cni":          map[string]any{"enabled": true},
			"gatewayClass": map[string]any{"enabled": true},
		},
	})
	if err != nil {
		return nil, err
	}
	labelled, err := c.labelled(ctx, f.releaseName)
	if err != nil {
		return nil, err
	}
	var objs []*unstructured.Unstructured
	for _, o := range all {
		objs = append(objs, o.Unstructured)
	}
	objs = append(objs, labelled...)

	var plan, namespaces, crds []*unstructured.Unstructured
	seen := map[string]bool{}
	for i := len(objs) - 1; i >= 0; i-- {
		o := objs[i]
		if seen[objectKey(o)] {
			continue
		}
		seen[objectKey(o)] = true
		switch o.GetKind() {
		case "Namespace":
			if !f.keepCA {
				namespaces = append(namespaces, o)
			}
		case "CustomResourceDefinition":
			if !f.keepCRDs {
				crds = append(crds, o)
			}
		default:
			plan = append(plan, o)
		}
	}
	// The root ConfigMaps the control plane published: by name and by
	// the label it gives them, in every namespace.
	roots, err := c.typed.CoreV1().ConfigMaps(metav1.NamespaceAll).List(ctx, metav1.ListOptions{
		FieldSelector: "metadata.name=" + caRootConfigMap,
		LabelSelector: rootPublishLabel,
	})
	if err != nil {
		return nil, fmt.Errorf("list the CA root ConfigMaps: %w", err)
	}
	for _, cm := range roots.Items {
		plan = append(plan, object("v1", "ConfigMap", cm.Namespace, cm.Name))
	}
	plan = append(plan, object("coordination.k8s.io/v1", "Lease", helm.Namespace, statusLeaseName))
	if !f.keepCA {
		plan = append(plan, object("v1", "Secret", helm.Namespace, caSecretName))
	}
	plan = append(plan, namespaces...)
	return append(plan, crds...), nil
}

// object is a reference to an object, for deleting it.
func object(apiVersion, kind, namespace, name string) *unstructured.Unstructured {
	o := &unstructured.Unstructured{}
	o.SetAPIVersion(apiVersion)
	o.SetKind(kind)
	o.SetNamespace(namespace)
	o.SetName(name)
	return o
}

// isGone reports whether err says the object, or its kind, does not exist.
func isGone(err error) bool {
	return apierrors.IsNotFound(err) || meta.IsNoMatchError(err)
}
