// Command weft-bench runs Weft's performance comparison (`make bench`):
//
//	weft-bench --bin-dir bin --results-dir bench/results
//
// It needs weft-controlplane and weft-proxy in --bin-dir and nginx and
// HAProxy on PATH (hack/bench-deps.sh installs them). See
// docs/performance.md.
//
//	weft-bench xds
//
// runs the control plane's scale benchmark instead (1,000 simulated xDS
// proxies; bench/xdsload).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/weftmesh/weft/bench"
)

func main() {
	if len(os.Args) > 1 && (os.Args[1] == "xds" || os.Args[1] == "xds-server") {
		mainXDS(os.Args[1], os.Args[2:])
		return
	}
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "weft-bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := bench.Run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "weft-bench:", err)
		stop()
		os.Exit(1) //nolint:gocritic // stop has run
	}
}

// mainXDS runs the subcommands of the control plane's scale benchmark.
func mainXDS(cmd string, args []string) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	run := runXDS
	if cmd == "xds-server" {
		run = runXDSServer
	}
	if err := run(ctx, args); err != nil {
		fmt.Fprintln(os.Stderr, "weft-bench "+cmd+":", err)
		stop()
		os.Exit(1) //nolint:gocritic // stop has run
	}
}

func parseFlags(args []string) (bench.Config, error) {
	cfg := bench.Default()
	cfg.Out = os.Stdout
	fs := flag.NewFlagSet("weft-bench", flag.ContinueOnError)
	fs.StringVar(&cfg.BinDir, "bin-dir", cfg.BinDir, "directory holding weft-controlplane and weft-proxy")
	fs.StringVar(&cfg.ResultsDir, "results-dir", cfg.ResultsDir, "where the JSON file of raw results goes (empty: none)")
	setups := fs.String("setups", strings.Join(cfg.Setups, ","), "set-ups to run: direct, weft, nginx, haproxy")
	fs.IntVar(&cfg.Repetitions, "repetitions", cfg.Repetitions, "repetitions of every measurement (medians are shown)")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "length of one constant-rate run")
	fs.DurationVar(&cfg.KneeStepDuration, "knee-step", cfg.KneeStepDuration, "length of one step of the knee search")
	fs.DurationVar(&cfg.OpenDuration, "open-duration", cfg.OpenDuration, "length of a new-connection or bulk run")
	fs.IntVar(&cfg.Rate, "rate", cfg.Rate, "requests per second of the latency runs")
	conns := fs.String("connections", joinInts(cfg.Connections), "connection counts of the HTTP/1.1 latency runs")
	knee := fs.String("knee-rates", joinInts(cfg.KneeRates), "rates of the knee search, increasing (empty: skip)")
	fs.IntVar(&cfg.KneeConnections, "knee-connections", cfg.KneeConnections, "connections of the knee search (one of --connections)")
	fs.IntVar(&cfg.NewConnWorkers, "new-connection-workers", cfg.NewConnWorkers, "concurrency of the new-connection run")
	fs.IntVar(&cfg.ManyServices, "many-services", cfg.ManyServices, "services in the big idle-RSS configuration (0: skip)")
	fs.StringVar(&cfg.AppProtocol, "app-protocol", cfg.AppProtocol, "appProtocol of the weft set-up's Service: tcp (L4) or http (L7)")
	fs.BoolVar(&cfg.Pin, "pin", cfg.Pin, "pin load and servers to CPU 0 and proxies to CPU 1")
	fs.DurationVar(&cfg.Timeout, "timeout", cfg.Timeout, "bound on the whole run")
	fs.BoolVar(&cfg.KeepDir, "keep", cfg.KeepDir, "keep the working directory (configurations, logs)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	cfg.Setups = splitList(*setups)
	var err error
	if cfg.Connections, err = parseInts("--connections", *conns); err != nil {
		return cfg, err
	}
	if cfg.KneeRates, err = parseInts("--knee-rates", *knee); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func parseInts(flagName, s string) ([]int, error) {
	var out []int
	for _, f := range splitList(s) {
		n, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %q is not a number", flagName, f)
		}
		out = append(out, n)
	}
	return out, nil
}

func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}
