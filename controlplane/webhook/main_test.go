package webhook

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/weftmesh/weft/controlplane/kube/kubetest"
)

// shared is the one API server the tests of this binary share; started by
// the first test that asks for it, stopped by TestMain.
var shared struct {
	once sync.Once
	env  *kubetest.Env
	err  error
}

func TestMain(m *testing.M) {
	flag.Parse()
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

// startKube returns a client of the shared API server. It skips t under
// -short.
func startKube(t *testing.T) kubernetes.Interface {
	t.Helper()
	if testing.Short() {
		t.Skip("skipping a test against a real kube-apiserver (envtest) under -short")
	}
	shared.once.Do(func() { shared.env, shared.err = kubetest.Start(kubetest.Options{WithoutGatewayAPI: true}) })
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	hc, err := rest.HTTPClientFor(shared.env.Config)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hc.CloseIdleConnections)
	kc, err := kubernetes.NewForConfigAndClient(shared.env.Config, hc)
	if err != nil {
		t.Fatal(err)
	}
	return kc
}

// testWriter sends logs to the test's.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// counter is the value of one counter of a CounterVec.
func counter(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
