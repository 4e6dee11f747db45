package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// minKubeMinor is the oldest Kubernetes 1.x Weft supports: native sidecars
// (restartPolicy: Always init containers) are on by default from 1.29 and
// the injector relies on them.
const minKubeMinor = 30

// gatewayAPIInstall is where the Gateway API's standard-channel CRDs come
// from.
const gatewayAPIInstall = "https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.6.0/standard-install.yaml"

func (c *checker) checkVersion(context.Context) []checkResult {
	const what = "Kubernetes version"
	v, err := c.cs.Discovery().ServerVersion()
	if err != nil {
		return []checkResult{failed(what, err.Error(), "check that kubectl reaches the cluster: kubectl version")}
	}
	minor, err := strconv.Atoi(strings.TrimRight(v.Minor, "+"))
	if err != nil || v.Major != "1" {
		return []checkResult{failed(what, fmt.Sprintf("cannot read version %q.%q", v.Major, v.Minor), "")}
	}
	if minor < minKubeMinor {
		return []checkResult{failed(what, fmt.Sprintf("%s, Weft needs 1.%d or later", v.GitVersion, minKubeMinor),
			fmt.Sprintf("upgrade the cluster to Kubernetes 1.%d or later", minKubeMinor))}
	}
	return []checkResult{passed(fmt.Sprintf("Kubernetes %s (1.%d or later)", v.GitVersion, minKubeMinor))}
}

// installAccess is what the chart creates: cluster-scoped objects, then
// what goes in Weft's namespace.
var installAccess = []authorizationv1.ResourceAttributes{
	{Group: "apiextensions.k8s.io", Resource: "customresourcedefinitions"},
	{Group: "rbac.authorization.k8s.io", Resource: "clusterroles"},
	{Group: "rbac.authorization.k8s.io", Resource: "clusterrolebindings"},
	{Group: "admissionregistration.k8s.io", Resource: "mutatingwebhookconfigurations"},
	{Group: "gateway.networking.k8s.io", Resource: "gatewayclasses"},
	{Resource: "namespaces"},
	{Group: "rbac.authorization.k8s.io", Resource: "roles", Namespace: weftNamespace},
	{Group: "rbac.authorization.k8s.io", Resource: "rolebindings", Namespace: weftNamespace},
	{Group: "apps", Resource: "deployments", Namespace: weftNamespace},
	{Group: "apps", Resource: "daemonsets", Namespace: weftNamespace},
	{Group: "policy", Resource: "poddisruptionbudgets", Namespace: weftNamespace},
	{Resource: "services", Namespace: weftNamespace},
	{Resource: "serviceaccounts", Namespace: weftNamespace},
	{Resource: "configmaps", Namespace: weftNamespace},
}

func (c *checker) checkPermissions(ctx context.Context) []checkResult {
	const what = "permissions to install Weft"
	var denied []string
	for _, ra := range installAccess {
		ra.Verb = "create"
		if ra.Namespace != "" {
			ra.Namespace = c.namespace
		}
		review, err := c.cs.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
			Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &ra},
		}, metav1.CreateOptions{})
		if err != nil {
			return []checkResult{failed(what, fmt.Sprintf("asking the API server: %v", err), "")}
		}
		if !review.Status.Allowed {
			denied = append(denied, resourceName(ra))
		}
	}
	if len(denied) > 0 {
		return []checkResult{failed(what, "cannot create "+strings.Join(denied, ", "),
			"install as a cluster administrator (see kubectl auth can-i create clusterroles), or ask one to")}
	}
	return []checkResult{passed(what)}
}

// resourceName is how kubectl names a resource: "deployments.apps in
// weft-system", "namespaces".
func resourceName(ra authorizationv1.ResourceAttributes) string {
	s := ra.Resource
	if ra.Group != "" {
		s += "." + ra.Group
	}
	if ra.Namespace != "" {
		s += " in " + ra.Namespace
	}
	return s
}

func (c *checker) checkGatewayAPI(context.Context) []checkResult {
	const what = "Gateway API CRDs (gateway.networking.k8s.io/v1)"
	hint := "kubectl apply --server-side -f " + gatewayAPIInstall
	list, err := c.cs.Discovery().ServerResourcesForGroupVersion("gateway.networking.k8s.io/v1")
	switch {
	case apierrors.IsNotFound(err):
		return []checkResult{warned(what, "not installed: the mesh works, the ingress gateway and HTTPRoute/GRPCRoute routing do not", hint)}
	case err != nil:
		return []checkResult{failed(what, err.Error(), "")}
	}
	served := map[string]bool{}
	for _, r := range list.APIResources {
		served[r.Name] = true
	}
	var missing []string
	for _, r := range []string{"gatewayclasses", "gateways", "httproutes", "grpcroutes"} {
		if !served[r] {
			missing = append(missing, r)
		}
	}
	if len(missing) > 0 {
		return []checkResult{warned(what, "v1 does not serve "+strings.Join(missing, ", "), hint)}
	}
	return []checkResult{passed(what)}
}
