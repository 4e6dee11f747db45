//go:build e2e

// Package e2e runs Weft on a real two-node Kubernetes built on this
// machine (package integration/cluster, docs/e2e.md): Weft installed with
// its own chart by weftctl, MetalLB for LoadBalancer addresses, and the
// scenarios of the end-to-end issue, each a test. `make e2e` builds what
// it needs and runs it as root.
package e2e

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/weftmesh/weft/controlplane/kube"
	"github.com/weftmesh/weft/controlplane/kube/kubetest"
	"github.com/weftmesh/weft/integration/cluster"
)

// env is the cluster every test shares, set up once by TestMain.
var env struct {
	cluster *cluster.Cluster
	rest    *rest.Config
	client  client.Client
	kube    kubernetes.Interface
	bin     string // weftctl and the other Weft binaries
}

// Settings, from make e2e.
var (
	keep = flag.Bool("keep", false, "leave the cluster running after the tests (for debugging; the next run cleans it up)")
)

func TestMain(m *testing.M) {
	flag.Parse()
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "e2e: the real cluster needs root; skipping")
		os.Exit(0)
	}
	code, err := run(m)
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func run(m *testing.M) (code int, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	root, err := filepath.Abs("../..")
	if err != nil {
		return 0, err
	}
	env.bin = envOr("WEFT_E2E_BIN", filepath.Join(root, "bin"))
	cfg := cluster.Config{
		StateDir:  envOr("WEFT_E2E_DIR", "/var/lib/weft-e2e"),
		BinDir:    envOr("WEFT_E2E_CLUSTER_BIN", filepath.Join(root, "bin", "cluster", "v1.37.2")),
		ImagesDir: envOr("WEFT_E2E_IMAGES", filepath.Join(root, "bin", "images")),
		Worker:    true, // TestAcrossNodes; its taint keeps the other scenarios on the first node
		Logger:    slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})),
	}
	start := time.Now()
	c, err := cluster.Up(ctx, cfg)
	if err != nil {
		return 0, fmt.Errorf("bringing the cluster up: %w", err)
	}
	defer func() {
		if *keep {
			fmt.Fprintf(os.Stderr, "e2e: cluster kept; KUBECONFIG=%s\n", c.Kubeconfig())
			return
		}
		downCtx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if derr := c.Down(downCtx); derr != nil && err == nil {
			err = fmt.Errorf("tearing the cluster down: %w", derr)
		}
	}()
	fmt.Fprintf(os.Stderr, "e2e: cluster up in %v\n", time.Since(start).Round(time.Millisecond))
	env.cluster = c
	env.rest = c.RESTConfig()
	scheme, err := kube.NewScheme()
	if err != nil {
		return 0, err
	}
	if env.client, err = client.New(env.rest, client.Options{Scheme: scheme}); err != nil {
		return 0, err
	}
	if env.kube, err = kubernetes.NewForConfig(env.rest); err != nil {
		return 0, err
	}

	tarballs, err := filepath.Glob(filepath.Join(cfg.ImagesDir, "*.tar"))
	if err != nil || len(tarballs) == 0 {
		return 0, fmt.Errorf("no image tarballs in %s: run make images e2e-images", cfg.ImagesDir)
	}
	if err := c.ImportImages(ctx, tarballs...); err != nil {
		return 0, fmt.Errorf("importing images: %w", err)
	}
	if err := installGatewayAPI(ctx); err != nil {
		return 0, err
	}
	if err := installWeft(ctx, c.Kubeconfig()); err != nil {
		return 0, err
	}
	fmt.Fprintf(os.Stderr, "e2e: Weft installed %v after start\n", time.Since(start).Round(time.Millisecond))
	return m.Run(), nil
}

// installGatewayAPI applies the Gateway API's standard CRDs, as a user
// does before installing Weft (docs/install.md).
func installGatewayAPI(ctx context.Context) error {
	paths, err := kubetest.CRDPaths()
	if err != nil {
		return err
	}
	for _, p := range paths {
		if !strings.Contains(p, "gateway") {
			continue
		}
		files, err := filepath.Glob(filepath.Join(p, "*.yaml"))
		if err != nil {
			return err
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				return err
			}
			if err := applyYAML(ctx, data); err != nil {
				return fmt.Errorf("applying %s: %w", f, err)
			}
		}
	}
	return nil
}

// installWeft runs `weftctl install` as a user would, with the images
// this build made and imported (no registry: pullPolicy Never) and the
// extra --set values; run again, it upgrades.
func installWeft(ctx context.Context, kubeconfig string, set ...string) error {
	version := os.Getenv("WEFT_E2E_VERSION")
	if version == "" {
		return fmt.Errorf("WEFT_E2E_VERSION is not set: the tag of the images make images built")
	}
	cmd := exec.CommandContext(ctx, filepath.Join(env.bin, "weftctl"), "install",
		"--kubeconfig", kubeconfig,
		"--set-string", "images.tag="+version, // a commit such as 3547958 is no number
		"--set", "images.pullPolicy=Never",
		"--set", "controlPlane.replicas=1",
		"--set", "controlPlane.accessLog=true", // TestMeshedClientToClusterIP reads a sidecar's
		"--timeout", "5m")
	for _, v := range set {
		cmd.Args = append(cmd.Args, "--set", v)
	}
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("weftctl install: %w", err)
	}
	return nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// requireCluster skips a test run outside TestMain's cluster (go vet,
// a test binary run by hand without root).
func requireCluster(t *testing.T) {
	t.Helper()
	if env.cluster == nil {
		t.Skip("no cluster")
	}
}
