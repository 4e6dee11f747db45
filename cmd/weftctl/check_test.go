package main

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/weftmesh/weft/controlplane"
	"github.com/weftmesh/weft/controlplane/ca"
	"github.com/weftmesh/weft/controlplane/kube/kubetest"
	"github.com/weftmesh/weft/controlplane/model"
	"github.com/weftmesh/weft/controlplane/webhook"
	"github.com/weftmesh/weft/controlplane/xds"
	"github.com/weftmesh/weft/injector"
	"github.com/weftmesh/weft/meshid"
	"github.com/weftmesh/weft/proxy/identity"
	"github.com/weftmesh/weft/proxy/xdsclient"
)

// TestCheck runs `weftctl check` against a real API server (envtest)
// before anything is installed, without the control plane, and with the
// control plane running in process in Kubernetes mode, and compares the
// lines it prints with what a user must see, dates and durations masked.
func TestCheck(t *testing.T) {
	env := kubetest.StartT(t, kubetest.Options{WithoutGatewayAPI: true})
	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	admin := writeKubeconfig(t, env.Config, "")
	const meshed, shop = "meshed", "shop"
	for _, ns := range []*corev1.Namespace{
		{ObjectMeta: metav1.ObjectMeta{Name: weftNamespace}},
		{ObjectMeta: metav1.ObjectMeta{Name: meshed, Labels: map[string]string{injector.LabelInject: injector.InjectEnabled}}},
		{ObjectMeta: metav1.ObjectMeta{Name: shop}},
	} {
		if _, err := cs.CoreV1().Namespaces().Create(t.Context(), ns, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("pre-install", func(t *testing.T) {
		tests := []struct {
			name     string
			as       string // impersonated user
			wantCode int
			want     string
		}{
			{name: "administrator", wantCode: 0, want: `✔ Kubernetes vX.Y.Z (1.30 or later)
✔ permissions to install Weft
! Gateway API CRDs (gateway.networking.k8s.io/v1): not installed: the mesh works, the ingress gateway and HTTPRoute/GRPCRoute routing do not
    hint: kubectl apply --server-side -f https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.6.0/standard-install.yaml
`},
			{name: "user without rights", as: "alice", wantCode: 1, want: `✔ Kubernetes vX.Y.Z (1.30 or later)
✖ permissions to install Weft: cannot create customresourcedefinitions.apiextensions.k8s.io, clusterroles.rbac.authorization.k8s.io, clusterrolebindings.rbac.authorization.k8s.io, mutatingwebhookconfigurations.admissionregistration.k8s.io, gatewayclasses.gateway.networking.k8s.io, namespaces, roles.rbac.authorization.k8s.io in weft-system, rolebindings.rbac.authorization.k8s.io in weft-system, deployments.apps in weft-system, daemonsets.apps in weft-system, poddisruptionbudgets.policy in weft-system, services in weft-system, serviceaccounts in weft-system, configmaps in weft-system
    hint: install as a cluster administrator (see kubectl auth can-i create clusterroles), or ask one to
! Gateway API CRDs (gateway.networking.k8s.io/v1): not installed: the mesh works, the ingress gateway and HTTPRoute/GRPCRoute routing do not
    hint: kubectl apply --server-side -f https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.6.0/standard-install.yaml
`},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				kc := admin
				if tt.as != "" {
					kc = writeKubeconfig(t, env.Config, tt.as)
				}
				code, out, stderr := runCheck(t, "--kubeconfig", kc, "--pre")
				if out = mask(out); code != tt.wantCode || out != tt.want {
					t.Errorf("weftctl check --pre: exit %d, want %d; got\n%s\nwant\n%s\nstderr: %s", code, tt.wantCode, out, tt.want, stderr)
				}
			})
		}
	})

	t.Run("without the control plane", func(t *testing.T) {
		want := `✔ Weft CRDs installed and established (4)
✖ control plane Deployment weft-system/weft-controlplane available: not found
    hint: install Weft: weftctl install, or kubectl apply -f install/weft.yaml
✖ CA root (Secret weft-system/weft-ca): not found
    hint: the control plane creates it at its first start: kubectl -n weft-system logs deployment/weft-controlplane
✖ webhook configuration weft-sidecar-injector trusts the CA root: not found
    hint: install Weft: weftctl install, or kubectl apply -f install/weft.yaml
✖ webhook injects pods: no webhook configuration weft-sidecar-injector
    hint: install Weft: weftctl install, or kubectl apply -f install/weft.yaml
✖ proxies connected and in sync: reading the control plane's /debug/proxies: reading Deployment weft-system/weft-controlplane: deployments.apps "weft-controlplane" not found
    hint: check that the control plane runs: kubectl -n weft-system get pods; kubectl -n weft-system logs deployment/weft-controlplane
`
		code, out, stderr := runCheck(t, "--kubeconfig", admin)
		if code != 1 || out != want {
			t.Errorf("weftctl check: exit %d, want 1; got\n%s\nwant\n%s", code, out, want)
		}
		if want := "weftctl: 5 checks failed"; !strings.Contains(stderr, want) {
			t.Errorf("stderr %q lacks %q", stderr, want)
		}
	})

	// Install what the chart would: the control plane (in process, its
	// webhook on loopback), the webhook configuration pointing at it, and
	// the Deployment object.
	cfg := controlplane.Default()
	cfg.KubeRESTConfig = env.Config
	cfg.XDSAddress, cfg.MonitorAddress = "127.0.96.1:0", "127.0.96.1:0"
	// The API server calls https://localhost:<port>/inject.
	cfg.WebhookAddress = "127.0.0.1:0"
	cfg.WebhookDNSNames = append(cfg.WebhookDNSNames, "localhost")
	cp := controlplane.New(cfg, nil)
	if err := cp.Start(t.Context()); err != nil {
		t.Fatalf("start the control plane in Kubernetes mode: %v", err)
	}
	t.Cleanup(func() { _ = cp.Close() })
	createWebhookConfiguration(t, cs, "https://localhost:"+portOf(t, cp.WebhookAddr().String())+webhook.Path)
	createAvailableDeployment(t, cs)
	cpURL := "http://" + cp.MonitorAddr().String()

	// Two injected pods; only web-1's proxy connects.
	if _, err := cs.CoreV1().ServiceAccounts(shop).Create(t.Context(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: shop, Name: "web"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	web1 := runInjectedPod(t, cs, shop, "web-1", "web", "198.18.0.1")
	runInjectedPod(t, cs, shop, "web-2", "web", "198.18.0.2")
	startXDSClient(t, cs, cp, web1, "web")

	t.Run("a proxy not connected", func(t *testing.T) {
		want := `✖ proxies connected and in sync: 1 of 2: shop/web-2 not connected
    hint: kubectl -n shop logs web-2 -c weft-proxy; weftctl proxy-config web-2 -n shop
`
		out := checkUntil(t, admin, cpURL, func(out string) bool { return strings.Contains(out, want) })
		if !strings.HasSuffix(out, want) {
			t.Errorf("weftctl check: got\n%s\nwant it to end with\n%s", out, want)
		}
	})

	if err := cs.CoreV1().Pods(shop).Delete(t.Context(), "web-2", *metav1.NewDeleteOptions(0)); err != nil {
		t.Fatal(err)
	}
	t.Run("with the control plane", func(t *testing.T) {
		want := `✔ Weft CRDs installed and established (4)
✔ control plane Deployment weft-system/weft-controlplane available (2 of 2 replicas)
✔ CA root (Secret weft-system/weft-ca) valid until DATE (N days)
✔ webhook configuration weft-sidecar-injector trusts the CA root
✔ webhook serving certificate valid for localhost until DATE (N hours)
✔ webhook injects pods (dry-run Pod in namespace meshed)
✔ proxies connected and in sync (1 of 1)
`
		out := checkUntil(t, admin, cpURL, func(out string) bool { return mask(out) == want })
		if got := mask(out); got != want {
			t.Errorf("weftctl check: got\n%s\nwant\n%s", got, want)
		}
		pods, err := cs.CoreV1().Pods(meshed).List(t.Context(), metav1.ListOptions{})
		if err != nil || len(pods.Items) != 0 {
			t.Errorf("the dry run left pods in %s: %v %v", meshed, pods, err)
		}
	})

	t.Run("caBundle without the CA root", func(t *testing.T) {
		// Stop the control plane first: it would put the root back.
		if err := cp.Close(); err != nil {
			t.Fatal(err)
		}
		mwc, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(t.Context(), webhookConfigName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		mwc.Webhooks[0].ClientConfig.CABundle = nil
		if _, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Update(t.Context(), mwc, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		code, out, _ := runCheck(t, "--kubeconfig", admin, "--control-plane-url", cpURL)
		for _, want := range []string{
			"✖ webhook configuration weft-sidecar-injector trusts the CA root: webhook sidecar-injector.weft.dev: caBundle: no PEM certificate\n    hint: the control plane writes the CA root into caBundle within seconds",
			"✖ webhook serving certificate: TLS handshake with localhost:",
			"✖ webhook injects pods (dry-run Pod in namespace meshed): Internal error occurred: failed calling webhook \"sidecar-injector.weft.dev\"",
			"✖ proxies connected and in sync: reading the control plane's /debug/proxies: Get \"" + cpURL + "/debug/proxies\"",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("weftctl check output lacks %q:\n%s", want, out)
			}
		}
		if code != 1 {
			t.Errorf("exit %d, want 1", code)
		}
	})
}

// TestSyncProblem covers what the proxies check says of each state a
// connected proxy can be in.
func TestSyncProblem(t *testing.T) {
	const lds, cds = "type.googleapis.com/envoy.config.listener.v3.Listener", "type.googleapis.com/envoy.config.cluster.v3.Cluster"
	tests := []struct {
		name string
		st   xds.ProxyStatus
		want string
	}{
		{"in sync", xds.ProxyStatus{Variant: "sotw", Latest: "v2", Acked: map[string]string{lds: "v2", cds: "v2"}}, ""},
		{"behind", xds.ProxyStatus{Variant: "sotw", Latest: "v2", Acked: map[string]string{lds: "v1", cds: "v2"}}, "acknowledged Listener v1, latest v2"},
		{"refused", xds.ProxyStatus{Variant: "sotw", Latest: "v2", Acked: map[string]string{lds: "v1"}, Nacked: map[string]string{lds: "unknown filter x"}}, "refused Listener: unknown filter x"},
		{"nothing pushed", xds.ProxyStatus{Variant: "sotw"}, "has no configuration from the control plane yet"},
		{"nothing acked", xds.ProxyStatus{Variant: "sotw", Latest: "v1"}, "has acknowledged no configuration yet (latest v1)"},
		{"delta, newest ack latest", xds.ProxyStatus{Variant: "delta", Latest: "v2", Acked: map[string]string{lds: "v1", cds: "v2"}}, ""},
		{"delta, behind", xds.ProxyStatus{Variant: "delta", Latest: "v3", Acked: map[string]string{lds: "v1", cds: "v2"}}, "acknowledged v2, latest v3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := syncProblem(tt.st); got != tt.want {
				t.Errorf("syncProblem = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestCRDListMatchesInstall keeps weftCRDs in step with install/crds.
func TestCRDListMatchesInstall(t *testing.T) {
	files, err := filepath.Glob("../../install/crds/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no CRDs in install/crds: %v", err)
	}
	var names []string
	for _, f := range files {
		// mesh.weft.dev_workloads.yaml → workloads.mesh.weft.dev
		group, plural, _ := strings.Cut(strings.TrimSuffix(filepath.Base(f), ".yaml"), "_")
		names = append(names, plural+"."+group)
	}
	slices.Sort(names)
	if !slices.Equal(names, weftCRDs) {
		t.Errorf("install/crds holds %v, weftctl check looks for %v", names, weftCRDs)
	}
}

func runCheck(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(t.Context(), append([]string{"check"}, args...), strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

// checkUntil runs the post-install checks until done accepts the output
// (the API server takes a moment to trust a new caBundle, a proxy to
// connect), and returns the last output.
func checkUntil(t *testing.T, kubeconfig, cpURL string, done func(string) bool) string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, out, _ := runCheck(t, "--kubeconfig", kubeconfig, "--control-plane-url", cpURL)
		if done(out) || time.Now().After(deadline) {
			return out
		}
		time.Sleep(500 * time.Millisecond)
	}
}

var (
	maskDate     = regexp.MustCompile(`\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}Z)?`)
	maskDuration = regexp.MustCompile(`\d+ (days|hours|minutes)`)
	maskVersion  = regexp.MustCompile(`Kubernetes v\d+\.\d+\.\d+`)
)

// mask replaces what changes from run to run or cluster to cluster:
// dates, durations, the Kubernetes version.
func mask(s string) string {
	s = maskVersion.ReplaceAllString(s, "Kubernetes vX.Y.Z")
	s = maskDate.ReplaceAllString(s, "DATE")
	return maskDuration.ReplaceAllString(s, "N $1")
}

// writeKubeconfig writes a kubeconfig for the API server of cfg, as its
// administrator or, with as set, impersonating that user.
func writeKubeconfig(t *testing.T, cfg *rest.Config, as string) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{
		ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken,
		Impersonate: as,
	}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "admin"}
	kc.CurrentContext = "envtest"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func portOf(t *testing.T, addr string) string {
	t.Helper()
	i := strings.LastIndex(addr, ":")
	if i < 0 {
		t.Fatalf("address %q has no port", addr)
	}
	return addr[i+1:]
}

// createWebhookConfiguration creates the chart's webhook configuration,
// pointed at url instead of the control plane's Service.
func createWebhookConfiguration(t *testing.T, cs kubernetes.Interface, url string) {
	t.Helper()
	fail := admissionregistrationv1.Fail
	none := admissionregistrationv1.SideEffectClassNone
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: webhookConfigName},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:                    "sidecar-injector.weft.dev",
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: &url},
			Rules:                   []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create}, Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}}}},
			NamespaceSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{injector.LabelInject: injector.InjectEnabled}},
			FailurePolicy:           &fail,
			SideEffects:             &none,
			AdmissionReviewVersions: []string{"v1"},
		}},
	}
	if _, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(t.Context(), mwc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// createAvailableDeployment creates the control plane's Deployment and
// sets its status through the status subresource as the Deployment
// controller would: envtest runs no controllers (and the replicas it
// counts are the control plane this test runs in process).
func createAvailableDeployment(t *testing.T, cs kubernetes.Interface) {
	t.Helper()
	replicas := int32(2)
	labels := map[string]string{"app.kubernetes.io/name": controlPlaneName}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: weftNamespace, Name: controlPlaneName},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "controlplane", Image: "example.com/weft-controlplane"}}},
			},
		},
	}
	d, err := cs.AppsV1().Deployments(weftNamespace).Create(t.Context(), d, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: 2, ReadyReplicas: 2, AvailableReplicas: 2, UpdatedReplicas: 2}
	if _, err := cs.AppsV1().Deployments(weftNamespace).UpdateStatus(t.Context(), d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// runInjectedPod creates a pod with the sidecar in an unlabelled namespace
// (so the webhook is not involved) and gives it an address and the
// Running phase through the status subresource, as the kubelet would.
func runInjectedPod(t *testing.T, cs kubernetes.Interface, ns, name, sa, ip string) *corev1.Pod {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": sa}},
		Spec: corev1.PodSpec{
			ServiceAccountName: sa,
			Containers: []corev1.Container{
				{Name: "app", Image: "example.com/app"},
				{Name: injector.ProxyContainerName, Image: "example.com/weft-proxy"},
			},
		},
	}
	pod, err := cs.CoreV1().Pods(ns).Create(t.Context(), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}}
	if pod, err = cs.CoreV1().Pods(ns).UpdateStatus(t.Context(), pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	return pod
}

