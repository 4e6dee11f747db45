package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/weftmesh/weft/injector"
)

// statOptions are weftctl stat's flags.
type statOptions struct {
	kf        kubeFlags
	since     time.Duration
	adminURLs []string
}

func newStatCmd(s streams) *cobra.Command {
	var o statOptions
	cmd := &cobra.Command{
		Use:   "stat [namespace[/NAME] | deployment/NAME]",
		Short: "Golden metrics per workload, read from the sidecars",
		Long: `stat shows, for each meshed workload, what its sidecars counted as the
destination of requests (weft_requests_total and
weft_request_duration_seconds with reporter="destination", docs/metrics.md):

  SUCCESS  share of requests answered with a status below 500
  RPS      requests per second
  P50 P95 P99  latency, estimated from the histogram's buckets
  MTLS     share of requests whose client proved its SPIFFE identity

It reads /metrics from every injected pod's admin port (15000) through a
port-forward by the API server, twice, --since apart. --since 0 reads once
and counts since each sidecar started.`,
		Example: `  weftctl stat -n shop
  weftctl stat deployment/web -n shop --since 30s
  weftctl stat --admin-url http://127.0.0.1:15000 --since 0`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageErrorf("stat takes at most one resource (namespace, namespace/NAME or deployment/NAME), got %d", len(args))
			}
			if len(args) == 1 {
				if _, _, err := parseStatResource(args[0]); err != nil {
					return err
				}
			}
			return nil
		},
		ValidArgsFunction: func(_ *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
			if len(args) == 0 {
				return []cobra.Completion{"namespace", "deployment/"}, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
			}
			return nil, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.since < 0 {
				return usageErrorf("--since %s must not be negative", o.since)
			}
			arg := ""
			if len(args) == 1 {
				arg = args[0]
			}
			return runStat(cmd.Context(), s, &o, arg)
		},
	}
	o.kf.register(cmd.Flags())
	cmd.Flags().DurationVar(&o.since, "since", time.Minute, "window of the rates: two scrapes this far apart; 0 counts since each sidecar started")
	cmd.Flags().StringArrayVar(&o.adminURLs, "admin-url", nil, "read a sidecar's admin port at this URL instead of the cluster's pods (repeatable)")
	return cmd
}

// parseStatResource reads stat's argument: the workloads of a namespace,
// or one workload ("namespace/NAME" or "deployment/NAME").
func parseStatResource(arg string) (kind, name string, err error) {
	kind, name, _ = strings.Cut(arg, "/")
	switch kind {
	case "namespace", "namespaces", "ns":
		return "namespace", name, nil
	case "deployment", "deployments", "deploy":
		if name == "" {
			return "", "", usageErrorf("%q: deployment/NAME needs a name", arg)
		}
		return "deployment", name, nil
	}
	return "", "", usageErrorf("%q: want namespace, namespace/NAME or deployment/NAME", arg)
}

