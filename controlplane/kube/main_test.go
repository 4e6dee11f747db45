package kube_test

import (
	"flag"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/go-logr/logr"
	"go.uber.org/goleak"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/weftmesh/weft/controlplane/kube/kubetest"
)

// shared is the one API server the tests of this binary share; started by
// the first test that asks for it, stopped by TestMain.
var shared struct {
	once sync.Once
	env  *kubetest.Env
	err  error
}

// sharedEnv returns the shared API server, skipping t under -short.
func sharedEnv(t *testing.T) *kubetest.Env {
	t.Helper()
	if testing.Short() {
		t.Skip("skipping a test against a real kube-apiserver (envtest) under -short")
	}
	shared.once.Do(func() { shared.env, shared.err = kubetest.Start(kubetest.Options{}) })
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.env
}

func TestMain(m *testing.M) {
	flag.Parse()
	// controller-runtime's informers log through its global logger; the
	// Watcher's own records go to slog.
	ctrllog.SetLogger(logr.Discard())
	code := m.Run()
	if shared.env != nil {
		if err := shared.env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop envtest:", err)
			code = 1
		}
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}