// startXDSClient connects pod's proxy as the sidecar does: an SVID from
// the control plane's CA for a projected token bound to the pod, then the
// proxy's xDS client as node <pod>.<namespace>, ACKing what it is sent.
func startXDSClient(t *testing.T, cs kubernetes.Interface, cp *controlplane.ControlPlane, pod *corev1.Pod, sa string) {
	t.Helper()
	expiry := int64((10 * time.Minute).Seconds())
	tr, err := cs.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(t.Context(), sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{
			Audiences:         []string{ca.TokenAudience},
			ExpirationSeconds: &expiry,
			BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("TokenRequest: %v", err)
	}
	secret, err := cs.CoreV1().Secrets(weftNamespace).Get(t.Context(), ca.SecretName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	roots, err := parseCertsPEM(secret.Data[ca.CertManagerRoots])
	if err != nil {
		t.Fatal(err)
	}
	td := spiffeid.RequireTrustDomainFromString(model.DefaultTrustDomain)
	token := tr.Status.Token
	ids := identity.New(identity.Config{
		CAAddress:      cp.XDSAddr().String(),
		TrustDomain:    td,
		Namespace:      pod.Namespace,
		ServiceAccount: sa,
		Token:          func(context.Context) (string, error) { return token, nil },
		RootCAs:        roots,
	})
	startCtx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := ids.Start(startCtx); err != nil {
		t.Fatalf("SVID for %s/%s: %v", pod.Namespace, sa, err)
	}
	t.Cleanup(func() { _ = ids.Close() })
	conn, err := grpc.NewClient(cp.XDSAddr().String(),
		grpc.WithTransportCredentials(credentials.NewTLS(tlsconfig.MTLSClientConfig(ids, ids, tlsconfig.AuthorizeID(meshid.ControlPlane(td))))))
	if err != nil {
		t.Fatal(err)
	}
	client := xdsclient.New(xdsclient.Config{
		Conn:    conn,
		Node:    &corev3.Node{Id: meshid.NodeID(pod.Name, pod.Namespace), Cluster: pod.Namespace},
		Handler: acceptAll{},
	})
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- client.Run(ctx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("xDS client: %v", err)
		}
		_ = conn.Close()
	})
}

// acceptAll is an xdsclient.Handler that accepts every configuration.
type acceptAll struct{}

func (acceptAll) OnClusters(context.Context, []*clusterv3.Cluster) error                 { return nil }
func (acceptAll) OnEndpoints(context.Context, []*endpointv3.ClusterLoadAssignment) error { return nil }
func (acceptAll) OnListeners(context.Context, []*listenerv3.Listener) error              { return nil }
func (acceptAll) OnRoutes(context.Context, []*routev3.RouteConfiguration) error          { return nil }
