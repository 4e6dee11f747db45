package webhook

import (
	"os"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/weftmesh/weft/controlplane/kube/kubetest"
)

// shared is the one API server the tests of this binary share.
var shared = &kubetest.Shared{Options: kubetest.Options{WithoutGatewayAPI: true}}

func TestMain(m *testing.M) { os.Exit(shared.Main(m)) }

// startKube returns a client of the shared API server. It skips t under
// -short.
func startKube(t *testing.T) kubernetes.Interface {
	t.Helper()
	env := shared.Env(t)
	hc, err := rest.HTTPClientFor(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hc.CloseIdleConnections)
	kc, err := kubernetes.NewForConfigAndClient(env.Config, hc)
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
