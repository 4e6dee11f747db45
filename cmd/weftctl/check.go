package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// What `weftctl check` looks for, as the chart installs it (DESIGN.md).
const (
	weftNamespace       = "weft-system"
	controlPlaneName    = "weft-controlplane" // Deployment and Service
	webhookConfigName   = "weft-sidecar-injector"
	controlPlaneMonPort = "15014"
	// checkTimeout bounds each check, so that one unreachable component
	// does not hold up the report on the others.
	checkTimeout = 30 * time.Second
)

// checkLevel is how a check came out.
type checkLevel int

const (
	checkPassed checkLevel = iota
	// checkWarned is a problem that leaves the mesh working (say, no
	// Gateway API): reported, not failed.
	checkWarned
	checkFailed
)

// checkResult is one line of `weftctl check`: what was checked and, when
// it did not pass, why and how to fix it.
type checkResult struct {
	level checkLevel
	what  string
	why   string
	hint  string
}

func passed(what string) checkResult { return checkResult{level: checkPassed, what: what} }

func failed(what, why, hint string) checkResult {
	return checkResult{level: checkFailed, what: what, why: why, hint: hint}
}

func warned(what, why, hint string) checkResult {
	return checkResult{level: checkWarned, what: what, why: why, hint: hint}
}

// write prints r as "✔ what", or "✖ what: why" (or "! what: why") and an
// indented hint.
func (r checkResult) write(w io.Writer) {
	switch r.level {
	case checkPassed:
		fmt.Fprintf(w, "✔ %s\n", r.what)
		return
	case checkWarned:
		fmt.Fprintf(w, "! %s: %s\n", r.what, r.why)
	default:
		fmt.Fprintf(w, "✖ %s: %s\n", r.what, r.why)
	}
	if r.hint != "" {
		fmt.Fprintf(w, "    hint: %s\n", r.hint)
	}
}

// checker runs the checks against one cluster.
type checker struct {
	cs  kubernetes.Interface
	dyn dynamic.Interface
	cfg *rest.Config
	// namespace is where Weft is installed.
	namespace string
	// controlPlaneURLs, when set, are read for /debug/proxies instead of
	// the control plane's pods through the API server.
	controlPlaneURLs []string
	now              func() time.Time
}

// checkFunc is one check; some report more than one line.
type checkFunc func(ctx context.Context) []checkResult

func (c *checker) preInstall() []checkFunc {
	return []checkFunc{c.checkVersion, c.checkPermissions, c.checkGatewayAPI}
}

func (c *checker) postInstall() []checkFunc {
	return []checkFunc{c.checkCRDs, c.checkControlPlane, c.checkWebhook, c.checkProxies}
}

// run runs checks in order, printing each line as it comes, and returns how
// many failed.
func (c *checker) run(ctx context.Context, checks []checkFunc, out io.Writer) int {
	n := 0
	for _, check := range checks {
		cctx, cancel := context.WithTimeout(ctx, checkTimeout)
		results := check(cctx)
		cancel()
		for _, r := range results {
			r.write(out)
			if r.level == checkFailed {
				n++
			}
		}
	}
	return n
}

func newCheckCmd(s streams) *cobra.Command {
	var (
		kf     kubeFlags
		pre    bool
		cpURLs []string
	)
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Check that a cluster can run Weft (--pre), or that Weft works in it",
		Long: `check reports, one line per check, what works (✔), what does not (✖, with a
hint on how to fix it) and what only limits Weft (!). It exits with status 1
when a check failed.

With --pre, before installing: the Kubernetes version, your permissions to
install Weft, and the Gateway API CRDs.

Without, after installing: Weft's CRDs, the control plane Deployment, the
CA root, the injection webhook (its configuration, its certificate, and a
server-side dry-run Pod create in a namespace labelled
weft.dev/inject=enabled that proves the API server reaches it), and every
injected proxy connected to the control plane and in sync.

-n names the namespace Weft is installed in (default weft-system).
See docs/troubleshooting.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newChecker(&kf, cmd.Flags().Changed("namespace"), cpURLs)
			if err != nil {
				return err
			}
			checks := c.postInstall()
			if pre {
				checks = c.preInstall()
			}
			if n := c.run(cmd.Context(), checks, s.out); n > 0 {
				return fmt.Errorf("%d %s failed", n, plural(n, "check", "checks"))
			}
			return nil
		},
	}
	kf.register(cmd.Flags())
	cmd.Flags().BoolVar(&pre, "pre", false, "check the cluster before installing Weft")
	cmd.Flags().StringSliceVar(&cpURLs, "control-plane-url", nil,
		"read the control plane's /debug/proxies at this URL (e.g. http://127.0.0.1:15014, after kubectl port-forward) instead of through the API server; repeat for each replica")
	return cmd
}

// newChecker connects to the cluster kf names; Weft's namespace is -n when
// given, weft-system otherwise.
func newChecker(kf *kubeFlags, namespaceSet bool, cpURLs []string) (*checker, error) {
	cfg, ns, err := kf.restConfig()
	if err != nil {
		return nil, err
	}
	if !namespaceSet {
		ns = weftNamespace
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return &checker{cs: cs, dyn: dyn, cfg: cfg, namespace: ns, controlPlaneURLs: cpURLs, now: time.Now}, nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
