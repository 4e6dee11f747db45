package cni_test

import (
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/weftmesh/weft/cni/cnitest"
	"github.com/weftmesh/weft/injector"
	"github.com/weftmesh/weft/proxy/capture"
)

// cluster is a node whose CNI chain ends with weft-cni, and the API
// server the plugin reads pods from.
type cluster struct {
	node   *cnitest.Node
	client kubernetes.Interface
	// conf is weft-cni's entry in the chain.
	conf map[string]any
	// stopAPI makes the API server unreachable from the node.
	stopAPI func()
	logFile string
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	cnitest.RequireRoot(t)
	env := shared.Env(t)
	node := cnitest.NewNode(t, plugin.Dir(t))

	u, err := url.Parse(env.Config.Host)
	if err != nil {
		t.Fatal(err)
	}
	addr, stop := node.Expose(t, u.Host)
	kubeconfig := cnitest.WriteKubeconfig(t, env.Config, "https://"+addr)

	hc, err := rest.HTTPClientFor(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hc.CloseIdleConnections)
	client, err := kubernetes.NewForConfigAndClient(env.Config, hc)
	if err != nil {
		t.Fatal(err)
	}
	logFile := filepath.Join(t.TempDir(), "weft-cni.log")
	t.Cleanup(func() {
		if t.Failed() {
			log, _ := os.ReadFile(logFile)
			t.Logf("weft-cni's log:\n%s", log)
		}
	})
	return &cluster{
		node:    node,
		client:  client,
		conf:    cnitest.WeftCNIConf(kubeconfig, logFile),
		stopAPI: stop,
		logFile: logFile,
	}
}

// createPod creates pod (after injecting it with cfg, unless cfg is nil)
// in a fresh namespace and returns its "namespace/name".
func (c *cluster) createPod(t *testing.T, pod *corev1.Pod, cfg *injector.Config, edit func(*corev1.Pod)) string {
	t.Helper()
	ns, err := c.client.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "cni-"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.client.CoreV1().Namespaces().Delete(t.Context(), ns.Name, metav1.DeleteOptions{})
	})
	_, err = c.client.CoreV1().ServiceAccounts(ns.Name).Create(t.Context(), &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: "default"},
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	pod = pod.DeepCopy()
	pod.Namespace = ns.Name
	if cfg != nil {
		injected, res, err := injector.Inject(*cfg, pod)
		if err != nil || !res.Injected {
			t.Fatalf("inject: %+v, %v", res, err)
		}
		pod = injected
	}
	if edit != nil {
		edit(pod)
	}
	if _, err := c.client.CoreV1().Pods(ns.Name).Create(t.Context(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return ns.Name + "/" + pod.Name
}

func appPod(annotations map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Annotations: annotations},
		Spec: corev1.PodSpec{ServiceAccountName: "default", Containers: []corev1.Container{{
			Name: "app", Image: "example.com/web:1",
			Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
		}}},
	}
}

// rules reads whether the pod's namespace has table inet weft, and
// capture.Check's verdict for want.
func rules(t *testing.T, p *cnitest.Pod, want capture.Config) (installed bool, check error) {
	t.Helper()
	if err := p.Do(func() error {
		var err error
		if installed, err = capture.Installed(); err != nil {
			return err
		}
		check = capture.Check(want)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return installed, check
}

// wantRules is what a pod annotated exclude-outbound-ports 5432 gets:
// what weft-init would install for it.
func wantRules() capture.Config {
	cfg := capture.Default()
	cfg.ExcludeInboundPorts = []uint16{capture.StatusPort}
	cfg.ExcludeOutboundPorts = []uint16{5432}
	return cfg
}

func cniMode() *injector.Config {
	cfg := injector.DefaultConfig()
	cfg.CNI = true
	return &cfg
}

func initMode() *injector.Config {
	cfg := injector.DefaultConfig()
	return &cfg
}

func TestAdd(t *testing.T) {
	c := newCluster(t)
	exclusions := map[string]string{injector.AnnotationExcludeOutboundPorts: "5432"}
	tests := []struct {
		name       string
		cniVersion string
		pod        *corev1.Pod
		inject     *injector.Config
		edit       func(*corev1.Pod)
		// wantRules: table inet weft holds wantRules(); else there is
		// no table.
		wantRules bool
		// wantErr: ADD fails with a message containing it.
		wantErr string
	}{
		{name: "injected for CNI mode", pod: appPod(exclusions), inject: cniMode(), wantRules: true},
		{name: "injected for CNI mode, CNI 0.4.0", cniVersion: "0.4.0", pod: appPod(exclusions), inject: cniMode(), wantRules: true},
		{name: "injected for CNI mode, CNI 1.1.0", cniVersion: "1.1.0", pod: appPod(exclusions), inject: cniMode(), wantRules: true},
		{name: "not injected", pod: appPod(exclusions)},
		{name: "injected with weft-init", pod: appPod(exclusions), inject: initMode()},
		{
			name: "invalid exclusion", pod: appPod(exclusions), inject: cniMode(),
			edit:    func(p *corev1.Pod) { p.Annotations[injector.AnnotationExcludeOutboundPorts] = "5432,postgres" },
			wantErr: `annotation weft.dev/exclude-outbound-ports: "5432,postgres": "postgres" is not a port`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.node.CNIVersion = tt.cniVersion
			if c.node.CNIVersion == "" {
				c.node.CNIVersion = "1.0.0"
			}
			name := c.createPod(t, tt.pod, tt.inject, tt.edit)
			p, err := c.node.TryAddPod(t, name, c.conf)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ADD: %v, want an error containing %q", err, tt.wantErr)
				}
				if installed, _ := rules(t, p, wantRules()); installed {
					t.Error("a failed ADD left capture rules behind")
				}
				return
			}
			if err != nil {
				t.Fatalf("ADD: %v", err)
			}
			installed, check := rules(t, p, wantRules())
			if !tt.wantRules {
				if installed {
					t.Errorf("pod %s got capture rules; weft-cni should leave it alone", name)
				}
				return
			}
			if check != nil {
				t.Fatalf("capture rules after ADD: %v", check)
			}
			// The exclusion is really there: the defaults alone differ.
			if _, check := rules(t, p, capture.Default()); check == nil {
				t.Error("the rules match capture.Default(): the pod's exclusions are missing")
			}
			if err := p.Check(t.Context()); err != nil {
				t.Errorf("CHECK: %v", err)
			}
		})
	}
}

