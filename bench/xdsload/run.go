package xdsload

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// Result is one variant's figures.
type Result struct {
	Variant string
	// Latencies are, per change, from the start of Update to the last
	// affected proxy's ACK.
	Latencies []time.Duration
	// Updates are the durations of xds.Server.Update, per change.
	Updates []time.Duration
	// Affected is the number of proxies each change reaches.
	Affected int
	// Connect is the time for every proxy to connect and receive its
	// whole configuration.
	Connect time.Duration
	// CPUConnect and CPUChanges are the server's CPU seconds while the
	// proxies connected and during the changes.
	CPUConnect, CPUChanges float64
	// HeapBytes, RSSBytes are the server's after the changes; PeakRSSBytes
	// its high-water mark over the run.
	HeapBytes, RSSBytes, PeakRSSBytes int64
	// StackBytes are the goroutine stacks' (a few goroutines per stream).
	StackBytes int64
}

// Run runs every variant of cfg, the server being exe run as
// `exe xds-server` with the same sizes, and prints a table on cfg.Out.
func Run(ctx context.Context, cfg Config, exe string) ([]Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "weft-bench-xds-")
	if err != nil {
		return nil, fmt.Errorf("creating a working directory: %w", err)
	}
	defer func() { _ = os.RemoveAll(dir) }()
	p, err := newPKI()
	if err != nil {
		return nil, err
	}
	if err := p.writeServer(dir); err != nil {
		return nil, err
	}
	mesh := NewMesh(cfg)
	certs := map[string]tls.Certificate{}
	for c := range cfg.Clients {
		id := mesh.Identity(c).String()
		if _, ok := certs[id]; !ok {
			if certs[id], err = p.issue(id); err != nil {
				return nil, err
			}
		}
	}
	var results []Result
	for _, v := range cfg.Variants {
		r, err := runVariant(ctx, cfg, exe, dir, v, mesh, p, certs)
		if err != nil {
			return results, fmt.Errorf("%s: %w", v, err)
		}
		results = append(results, r)
	}
	printResults(cfg, results)
	return results, nil
}

// ChildArgs are the arguments that make exe the server of cfg.
func ChildArgs(cfg Config, dir string) []string {
	return []string{
		"xds-server", "--dir", dir,
		"--clients", strconv.Itoa(cfg.Clients), "--services", strconv.Itoa(cfg.Services),
		"--endpoints-per-service", strconv.Itoa(cfg.EndpointsPerService),
		"--services-per-client", strconv.Itoa(cfg.ServicesPerClient), "--namespaces", strconv.Itoa(cfg.Namespaces),
	}
}

// child is the running server process.
type child struct {
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Scanner
	cancel context.CancelFunc
}

// startChild starts the xDS server child (exe args) and returns it with
// the address it announced ("listening <addr>"). ctx ends the process;
// stop closes its stdin and waits for it. A memoryLimit is the child's
// GOMEMLIMIT (empty: none).
func startChild(ctx context.Context, exe string, args []string, memoryLimit string) (*child, string, error) {
	ctx, cancel := context.WithCancel(ctx)
	cmd := exec.CommandContext(ctx, exe, args...) //nolint:gosec // our own binary
	cmd.Stderr = os.Stderr
	if memoryLimit != "" {
		cmd.Env = append(os.Environ(), "GOMEMLIMIT="+memoryLimit)
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		cancel()
		return nil, "", fmt.Errorf("server stdin: %w", err)
	}
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		return nil, "", fmt.Errorf("server stdout: %w", err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, "", fmt.Errorf("starting the server: %w", err)
	}
	ch := &child{cmd: cmd, in: in, out: bufio.NewScanner(outPipe), cancel: cancel}
	if !ch.out.Scan() {
		ch.stop()
		return nil, "", fmt.Errorf("the server did not start: %w", ch.out.Err())
	}
	addr, ok := strings.CutPrefix(ch.out.Text(), "listening ")
	if !ok {
		ch.stop()
		return nil, "", fmt.Errorf("the server said %q", ch.out.Text())
	}
	return ch, addr, nil
}

// stop ends the child and waits for it.
func (c *child) stop() {
	_ = c.in.Close()
	c.cancel()
	_ = c.cmd.Wait()
}

// stats asks for the server's figures (selfStats).
func (c *child) stats() ([]string, error) {
	f, err := c.ask("stats", "stats")
	if err == nil && len(f) != 5 {
		err = fmt.Errorf("the server's stats are %v", f)
	}
	return f, err
}

