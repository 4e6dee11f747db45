package main

// "weft-proxy init" installs the capture rules in the pod's network
// namespace; the injected weft-init container runs it (docs/capture.md).

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"

	"github.com/weftmesh/weft/proxy/capture"
)

// initConfig is what "weft-proxy init" was asked to do.
type initConfig struct {
	capture capture.Config
	cleanup bool // delete the table and nothing else
	dryRun  bool // print the ruleset, change nothing
}

// usageError is a mistake in the command line (exit status 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// initMain runs "weft-proxy init args..." and returns the exit status.
func initMain(args []string, stdout, stderr io.Writer) int {
	log := slog.New(slog.NewTextHandler(stderr, nil))
	cfg, err := parseInitFlags(args, stderr)
	if err == nil {
		err = runInit(cfg, stdout, log)
	}
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, new(usageError)):
		fmt.Fprintln(stderr, "weft-proxy init:", err, "(weft-proxy init -h lists the flags)")
		return 2
	case err != nil:
		fmt.Fprintln(stderr, "weft-proxy init:", err)
		return 1
	}
	return 0
}

// parseInitFlags reads the flags of "weft-proxy init" (after "init").
func parseInitFlags(args []string, output io.Writer) (initConfig, error) {
	cfg := initConfig{capture: capture.Default()}
	fs := flag.NewFlagSet("weft-proxy init", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are returned, and printed once by the caller
	fs.Func("exclude-inbound-ports", "comma-separated ports whose inbound TCP is not captured (the proxy's own never are)", func(s string) error {
		ports, err := parsePorts(s)
		cfg.capture.ExcludeInboundPorts = append(cfg.capture.ExcludeInboundPorts, ports...)
		return err
	})
	fs.Func("exclude-outbound-ports", "comma-separated destination ports whose outbound TCP is not captured", func(s string) error {
		ports, err := parsePorts(s)
		cfg.capture.ExcludeOutboundPorts = append(cfg.capture.ExcludeOutboundPorts, ports...)
		return err
	})
	fs.Func("exclude-outbound-cidrs", "comma-separated networks (IPv4 or IPv6) whose outbound TCP is not captured", func(s string) error {
		cidrs, err := parseCIDRs(s)
		cfg.capture.ExcludeOutboundCIDRs = append(cfg.capture.ExcludeOutboundCIDRs, cidrs...)
		return err
	})
	fs.Func("proxy-uid", fmt.Sprintf("the UID whose traffic is never captured (default %d)", capture.ProxyUID), func(s string) error {
		uid, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return fmt.Errorf("%q is not a UID", s)
		}
		if uid == 0 {
			return errors.New("0 would let every root process bypass capture")
		}
		cfg.capture.ProxyUID = uint32(uid)
		return nil
	})
	fs.BoolVar(&cfg.cleanup, "cleanup", false, "delete the capture rules (table inet "+capture.Table+") and nothing else")
	fs.BoolVar(&cfg.dryRun, "dry-run", false, "print the ruleset and change nothing")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(output)
			fmt.Fprintln(output, "Usage: weft-proxy init [flags]  (install the capture rules in this network namespace)")
			fs.PrintDefaults()
			return cfg, err
		}
		return cfg, usageError{flagError(err)}
	}
	if fs.NArg() > 0 {
		return cfg, usageError{fmt.Errorf("unexpected arguments: %v", fs.Args())}
	}
	if err := cfg.capture.Validate(); err != nil {
		return cfg, usageError{err}
	}
	return cfg, nil
}

// flagError rewrites the flag package's `invalid value "x" for flag
// -name: why` as `--name: why` (why already quotes the bad item).
func flagError(err error) error {
	msg := err.Error()
	rest, ok := strings.CutPrefix(msg, "invalid value ")
	if !ok {
		return err
	}
	_, afterFor, ok := strings.Cut(rest, " for flag -")
	if !ok {
		return err
	}
	name, why, ok := strings.Cut(afterFor, ": ")
	if !ok {
		return err
	}
	return errors.New("--" + name + ": " + why)
}

// parsePorts reads "15020,9100"; empty means none.
func parsePorts(s string) ([]uint16, error) {
	var ports []uint16
	for _, item := range splitList(s) {
		p, err := strconv.ParseUint(item, 10, 16)
		if err != nil || p == 0 {
			return nil, fmt.Errorf("%q is not a port (1-65535)", item)
		}
		ports = append(ports, uint16(p))
	}
	return ports, nil
}

// parseCIDRs reads "10.0.0.0/8,fd00::/8"; a bare address is that one host.
func parseCIDRs(s string) ([]netip.Prefix, error) {
	var cidrs []netip.Prefix
	for _, item := range splitList(s) {
		if addr, err := netip.ParseAddr(item); err == nil {
			cidrs = append(cidrs, netip.PrefixFrom(addr, addr.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(item)
		if err != nil {
			// netip repeats the input; keep only why it is wrong.
			msg := err.Error()
			if i := strings.LastIndex(msg, "): "); i >= 0 {
				msg = msg[i+3:]
			}
			return nil, fmt.Errorf("%q: %s", item, msg)
		}
		cidrs = append(cidrs, p.Masked())
	}
	return cidrs, nil
}

// splitList splits a comma-separated list, ignoring spaces and empty items.
func splitList(s string) []string {
	var items []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			items = append(items, item)
		}
	}
	return items
}

// runInit does what cfg says in the current network namespace.
func runInit(cfg initConfig, stdout io.Writer, log *slog.Logger) error {
	switch {
	case cfg.dryRun && cfg.cleanup:
		_, err := fmt.Fprintf(stdout, "delete table inet %s\n", capture.Table)
		return err
	case cfg.dryRun:
		_, err := io.WriteString(stdout, capture.Render(cfg.capture))
		return err
	case cfg.cleanup:
		if err := capture.Cleanup(); err != nil {
			return err
		}
		log.Info("capture rules removed", "table", "inet "+capture.Table)
		return nil
	}
	if err := capture.Install(cfg.capture); err != nil {
		return err
	}
	c := cfg.capture
	log.Info("capture rules installed", "table", "inet "+capture.Table,
		"outboundPort", c.OutboundPort, "inboundPort", c.InboundPort, "proxyUID", c.ProxyUID,
		"excludeInboundPorts", c.ExcludeInboundPorts, "excludeOutboundPorts", c.ExcludeOutboundPorts,
		"excludeOutboundCIDRs", c.ExcludeOutboundCIDRs)
	return nil
}
