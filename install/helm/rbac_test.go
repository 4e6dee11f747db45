package helm_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/controlplane"
	"github.com/weftmesh/weft/controlplane/kube"
	"github.com/weftmesh/weft/install/helm"
)

// lockedBuffer collects the control plane's log.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestControlPlaneRBAC runs the control plane in Kubernetes mode as the
// chart's ServiceAccount (impersonated) with only the chart's RBAC, and
// checks that it does its whole job: it starts, its informers sync (it
// becomes ready), it creates its CA Secret, publishes the CA root in a
// labelled namespace, writes the webhook's caBundle, takes the status
// Lease and writes a policy's status — and that nothing it did was
// forbidden.
func TestControlPlaneRBAC(t *testing.T) {
	env := kubetestEnv(t)
	objs, err := helm.Render(helm.Options{Values: map[string]any{"namespace": map[string]any{"create": true}}})
	if err != nil {
		t.Fatal(err)
	}
	a := newApplier(t, env.Config)
	for _, o := range objs {
		if err := a.apply(o, false); err != nil {
			t.Fatalf("apply %s %s: %v", o.GetKind(), o.GetName(), err)
		}
	}

	// A meshed namespace with a policy, made by the administrator.
	scheme, err := kube.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	admin, err := client.New(env.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	shop := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: map[string]string{"weft.dev/inject": "enabled"}}}
	pa := &v1alpha1.PeerAuthentication{
		ObjectMeta: metav1.ObjectMeta{Name: "strict", Namespace: "shop"},
		Spec:       v1alpha1.PeerAuthenticationSpec{MTLS: &v1alpha1.MutualTLS{Mode: v1alpha1.MTLSStrict}},
	}
	for _, o := range []client.Object{shop, pa} {
		if err := admin.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}

	sa := rest.CopyConfig(env.Config)
	sa.Impersonate = rest.ImpersonationConfig{
		UserName: "system:serviceaccount:" + helm.Namespace + ":weft-controlplane",
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + helm.Namespace, "system:authenticated"},
	}
	// The API server enforces RBAC on the impersonated user: otherwise
	// this test would prove nothing.
	saClient, err := kubernetes.NewForConfig(sa)
	if err != nil {
		t.Fatal(err)
	}
	// (It may list and watch Secrets, for the gateway's kubernetes.io/tls
	// ones, but never get one by name.)
	if _, err := saClient.CoreV1().Secrets("shop").Get(ctx, "app-credentials", metav1.GetOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("reading a Secret as the control plane's ServiceAccount: %v, want Forbidden (is RBAC enforced?)", err)
	}

	var logs lockedBuffer
	cfg := controlplane.Default()
	cfg.KubeRESTConfig = sa
	cfg.XDSAddress, cfg.MonitorAddress, cfg.WebhookAddress = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cp := controlplane.New(cfg, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err := cp.Start(ctx); err != nil {
		t.Fatalf("the control plane does not start with the chart's RBAC: %v\n%s", err, logs.String())
	}
	t.Cleanup(func() { _ = cp.Close() })

	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		what  string
		check func() error
	}{
		{"ready (informers synced, first mesh served)", func() error {
			resp, err := http.Get("http://" + cp.MonitorAddr().String() + "/ready") //nolint:noctx // loopback test server
			if err != nil {
				return err
			}
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("/ready: %s", resp.Status)
			}
			return nil
		}},
		{"CA Secret weft-ca", func() error {
			_, err := cs.CoreV1().Secrets(helm.Namespace).Get(ctx, "weft-ca", metav1.GetOptions{})
			return err
		}},
		{"CA root published in namespace shop", func() error {
			cm, err := cs.CoreV1().ConfigMaps("shop").Get(ctx, "weft-ca-root", metav1.GetOptions{})
			if err == nil && !strings.Contains(cm.Data["root-cert.pem"], "BEGIN CERTIFICATE") {
				return fmt.Errorf("ConfigMap shop/weft-ca-root holds no certificate: %v", cm.Data)
			}
			return err
		}},
		{"caBundle in the webhook configuration", func() error {
			mwc, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "weft-sidecar-injector", metav1.GetOptions{})
			if err == nil && len(mwc.Webhooks[0].ClientConfig.CABundle) == 0 {
				return fmt.Errorf("no caBundle yet")
			}
			return err
		}},
		{"status Lease", func() error {
			_, err := cs.CoordinationV1().Leases(helm.Namespace).Get(ctx, "weft-controlplane-status", metav1.GetOptions{})
			return err
		}},
		{"PeerAuthentication status", func() error {
			got := &v1alpha1.PeerAuthentication{}
			if err := admin.Get(ctx, client.ObjectKeyFromObject(pa), got); err != nil {
				return err
			}
			if len(got.Status.Conditions) == 0 {
				return fmt.Errorf("no conditions yet")
			}
			return nil
		}},
	}
	for _, c := range checks {
		eventually(t, 30*time.Second, func() string {
			if err := c.check(); err != nil {
				return fmt.Sprintf("%s: %v\ncontrol plane log:\n%s", c.what, err, logs.String())
			}
			return ""
		})
	}
	if l := logs.String(); strings.Contains(strings.ToLower(l), "forbidden") {
		t.Errorf("the control plane was refused something by RBAC:\n%s", l)
	}

	// What this run did not exercise (no proxy asked for a certificate,
	// no route exists), and what the ServiceAccount must not do.
	access := []struct {
		attrs authorizationv1.ResourceAttributes
		want  bool
	}{
		{authorizationv1.ResourceAttributes{Group: "authentication.k8s.io", Resource: "tokenreviews", Verb: "create"}, true},
		{authorizationv1.ResourceAttributes{Group: "gateway.networking.k8s.io", Resource: "httproutes", Subresource: "status", Verb: "update", Namespace: "shop"}, true},
		{authorizationv1.ResourceAttributes{Group: "gateway.networking.k8s.io", Resource: "grpcroutes", Subresource: "status", Verb: "update", Namespace: "shop"}, true},
		{authorizationv1.ResourceAttributes{Group: "gateway.networking.k8s.io", Resource: "httproutes", Verb: "update", Namespace: "shop"}, false},
		{authorizationv1.ResourceAttributes{Group: "gateway.networking.k8s.io", Resource: "gateways", Subresource: "status", Verb: "update", Namespace: "shop"}, true},
		{authorizationv1.ResourceAttributes{Group: "gateway.networking.k8s.io", Resource: "gatewayclasses", Subresource: "status", Verb: "update"}, true},
		{authorizationv1.ResourceAttributes{Group: "gateway.networking.k8s.io", Resource: "gateways", Verb: "update", Namespace: "shop"}, false},
		{authorizationv1.ResourceAttributes{Resource: "secrets", Verb: "get", Namespace: helm.Namespace, Name: "other"}, false},
		{authorizationv1.ResourceAttributes{Resource: "secrets", Verb: "get", Namespace: "shop", Name: "weft-ca"}, false},
		{authorizationv1.ResourceAttributes{Resource: "configmaps", Verb: "update", Namespace: "shop", Name: "app-config"}, false},
		{authorizationv1.ResourceAttributes{Resource: "pods", Verb: "delete", Namespace: "shop"}, false},
		{authorizationv1.ResourceAttributes{Group: "admissionregistration.k8s.io", Resource: "mutatingwebhookconfigurations", Verb: "patch", Name: "someone-elses"}, false},
		{authorizationv1.ResourceAttributes{Group: "mesh.weft.dev", Resource: "authorizationpolicies", Verb: "update", Namespace: "shop"}, false},
	}
	for _, c := range access {
		sar, err := cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: sa.Impersonate.UserName, Groups: sa.Impersonate.Groups, ResourceAttributes: &c.attrs,
		}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if sar.Status.Allowed != c.want {
			t.Errorf("may the control plane %s %s/%s %s/%s? %v, want %v", c.attrs.Verb, c.attrs.Group, c.attrs.Resource, c.attrs.Namespace, c.attrs.Name, sar.Status.Allowed, c.want)
		}
	}
}
