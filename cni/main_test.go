package cni_test

import (
	"os"
	"sync"
	"testing"

	"github.com/weftmesh/weft/cni/cnitest"
	"github.com/weftmesh/weft/controlplane/kube/kubetest"
)

// shared is the one API server the tests of this binary share.
var shared = &kubetest.Shared{Options: kubetest.Options{WithoutGatewayAPI: true}}

// plugin builds ./cmd/weft-cni once for the binary's tests.
var plugin = &pluginBuild{}

func TestMain(m *testing.M) {
	code := shared.Main(m)
	plugin.remove()
	os.Exit(code)
}

type pluginBuild struct {
	once sync.Once
	dir  string
	err  error
}

// Dir returns a directory holding the weft-cni binary built from this
// checkout.
func (b *pluginBuild) Dir(t testing.TB) string {
	t.Helper()
	b.once.Do(func() {
		b.dir, b.err = os.MkdirTemp("", "weft-cni-test-")
		if b.err != nil {
			return
		}
		b.err = cnitest.BuildWeftCNI(b.dir)
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.dir
}

func (b *pluginBuild) remove() {
	if b.dir != "" {
		_ = os.RemoveAll(b.dir)
	}
}
