// Command weftctl is Weft's command-line tool.
//
//	weftctl demo    run the whole mesh on this machine and report
//	weftctl inject  add the Weft sidecar to workloads in YAML files
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/weftmesh/weft/demo"
)

const usage = `weftctl is Weft's command-line tool.

Usage:
  weftctl demo [flags]   run a control plane and two workloads with sidecars on
                         this machine, send traffic through them, and report
  weftctl inject -f FILE [--config FILE]
                         print the workloads of FILE (- for stdin) with the
                         Weft sidecar injected, as the webhook would

Run "weftctl <command> -h" for a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "demo":
		return runDemo(ctx, args[1:], stdout, stderr)
	case "inject":
		return runInject(args[1:], stdin, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "weftctl: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg := demo.Default()
	cfg.Out = stdout
	fs := flag.NewFlagSet("weftctl demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.BinDir, "bin-dir", defaultBinDir(), "directory holding weft-controlplane and weft-proxy")
	fs.IntVar(&cfg.Connections, "connections", cfg.Connections, "kept-alive connections from frontend to backend")
	fs.IntVar(&cfg.RoundTrips, "round-trips", cfg.RoundTrips, "request/response exchanges on each kept-alive connection")
	fs.IntVar(&cfg.NewConnections, "new-connections", cfg.NewConnections, "extra connections, one exchange each")
	fs.DurationVar(&cfg.Timeout, "timeout", cfg.Timeout, "time limit for the whole demo")
	fs.BoolVar(&cfg.KeepDir, "keep", cfg.KeepDir, "keep the demo's configuration and logs")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if err := demo.Run(ctx, cfg); err != nil {
		fmt.Fprintf(stderr, "weftctl demo: %v\n", err)
		return 1
	}
	return 0
}

// defaultBinDir is the directory of weftctl itself: `make build` puts
// every binary side by side in bin/.
func defaultBinDir() string {
	exe, err := os.Executable()
	if err != nil {
		return "bin"
	}
	return filepath.Dir(exe)
}
