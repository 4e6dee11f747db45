// Package kubetest starts a real kube-apiserver and etcd (envtest) with
// every CRD the control plane reads installed: Weft's own from
// install/crds and the Gateway API's standard channel from the
// sigs.k8s.io/gateway-api module's own YAML, at the version go.mod
// requires, so tests exercise the schemas users install. It is for tests
// only, as net/http/httptest is.
package kubetest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// gatewayModule is the Go module whose CRD YAML is installed.
const gatewayModule = "sigs.k8s.io/gateway-api"

// Env is a running kube-apiserver and etcd.
type Env struct {
	// Config reaches the API server as an administrator.
	Config *rest.Config
	env    *envtest.Environment
	log    *lockedBuffer // the API server's output
}

// Options change what Start installs.
type Options struct {
	// WithoutGatewayAPI leaves the Gateway API CRDs out, as in a cluster
	// that has not installed them.
	WithoutGatewayAPI bool
	// Args are more kube-apiserver flags (name without dashes → value),
	// e.g. service-cluster-ip-range for tests whose Services' ClusterIPs
	// must come from the test address ranges.
	Args map[string]string
}

// Start starts kube-apiserver and etcd from KUBEBUILDER_ASSETS and installs
// the CRDs. Stop it with Stop. Most tests want StartT.
func Start(opts Options) (*Env, error) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		return nil, errors.New("KUBEBUILDER_ASSETS is unset: this test runs a real kube-apiserver and etcd. " +
			"Run `make test`, or build them with hack/envtest.sh and run " +
			"KUBEBUILDER_ASSETS=$(hack/envtest.sh) go test ./<package>/")
	}
	paths, err := CRDPaths()
	if err != nil {
		return nil, err
	}
	if opts.WithoutGatewayAPI {
		paths = paths[:1]
	}
	useExisting := false
	env := &envtest.Environment{
		UseExistingCluster:       &useExisting,
		ControlPlaneStartTimeout: 2 * time.Minute,
		CRDDirectoryPaths:        paths,
		ErrorIfCRDPathMissing:    true,
	}
	apiserver := env.ControlPlane.GetAPIServer()
	apiserver.Configure().
		// Advertise loopback, never this machine's other addresses; no
		// kubernetes Service endpoints are kept for it.
		Set("advertise-address", "127.0.0.1").
		Set("endpoint-reconciler-type", "none")
	for name, value := range opts.Args {
		apiserver.Configure().Set(name, value)
	}
	// The API server's log is shown only when it does not start.
	out := &lockedBuffer{}
	apiserver.Out, apiserver.Err = out, out
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("start envtest (kube-apiserver and etcd from %s): %w\nkube-apiserver's output:\n%s",
			os.Getenv("KUBEBUILDER_ASSETS"), err, out.tail(4000))
	}
	return &Env{Config: cfg, env: env, log: out}, nil
}

// StartT starts an Env for t and stops it when t ends. It skips t under
// -short and fails it, saying how to get them, when the binaries are not
// there. When t fails, the end of the API server's log is logged: its
// controllers' errors (a CRD finalizer's, say) are often the why.
func StartT(t testing.TB, opts Options) *Env {
	t.Helper()
	if testing.Short() {
		t.Skip("skipping a test against a real kube-apiserver (envtest) under -short")
	}
	e, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the end of kube-apiserver's log:\n%s", e.log.tail(8000))
		}
		if err := e.Stop(); err != nil {
			t.Errorf("stop envtest: %v", err)
		}
	})
	return e
}

// Stop stops the API server and etcd.
func (e *Env) Stop() error { return e.env.Stop() }

// CRDPaths are the directories of the CRDs Start installs: this module's
// install/crds and the Gateway API module's config/crd/standard, both
// found with `go list -m`, which works wherever `go test` does (the
// module cache holds the Gateway API module as soon as anything importing
// it is built).
func CRDPaths() ([]string, error) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		return nil, fmt.Errorf("finding the CRDs: the go command is needed to locate modules: %w", err)
	}
	cmd := exec.Command(goTool, "list", "-m", "-f", "{{.Dir}}", "github.com/weftmesh/weft", gatewayModule) //nolint:gosec // the go command from PATH, fixed arguments
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("finding the CRDs: go list -m: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	dirs := strings.Fields(string(out))
	if len(dirs) != 2 {
		return nil, fmt.Errorf("finding the CRDs: go list -m printed %q, want two module directories (run `go mod download %s`)", out, gatewayModule)
	}
	paths := []string{filepath.Join(dirs[0], "install", "crds"), filepath.Join(dirs[1], "config", "crd", "standard")}
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("finding the CRDs: %w", err)
		}
	}
	return paths, nil
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
