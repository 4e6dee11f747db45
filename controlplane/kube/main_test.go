package kube_test

import (
	"os"
	"testing"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/weftmesh/weft/controlplane/kube/kubetest"
)

// shared is the one API server the tests of this binary share.
var shared = &kubetest.Shared{}

// sharedEnv returns the shared API server, skipping t under -short.
func sharedEnv(t *testing.T) *kubetest.Env { return shared.Env(t) }

func TestMain(m *testing.M) {
	// controller-runtime's informers log through its global logger; the
	// Watcher's own records go to slog.
	ctrllog.SetLogger(logr.Discard())
	os.Exit(shared.Main(m))
}
