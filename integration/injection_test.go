package integration

import (
	"bytes"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/weftmesh/weft/controlplane"
	"github.com/weftmesh/weft/controlplane/kube/kubetest"
	"github.com/weftmesh/weft/controlplane/webhook"
	"github.com/weftmesh/weft/injector"
	"github.com/weftmesh/weft/install/helm"
)

// TestInjectionWebhook runs the control plane in Kubernetes mode against a
// real API server (envtest) that calls its injection webhook over TLS,
// configured by the Helm chart's webhook configuration (pointed at the webhook's loopback
// address instead of its Service): the control plane writes its CA's root
// into caBundle, pods of a labelled namespace come back with the proxy as
// a native sidecar (with the image of the injector's ConfigMap), others
// and opted-out ones do not, an invalid annotation is refused by name, a
// host-network pod is left unmeshed with the reason; and with the control
// plane down, pods of a labelled namespace are refused by the API server
// in a message naming the webhook.
func TestInjectionWebhook(t *testing.T) {
	env := kubetest.StartT(t, kubetest.Options{WithoutGatewayAPI: true})
	k := newKubeFixture(t, env)
	const (
		meshed   = "meshed"
		plain    = "plain"
		image    = "example.com/weft-proxy:injection-test"
		hookName = "sidecar-injector.weft.dev"
	)
	k.create(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "weft-system"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: meshed, Labels: map[string]string{injector.LabelInject: injector.InjectEnabled}}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: plain}},
		&corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Namespace: "weft-system", Name: "weft-injector"},
			Data:       map[string]string{webhook.ConfigMapKey: "proxyImage: " + image + "\n"},
		},
	)

	k.cfg = controlplane.Default()
	k.cfg.KubeRESTConfig = env.Config
	k.cfg.XDSAddress, k.cfg.MonitorAddress = "127.0.97.1:0", "127.0.97.1:0"
	// The API server calls https://localhost:<port>/inject: the listener
	// is on 127.0.0.1, the certificate names localhost.
	k.cfg.WebhookAddress = "127.0.0.1:0"
	k.cfg.WebhookDNSNames = append(k.cfg.WebhookDNSNames, "localhost")
	cp := controlplane.New(k.cfg, testLogger(t, "controlplane"))
	if err := cp.Start(t.Context()); err != nil {
		t.Fatalf("start control plane in Kubernetes mode: %v", err)
	}
	k.cp = cp
	t.Cleanup(func() { _ = cp.Close() })

	// The users' configuration, created after the control plane started.
	objs, err := helm.Render(helm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rendered := helm.Find(objs, "MutatingWebhookConfiguration", "weft-sidecar-injector")
	if rendered == nil {
		t.Fatal("the Helm chart renders no MutatingWebhookConfiguration weft-sidecar-injector")
	}
	var mwc admissionregistrationv1.MutatingWebhookConfiguration
	if err := yaml.UnmarshalStrict(rendered.YAML(), &mwc); err != nil {
		t.Fatalf("the chart's webhook configuration: %v", err)
	}
	_, port, err := net.SplitHostPort(cp.WebhookAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	url := "https://localhost:" + port + webhook.Path
	mwc.Webhooks[0].ClientConfig = admissionregistrationv1.WebhookClientConfig{URL: &url}
	k.create(&mwc)

	var roots bytes.Buffer
	for _, c := range k.caRoots() {
		_ = pem.Encode(&roots, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	waitFor(t, "the control plane's CA root in the caBundle", func() bool {
		got, err := k.cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(t.Context(), mwc.Name, metav1.GetOptions{})
		return err == nil && bytes.Equal(got.Webhooks[0].ClientConfig.CABundle, roots.Bytes())
	})

	// The injected proxies mount the CA roots from a ConfigMap the control
	// plane keeps in every labelled namespace.
	waitFor(t, "the CA roots published in the labelled namespace", func() bool {
		cm, err := k.cs.CoreV1().ConfigMaps(meshed).Get(t.Context(), "weft-ca-root", metav1.GetOptions{})
		return err == nil && cm.Data["root-cert.pem"] == roots.String()
	})

	newPod := func(ns, name string, mutate func(*corev1.Pod)) *corev1.Pod {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": "web"}},
			// Set by the ServiceAccount admission plugin before the
			// webhook is called; envtest does not run it.
			Spec: corev1.PodSpec{ServiceAccountName: "default", Containers: []corev1.Container{{
				Name: "app", Image: "example.com/web",
				Ports:          []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromString("http")}}},
			}}},
		}
		if mutate != nil {
			mutate(p)
		}
		return p
	}
	// The API server sees the new caBundle a little after it was written:
	// the first pod may be refused for an unknown authority meanwhile.
	waitFor(t, "a first pod injected", func() bool {
		p := newPod(meshed, "first", nil)
		if err := k.c.Create(t.Context(), p); err != nil {
			if strings.Contains(err.Error(), "denied the request") {
				t.Fatalf("first pod: %v", err)
			}
			t.Logf("first pod: %v", err)
			return false
		}
		return true
	})

	tests := []struct {
		name      string
		ns        string
		mutate    func(*corev1.Pod)
		wantProxy bool
		check     func(t *testing.T, p *corev1.Pod)
	}{
		{name: "labelled namespace", ns: meshed, wantProxy: true, check: func(t *testing.T, p *corev1.Pod) {
			var proxy *corev1.Container
			for i := range p.Spec.InitContainers {
				if p.Spec.InitContainers[i].Name == injector.ProxyContainerName {
					proxy = &p.Spec.InitContainers[i]
				}
			}
			if proxy.RestartPolicy == nil || *proxy.RestartPolicy != corev1.ContainerRestartPolicyAlways {
				t.Errorf("%s is not a native sidecar: restartPolicy %v", proxy.Name, proxy.RestartPolicy)
			}
			if proxy.Image != image {
				t.Errorf("%s runs %s, want the ConfigMap's %s", proxy.Name, proxy.Image, image)
			}
			if p.Annotations[injector.AnnotationStatus] != injector.StatusInjected {
				t.Errorf("annotations %v lack %s=%s", p.Annotations, injector.AnnotationStatus, injector.StatusInjected)
			}
			if h := p.Spec.Containers[0].ReadinessProbe.HTTPGet; h == nil || h.Port.IntValue() != injector.StatusPort {
				t.Errorf("the app's readiness probe %+v does not go to the proxy's status port", h)
			}
		}},
		{name: "unlabelled namespace", ns: plain},
		{name: "opt-out label", ns: meshed, mutate: func(p *corev1.Pod) { p.Labels[injector.LabelInject] = injector.InjectDisabled }},
		{name: "opt-out annotation", ns: meshed, mutate: func(p *corev1.Pod) {
			p.Annotations = map[string]string{injector.LabelInject: injector.InjectDisabled}
		}},
		{name: "host network", ns: meshed, mutate: func(p *corev1.Pod) { p.Spec.HostNetwork = true }, check: func(t *testing.T, p *corev1.Pod) {
			if got := p.Annotations[injector.AnnotationSkipped]; got != injector.SkippedHostNetwork {
				t.Errorf("host-network pod has %s=%q, want %q", injector.AnnotationSkipped, got, injector.SkippedHostNetwork)
			}
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPod(tt.ns, "pod-"+strconv.Itoa(i), tt.mutate)
			if err := k.c.Create(t.Context(), p); err != nil {
				t.Fatalf("create pod: %v", err)
			}
			var has bool
			for _, c := range append(p.Spec.InitContainers, p.Spec.Containers...) {
				has = has || c.Name == injector.ProxyContainerName
			}
			if has != tt.wantProxy {
				t.Fatalf("created pod has the %s container: %v, want %v; spec %+v", injector.ProxyContainerName, has, tt.wantProxy, p.Spec)
			}
			if tt.check != nil {
				tt.check(t, p)
			}
		})
	}

	t.Run("invalid annotation", func(t *testing.T) {
		p := newPod(meshed, "invalid", func(p *corev1.Pod) {
			p.Annotations = map[string]string{injector.AnnotationExcludeInboundPorts: "80,http"}
		})
		err := k.c.Create(t.Context(), p)
		if err == nil {
			t.Fatal("a pod with an invalid weft.dev/exclude-inbound-ports was created")
		}
		for _, want := range []string{`admission webhook "` + hookName + `" denied the request`, injector.AnnotationExcludeInboundPorts, `"http" is not a port`} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("refusal %q does not say %q", err, want)
			}
		}
	})

	t.Run("metrics", func(t *testing.T) {
		resp, err := http.Get("http://" + cp.MonitorAddr().String() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		// first and "labelled namespace" injected; the opt-out annotation
		// and host network skipped (the opt-out label never reaches the
		// webhook); one refused.
		for _, want := range []string{
			`weft_injector_pods_total{result="injected"} 2`,
			`weft_injector_pods_total{result="skipped"} 2`,
			`weft_injector_pods_total{result="denied"} 1`,
		} {
			if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(want) + `$`).Match(body) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
	})

	// The webhook down: no pod of a labelled namespace is created, and
	// the API server's message names the webhook; other namespaces work.
	if err := cp.Close(); err != nil {
		t.Fatalf("close control plane: %v", err)
	}
	err = k.c.Create(t.Context(), newPod(meshed, "while-down", nil))
	if err == nil {
		t.Fatal("a pod of a labelled namespace was created while the webhook was down")
	}
	for _, want := range []string{`failed calling webhook "` + hookName + `"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error while the webhook is down %q does not say %q", err, want)
		}
	}
	t.Logf("while the webhook is down: %v", err)
	if err := k.c.Create(t.Context(), newPod(plain, "while-down", nil)); err != nil {
		t.Errorf("a pod of an unlabelled namespace while the webhook is down: %v", err)
	}

	// A restart reuses the CA kept in its Secret: the caBundle written
	// before still verifies the new serving certificate, and is not
	// rewritten.
	before, err := k.cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(t.Context(), mwc.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	k.cfg.WebhookAddress = cp.WebhookAddr().String() // the port the configuration names
	cp = controlplane.New(k.cfg, testLogger(t, "controlplane"))
	if err := cp.Start(t.Context()); err != nil {
		t.Fatalf("restart control plane: %v", err)
	}
	t.Cleanup(func() { _ = cp.Close() })
	var created *corev1.Pod
	waitFor(t, "a pod created after the restart", func() bool {
		p := newPod(meshed, "after-restart", nil)
		if err := k.c.Create(t.Context(), p); err != nil {
			t.Logf("pod after the restart: %v", err)
			return false
		}
		created = p
		return true
	})
	if !slices.ContainsFunc(created.Spec.InitContainers, func(c corev1.Container) bool { return c.Name == injector.ProxyContainerName }) {
		t.Errorf("the pod created after the restart has no %s: %+v", injector.ProxyContainerName, created.Spec)
	}
	after, err := k.cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(t.Context(), mwc.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if after.ResourceVersion != before.ResourceVersion {
		t.Errorf("the restarted control plane rewrote the webhook configuration: %+v", after.Webhooks)
	}
}
