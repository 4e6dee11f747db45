// Command weft-e2e-app is the workload of Weft's end-to-end scenarios
// (image weft.dev/e2e/app:v1, see docs/e2e.md). One binary plays both
// ends, so that a scenario needs one image:
//
//	weft-e2e-app serve [--http :8080] [--tcp-echo :9000] [--name NAME]
//	    an HTTP server that answers every request with a JSON report of
//	    who answered (the pod's hostname) and what arrived (method, host,
//	    path, headers, the peer address), /healthz for probes,
//	    /relay?url=URL to make a request from the pod, and an optional
//	    TCP echo server;
//	weft-e2e-app get URL
//	    one request, its body on stdout, a non-2xx status an error;
//	weft-e2e-app load URL -n N
//	    N requests, the count per answering hostname on stdout as JSON,
//	    for scenarios that check load balancing from inside a pod;
//	weft-e2e-app resolve NAME
//	    NAME's addresses, one a line, from the pod's resolver (the cluster
//	    DNS).
//
// What arrived is what a scenario asserts on: mTLS identities forwarded in
// headers, the client address kept or lost, the backend picked.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `usage:
  weft-e2e-app serve [--http :8080 | --http-port 8080] [--tcp-echo :9000 | --tcp-echo-port 9000] [--name NAME]
  weft-e2e-app get [--timeout 10s] [-H 'Name: value'] URL
  weft-e2e-app load [--timeout 10s] [-H 'Name: value'] [-n 100] [-c 4] [--keepalive] URL
  weft-e2e-app resolve [--timeout 10s] NAME
`

// run runs the subcommand args name and returns the exit status: 2 for a
// bad command line, 1 when the command failed.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	var err error
	switch args[0] {
	case "serve":
		var cfg ServeConfig
		if cfg, err = parseServe(args[1:], stderr); err == nil {
			err = serve(ctx, log, cfg)
		}
	case "get":
		var cfg ClientConfig
		if cfg, err = parseClient("get", args[1:], stderr); err == nil {
			err = get(ctx, cfg, stdout)
		}
	case "load":
		var cfg ClientConfig
		if cfg, err = parseClient("load", args[1:], stderr); err == nil {
			err = load(ctx, cfg, stdout)
		}
	case "resolve":
		err = resolve(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		err = usageError{err: fmt.Errorf("unknown command %q", args[0])}
	}
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 2
	case errors.As(err, &ue):
		if !ue.reported {
			fmt.Fprintf(stderr, "weft-e2e-app: %v\n%s", err, usage)
		}
		return 2
	default:
		fmt.Fprintf(stderr, "weft-e2e-app %s: %v\n", args[0], err)
		return 1
	}
}

// usageError is a bad command line (exit status 2); reported when the
// flag package has already printed it with the flags' usage.
type usageError struct {
	err      error
	reported bool
}

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// parseFlags parses args into fs; a bad flag is a usageError that fs has
// already reported.
func parseFlags(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return err
	}
	return usageError{err: err, reported: true}
}