func (c *child) ask(line, want string) ([]string, error) {
	if _, err := fmt.Fprintln(c.in, line); err != nil {
		return nil, fmt.Errorf("writing to the server: %w", err)
	}
	if !c.out.Scan() {
		return nil, fmt.Errorf("the server ended: %w", c.out.Err())
	}
	f := strings.Fields(c.out.Text())
	if len(f) == 0 || f[0] != want {
		return nil, fmt.Errorf("the server answered %q to %q", c.out.Text(), line)
	}
	return f[1:], nil
}

func runVariant(ctx context.Context, cfg Config, exe, dir, variant string, mesh *Mesh, p *pki, certs map[string]tls.Certificate) (Result, error) {
	res := Result{Variant: variant}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, addr, err := startChild(ctx, exe, ChildArgs(cfg, dir), cfg.ServerMemoryLimit)
	if err != nil {
		return res, err
	}
	defer ch.stop()
	before, err := ch.stats()
	if err != nil {
		return res, err
	}

	board := newBoard()
	start := time.Now()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for c := range cfg.Clients {
		creds := credentials.NewTLS(&tls.Config{
			MinVersion: tls.VersionTLS13, RootCAs: p.pool(), ServerName: "127.0.0.1",
			Certificates: []tls.Certificate{certs[mesh.Identity(c).String()]},
		})
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
		if err != nil {
			return res, fmt.Errorf("client %d: %w", c, err)
		}
		px := &proxy{node: mesh.NodeID(c), id: c, board: board}
		for _, s := range mesh.Services(c) {
			px.clusters = append(px.clusters, mesh.ClusterName(s))
		}
		wg.Go(func() {
			defer func() { _ = conn.Close() }()
			err := px.follow(ctx, conn, variant)
			if ctx.Err() == nil {
				board.fail(fmt.Errorf("proxy %s: %w", px.node, err))
			}
		})
	}
	if err := board.waitReady(ctx, cfg.Clients, cfg.Timeout); err != nil {
		return res, err
	}
	res.Connect = time.Since(start)
	connected, err := ch.stats()
	if err != nil {
		return res, err
	}

	callers := map[int][]int{}
	for i := 1; i <= cfg.Changes; i++ {
		s := mesh.ChangedService(i)
		if _, ok := callers[s]; !ok {
			callers[s] = mesh.Callers(s)
		}
		f, err := ch.ask("update "+strconv.Itoa(i), "updated")
		if err != nil {
			return res, err
		}
		if len(f) != 2 {
			return res, fmt.Errorf("the server answered %v", f)
		}
		startNS, _ := strconv.ParseInt(f[0], 10, 64)
		durNS, _ := strconv.ParseInt(f[1], 10, 64)
		last, err := board.waitChange(ctx, i, callers[s], cfg.Timeout)
		if err != nil {
			return res, err
		}
		res.Latencies = append(res.Latencies, last.Sub(time.Unix(0, startNS)))
		res.Updates = append(res.Updates, time.Duration(durNS))
		res.Affected = len(callers[s])
	}
	after, err := ch.stats()
	if err != nil {
		return res, err
	}
	if cfg.ProfileDir != "" {
		if _, err := ch.ask("heap "+filepath.Join(cfg.ProfileDir, "xds-heap-"+variant+".pprof"), "heap"); err != nil {
			return res, err
		}
	}
	res.CPUConnect = parseFloat(connected[0]) - parseFloat(before[0])
	res.CPUChanges = parseFloat(after[0]) - parseFloat(connected[0])
	res.HeapBytes = parseInt(after[1])
	res.RSSBytes = parseInt(after[2])
	res.PeakRSSBytes = parseInt(after[3])
	res.StackBytes = parseInt(after[4])
	return res, nil
}

func parseFloat(s string) float64 { f, _ := strconv.ParseFloat(s, 64); return f }
func parseInt(s string) int64     { n, _ := strconv.ParseInt(s, 10, 64); return n }

// board collects what the proxies report: who has its whole
// configuration, and when each proxy first acknowledged each change.
type board struct {
	mu    sync.Mutex
	ready map[int]bool
	acked map[int]map[int]time.Time // change → proxy → time
	err   error
}

func newBoard() *board {
	return &board{ready: map[int]bool{}, acked: map[int]map[int]time.Time{}}
}

