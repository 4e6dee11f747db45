package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"slices"
	"time"
)

// resolve looks name up with the pod's resolver (Go's, which reads
// /etc/resolv.conf: the cluster DNS, its search domains and ndots) and
// prints its addresses, sorted, one a line: scenarios check that Service
// names resolve inside pods, as Weft's sidecars need.
func resolve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("resolve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeout := fs.Duration("timeout", 10*time.Second, "how long the lookup may take")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError{err: fmt.Errorf("resolve wants one name, got %d arguments", fs.NArg())}
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupHost(ctx, fs.Arg(0))
	if err != nil {
		return fmt.Errorf("resolving %s: %w", fs.Arg(0), err)
	}
	slices.Sort(addrs)
	for _, a := range addrs {
		fmt.Fprintln(stdout, a)
	}
	return nil
}