// ADD of a pod the API server does not know fails: a pod is never started
// unmeshed because the plugin could not tell.
func TestAddUnknownPod(t *testing.T) {
	c := newCluster(t)
	_, err := c.node.TryAddPod(t, "nowhere/ghost", c.conf)
	if err == nil || !strings.Contains(err.Error(), `get pod nowhere/ghost: pods "ghost" not found`) {
		t.Errorf("ADD of an unknown pod: %v, want it to fail naming the pod", err)
	}
}

// CHECK notices rules that went missing; DEL removes them, and succeeds
// when the API server or the namespace is gone.
func TestCheckAndDel(t *testing.T) {
	c := newCluster(t)
	exclusions := map[string]string{injector.AnnotationExcludeOutboundPorts: "5432"}
	p := c.node.AddPod(t, c.createPod(t, appPod(exclusions), cniMode(), nil), c.conf)
	if err := p.Check(t.Context()); err != nil {
		t.Fatalf("CHECK after ADD: %v", err)
	}

	if err := p.Do(capture.Cleanup); err != nil {
		t.Fatal(err)
	}
	err := p.Check(t.Context())
	if err == nil || !strings.Contains(err.Error(), "table inet weft is missing") {
		t.Errorf("CHECK without the rules: %v, want an error saying table inet weft is missing", err)
	}

	// Rules that differ: installed without the pod's exclusions.
	if err := p.Do(func() error { return capture.Install(capture.Default()) }); err != nil {
		t.Fatal(err)
	}
	err = p.Check(t.Context())
	if err == nil || !strings.Contains(err.Error(), "differ") {
		t.Errorf("CHECK with other rules: %v, want an error saying the rules differ", err)
	}

	// The API server goes; DEL still removes the rules.
	c.stopAPI()
	if err := p.Del(t.Context()); err != nil {
		t.Fatalf("DEL with the API server unreachable: %v", err)
	}
	if installed, _ := rules(t, p, wantRules()); installed {
		t.Error("table inet weft is still there after DEL")
	}
}

// DEL succeeds for a pod whose network namespace is gone already.
func TestDelNamespaceGone(t *testing.T) {
	c := newCluster(t)
	p := c.node.AddPod(t, c.createPod(t, appPod(nil), cniMode(), nil), c.conf)
	if err := p.Do(func() error {
		ok, err := capture.Installed()
		if !ok {
			t.Error("no rules after ADD")
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := p.RemoveNetNS(); err != nil {
		t.Fatal(err)
	}
	c.stopAPI()
	if err := p.Del(t.Context()); err != nil {
		t.Errorf("DEL of a pod whose namespace is gone: %v, want success", err)
	}
	log, _ := os.ReadFile(c.logFile)
	if !slices.ContainsFunc(strings.Split(string(log), "\n"), func(l string) bool { return strings.Contains(l, "pod network namespace gone") }) {
		t.Errorf("weft-cni's log does not say the namespace was gone:\n%s", log)
	}
}

// With the API server unreachable, ADD retries for a few seconds, then
// fails, saying so: the pod is retried by the kubelet, never started
// without its rules.
func TestAddAPIServerUnreachable(t *testing.T) {
	c := newCluster(t)
	name := c.createPod(t, appPod(nil), cniMode(), nil)
	c.stopAPI()
	start := time.Now()
	_, err := c.node.TryAddPod(t, name, c.conf)
	if err == nil || !strings.Contains(err.Error(), "get pod "+name+": gave up after") {
		t.Fatalf("ADD with the API server unreachable: %v, want an error saying it gave up getting pod %s", err, name)
	}
	if d := time.Since(start); d < 4*time.Second || d > 15*time.Second {
		t.Errorf("ADD gave up after %s, want about 5s of retries", d)
	}
}