func (b *board) fail(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err == nil {
		b.err = err
	}
}

func (b *board) setReady(c int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.ready[c] = true
}

func (b *board) ack(c, change int, at time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	m := b.acked[change]
	if m == nil {
		m = map[int]time.Time{}
		b.acked[change] = m
	}
	if _, ok := m[c]; !ok {
		m[c] = at
	}
}

// poll calls done every millisecond until it reports true, the board
// records a failure or the timeout passes.
func (b *board) poll(ctx context.Context, timeout time.Duration, what string, done func() (bool, string)) error {
	deadline := time.Now().Add(timeout)
	for {
		b.mu.Lock()
		ok, state := done()
		err := b.err
		b.mu.Unlock()
		switch {
		case ok:
			return nil
		case err != nil:
			return err
		case time.Now().After(deadline):
			return fmt.Errorf("%s: not within %v (%s)", what, timeout, state)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
}

func (b *board) waitReady(ctx context.Context, n int, timeout time.Duration) error {
	return b.poll(ctx, timeout, "proxies getting their configuration", func() (bool, string) {
		return len(b.ready) == n, fmt.Sprintf("%d of %d", len(b.ready), n)
	})
}

// waitChange waits for every proxy of callers to acknowledge change and
// returns the latest acknowledgement.
func (b *board) waitChange(ctx context.Context, change int, callers []int, timeout time.Duration) (time.Time, error) {
	var last time.Time
	err := b.poll(ctx, timeout, fmt.Sprintf("change %d", change), func() (bool, string) {
		m := b.acked[change]
		for _, c := range callers {
			at, ok := m[c]
			if !ok {
				return false, fmt.Sprintf("%d of %d proxies", len(m), len(callers))
			}
			if at.After(last) {
				last = at
			}
		}
		return true, ""
	})
	return last, err
}

// quantile is the q-quantile of ds (nearest rank).
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
func mb(b int64) string         { return fmt.Sprintf("%.0f MB", float64(b)/1e6) }

func printResults(cfg Config, rs []Result) {
	fmt.Fprintf(cfg.Out, "xDS at scale: %d proxies, %d services × %d endpoints, %d services per proxy, %d changes; server in its own process, TLS on loopback\n\n",
		cfg.Clients, cfg.Services, cfg.EndpointsPerService, cfg.ServicesPerClient, cfg.Changes)
	steps := make([][]time.Duration, len(rs))
	for i, r := range rs {
		steps[i] = r.Updates
	}
	printTable(cfg.Out, "change → last ACK", "Update", rs, steps)
}

// printTable prints one row per variant and whether the issue's goals are
// met; steps are each variant's durations of the step named stepName (the
// Update call, or the API server write), of which the p50 is shown.
func printTable(w io.Writer, latencyName, stepName string, rs []Result, steps [][]time.Duration) {
	fmt.Fprintf(w, "| variant | %s p50 | p99 | max | %s p50 | proxies per change | connect all | CPU connect | CPU changes | heap | stacks | RSS | peak RSS |\n", latencyName, stepName)
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for i, r := range rs {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %d | %s | %.2f s | %.2f s | %s | %s | %s | %s |\n",
			r.Variant, ms(quantile(r.Latencies, 0.5)), ms(quantile(r.Latencies, 0.99)), ms(quantile(r.Latencies, 1)),
			ms(quantile(steps[i], 0.5)), r.Affected, ms(r.Connect), r.CPUConnect, r.CPUChanges,
			mb(r.HeapBytes), mb(r.StackBytes), mb(r.RSSBytes), mb(r.PeakRSSBytes))
	}
	var missed []string
	for _, r := range rs {
		if p99 := quantile(r.Latencies, 0.99); p99 >= 100*time.Millisecond {
			missed = append(missed, fmt.Sprintf("%s p99 %s ≥ 100 ms", r.Variant, ms(p99)))
		}
		if r.PeakRSSBytes >= 300e6 {
			missed = append(missed, fmt.Sprintf("%s peak RSS %s ≥ 300 MB", r.Variant, mb(r.PeakRSSBytes)))
		}
	}
	if len(missed) == 0 {
		fmt.Fprintln(w, "\ngoals (p99 < 100 ms, memory < 300 MB): met")
	} else {
		fmt.Fprintln(w, "\ngoals (p99 < 100 ms, memory < 300 MB): missed:", strings.Join(missed, "; "))
	}
}
