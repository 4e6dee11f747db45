package deploy

import (
	"context"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/weftmesh/weft/controlplane/kube/kubetest"
	"github.com/weftmesh/weft/gateway"
)

// shared is the one API server the tests of this binary share.
var shared = &kubetest.Shared{}

func TestMain(m *testing.M) { os.Exit(shared.Main(m)) }

// injectorConfigMap is where the tests' Deployers read the mesh
// configuration.
var injectorConfigMap = types.NamespacedName{Namespace: "weft-system", Name: "weft-injector"}

// kube is a client of the shared API server with a running Deployer.
type kube struct {
	cfg *rest.Config
	c   client.Client
	// published are the namespaces the Deployer asked the CA roots for.
	mu        sync.Mutex
	published []string
}

// startDeployer returns a client of the shared API server, with the
// GatewayClasses weft (Weft's) and other (someone else's), the namespaces
// ns and weft-system, and a Deployer that runs until t ends. It skips t
// under -short.
func startDeployer(t *testing.T, ns string) *kube {
	t.Helper()
	env := shared.Env(t)
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, gwv1.Install} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	hc, err := rest.HTTPClientFor(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hc.CloseIdleConnections)
	c, err := client.New(env.Config, client.Options{Scheme: scheme, HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	k := &kube{cfg: env.Config, c: c}
	for _, obj := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: injectorConfigMap.Namespace}},
		&gwv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: gateway.ClassName}, Spec: gwv1.GatewayClassSpec{ControllerName: gateway.ControllerName}},
		&gwv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "other"}, Spec: gwv1.GatewayClassSpec{ControllerName: "example.com/other-controller"}},
	} {
		if err := c.Create(t.Context(), obj); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	d, err := New(Config{
		ReconcilerConfig: ReconcilerConfig{
			InjectorConfigMap: injectorConfigMap,
			PublishRoots: func(namespace string) {
				k.mu.Lock()
				defer k.mu.Unlock()
				k.published = append(k.published, namespace)
			},
		},
		RESTConfig: env.Config,
		Logger:     slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Deployer.Run: %v", err)
		}
	})
	return k
}

// rootsPublished reports whether the Deployer asked for the CA roots in
// namespace.
func (k *kube) rootsPublished(namespace string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Contains(k.published, namespace)
}

// testWriter sends logs to the test's.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// eventually calls check until it returns nil, failing t with its last
// error after a generous deadline.
func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
