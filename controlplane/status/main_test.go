package status

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/controlplane/kube/kubetest"
)

// shared is the one API server the tests of this binary share.
var shared = &kubetest.Shared{Options: kubetest.Options{}}

func TestMain(m *testing.M) {
	// The Writer's gateway watch logs through controller-runtime's global
	// logger.
	ctrllog.SetLogger(logr.Discard())
	os.Exit(shared.Main(m))
}

// kube is a client of the shared API server.
type kube struct {
	cfg *rest.Config
	c   client.Client
}

// startKube returns a client of the shared API server (started with
// Weft's and Gateway API's CRDs on first use), with the namespaces shop
// and weft-system. It skips t under -short.
func startKube(t *testing.T) *kube {
	t.Helper()
	env := shared.Env(t)
	cfg := env.Config
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, v1alpha1.AddToScheme, gwv1.Install} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hc.CloseIdleConnections)
	c, err := client.New(cfg, client.Options{Scheme: scheme, HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{shop, v1alpha1.RootNamespace} {
		err := c.Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	return &kube{cfg: cfg, c: c}
}

// startWriter starts a Writer with short lease timings and stops it when
// t ends; stop stops it earlier, once it has returned.
func (k *kube) startWriter(t *testing.T, identity, lease string) (w *Writer, stop func()) {
	t.Helper()
	hc, err := rest.HTTPClientFor(k.cfg)
	if err != nil {
		t.Fatal(err)
	}
	w, err = New(Config{
		Client: k.c, RESTConfig: k.cfg, HTTPClient: hc,
		Identity: identity, LeaseName: lease, FieldManager: "status-" + identity,
		LeaseDuration: 4 * time.Second, RenewDeadline: 3 * time.Second, RetryPeriod: 500 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})).With("replica", identity),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	done := make(chan error, 1)
	go func() { done <- w.Start(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Start(%s): %v", identity, err)
			}
			hc.CloseIdleConnections()
		})
	}
	t.Cleanup(stop)
	return w, stop
}

// testWriter sends a Writer's logs to the test's.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// eventually calls check until it returns nil, failing t with its last
// error after a generous deadline.
func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
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
