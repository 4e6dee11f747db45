package v1alpha1_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"
)

// TestAPIServerRefusesWhatGoRefuses installs install/crds into a real
// kube-apiserver (envtest) and creates every object of the shared table:
// the API server must refuse exactly the objects the Go validators refuse,
// with an error naming the same field. A user running `kubectl apply`
// sees that error.
func TestAPIServerRefusesWhatGoRefuses(t *testing.T) {
	c := startEnvtest(t)
	const ns = "policies"
	if err := c.Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	for i, pc := range policyCases {
		t.Run(pc.kind+"/"+pc.name, func(t *testing.T) {
			obj := &unstructured.Unstructured{}
			doc := pc.manifest(fmt.Sprintf("case-%d", i), ns)
			if err := yaml.Unmarshal([]byte(doc), &obj.Object); err != nil {
				t.Fatalf("decode:\n%s\n%v", doc, err)
			}
			err := c.Create(t.Context(), obj, client.FieldValidation("Strict"))
			if err != nil && !apierrors.IsInvalid(err) {
				t.Fatalf("create: %v (want success or an Invalid error)", err)
			}
			got := ""
			if err != nil {
				got = err.Error()
				t.Logf("kubectl apply says: %s", got)
			}
			pc.check(t, "the API server", got)
		})
	}
}

// startEnvtest starts kube-apiserver and etcd from KUBEBUILDER_ASSETS with
// Weft's CRDs installed, and stops them when the test ends. It skips under
// -short and fails when the binaries are not there, saying how to get
// them (as controlplane/ca's envtest tests do).
func startEnvtest(t *testing.T) client.Client {
	t.Helper()
	if testing.Short() {
		t.Skip("skipping a test against a real kube-apiserver (envtest) under -short")
	}
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Fatal("KUBEBUILDER_ASSETS is unset: this test runs a real kube-apiserver and etcd. " +
			"Run `make test`, or build them with hack/envtest.sh and run " +
			"KUBEBUILDER_ASSETS=$(hack/envtest.sh) go test ./api/v1alpha1/")
	}
	useExisting := false
	env := &envtest.Environment{
		UseExistingCluster:       &useExisting,
		ControlPlaneStartTimeout: 2 * time.Minute,
		CRDDirectoryPaths:        []string{filepath.Join("..", "..", "install", "crds")},
		ErrorIfCRDPathMissing:    true,
	}
	apiserver := env.ControlPlane.GetAPIServer()
	apiserver.Configure().
		// Advertise loopback, never this machine's other addresses.
		Set("advertise-address", "127.0.0.1").
		Set("endpoint-reconciler-type", "none")
	// The API server's log is shown only when it does not start.
	var apiserverLog lockedBuffer
	apiserver.Out, apiserver.Err = &apiserverLog, &apiserverLog
	start := time.Now()
	cfg, err := env.Start()
	if err != nil {
		// A CRD the API server refuses (a CEL rule that does not compile
		// or costs too much) fails here.
		t.Fatalf("start envtest with install/crds (kube-apiserver and etcd from %s): %v\nkube-apiserver's output:\n%s",
			os.Getenv("KUBEBUILDER_ASSETS"), err, apiserverLog.tail(4000))
	}
	t.Logf("envtest started with the CRDs installed in %v", time.Since(start).Round(time.Millisecond))
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		httpClient.CloseIdleConnections()
		if err := env.Stop(); err != nil {
			t.Errorf("stop envtest: %v", err)
		}
	})
	c, err := client.New(cfg, client.Options{HTTPClient: httpClient})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// lockedBuffer collects a process's output.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// tail returns the last n bytes written.
func (b *lockedBuffer) tail(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.buf.Bytes()
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return string(out)
}