func runStat(ctx context.Context, s streams, o *statOptions, arg string) error {
	var (
		cfg       *rest.Config
		targets   []proxyTarget
		namespace string
		workload  string
	)
	if len(o.adminURLs) > 0 {
		for _, u := range o.adminURLs {
			targets = append(targets, proxyTarget{URL: u})
		}
	} else {
		var err error
		if cfg, namespace, err = o.kf.restConfig(); err != nil {
			return err
		}
		kind, name, _ := parseStatResource(arg)
		if kind == "namespace" && name != "" {
			namespace = name
		}
		if kind == "deployment" {
			workload = name
		}
		if targets, err = meshedPods(ctx, cfg, namespace, workload); err != nil {
			return err
		}
		if len(targets) == 0 {
			return fmt.Errorf("no pod with a weft-proxy sidecar in namespace %s%s (is the namespace labelled weft.dev/inject=enabled?)", namespace, forWorkload(workload))
		}
	}
	var before []*scrape
	if o.since > 0 {
		var err error
		if before, err = scrapeAll(ctx, cfg, targets); err != nil {
			return err
		}
		fmt.Fprintf(s.err, "reading %d sidecars again in %s...\n", len(targets), o.since)
		t := time.NewTimer(o.since)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
	after, err := scrapeAll(ctx, cfg, targets)
	if err != nil {
		return err
	}
	pods := make([]podScrapes, len(after))
	for i := range after {
		pods[i].after = after[i]
		if before != nil {
			pods[i].before = before[i]
		}
	}
	rows := aggregate(pods)
	if workload != "" {
		rows = keepWorkload(rows, namespace, workload)
	}
	return writeStat(s.out, rows)
}

func forWorkload(w string) string {
	if w == "" {
		return ""
	}
	return " for deployment " + w
}

func keepWorkload(rows []workloadStat, namespace, name string) []workloadStat {
	var out []workloadStat
	for _, r := range rows {
		if r.name == name && r.namespace == namespace {
			out = append(out, r)
		}
	}
	return out
}

// meshedPods lists the running pods of namespace with a weft-proxy
// sidecar, those of the Deployment named deployment when it is not empty.
func meshedPods(ctx context.Context, cfg *rest.Config, namespace, deployment string) ([]proxyTarget, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	opts := metav1.ListOptions{}
	if deployment != "" {
		d, err := cs.AppsV1().Deployments(namespace).Get(ctx, deployment, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("deployment %s/%s: %w", namespace, deployment, err)
		}
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil {
			return nil, fmt.Errorf("deployment %s/%s selector: %w", namespace, deployment, err)
		}
		opts.LabelSelector = sel.String()
	}
	pods, err := cs.CoreV1().Pods(namespace).List(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("listing pods of %s: %w", namespace, err)
	}
	var out []proxyTarget
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.Status.Phase == corev1.PodRunning && hasSidecar(p) {
			out = append(out, proxyTarget{Namespace: p.Namespace, Pod: p.Name})
		}
	}
	return out, nil
}

// hasSidecar reports a weft-proxy container, native sidecar or not.
func hasSidecar(p *corev1.Pod) bool {
	for _, cs := range [][]corev1.Container{p.Spec.InitContainers, p.Spec.Containers} {
		for _, c := range cs {
			if c.Name == injector.ProxyContainerName {
				return true
			}
		}
	}
	return false
}

// scrapeAll reads /metrics of every target, in order.
func scrapeAll(ctx context.Context, cfg *rest.Config, targets []proxyTarget) ([]*scrape, error) {
	out := make([]*scrape, 0, len(targets))
	var errs []error
	for _, t := range targets {
		body, err := proxyGet(ctx, cfg, t, "/metrics")
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", targetName(t), err))
			continue
		}
		sc, err := parseScrape(body, time.Now())
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", targetName(t), err))
			continue
		}
		out = append(out, sc)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func targetName(t proxyTarget) string {
	if t.URL != "" {
		return t.URL
	}
	return t.Namespace + "/" + t.Pod
}

// writeStat prints the rows as a table.
func writeStat(w io.Writer, rows []workloadStat) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tWORKLOAD\tPODS\tREQUESTS\tSUCCESS\tRPS\tP50\tP95\tP99\tMTLS")
	for _, r := range rows {
		name := r.name
		if name == "" {
			name = "(unknown)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.namespace, name, r.pods,
			strconv.FormatFloat(r.requests, 'f', 0, 64), percent(r.success), perSecond(r.rps),
			millis(r.p50), millis(r.p95), millis(r.p99), percent(r.mtls))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing the table: %w", err)
	}
	if len(rows) == 0 {
		fmt.Fprintln(w, "No requests counted yet: send traffic to the workloads, or widen --since.")
	}
	return nil
}

func percent(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return strconv.FormatFloat(100*v, 'f', 2, 64) + "%"
}

func perSecond(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

func millis(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	ms := v * 1000
	if ms < 10 {
		return strconv.FormatFloat(ms, 'f', 2, 64) + "ms"
	}
	return strconv.FormatFloat(ms, 'f', 0, 64) + "ms"
}
