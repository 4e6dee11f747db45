package main

import (
	"bytes"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/vishvananda/netns"

	"github.com/weftmesh/weft/proxy/capture"
)

func TestParseInitFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want func(capture.Config) capture.Config // the config wanted, from Default
	}{
		{"no flags", nil, func(c capture.Config) capture.Config { return c }},
		// What injector/containers.go initContainer emits.
		{"injector, status port only", []string{"--exclude-inbound-ports", "15020"}, func(c capture.Config) capture.Config {
			c.ExcludeInboundPorts = []uint16{15020}
			return c
		}},
		{"injector, every exclusion", []string{
			"--exclude-inbound-ports", "15020,9100",
			"--exclude-outbound-ports", "5432,6379",
			"--exclude-outbound-cidrs", "10.0.0.0/8,fd00::/8",
		}, func(c capture.Config) capture.Config {
			c.ExcludeInboundPorts = []uint16{15020, 9100}
			c.ExcludeOutboundPorts = []uint16{5432, 6379}
			c.ExcludeOutboundCIDRs = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
			return c
		}},
		{"spaces, empty items, a bare address, host bits", []string{
			"--exclude-outbound-cidrs", " 169.254.169.254 , ,10.1.2.3/8,",
			"--exclude-outbound-ports=",
		}, func(c capture.Config) capture.Config {
			c.ExcludeOutboundCIDRs = []netip.Prefix{netip.MustParsePrefix("169.254.169.254/32"), netip.MustParsePrefix("10.0.0.0/8")}
			return c
		}},
		{"proxy UID", []string{"--proxy-uid", "2000"}, func(c capture.Config) capture.Config {
			c.ProxyUID = 2000
			return c
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseInitFlags(tc.args, &bytes.Buffer{})
			if err != nil {
				t.Fatalf("parseInitFlags(%q): %v", tc.args, err)
			}
			want := tc.want(capture.Default())
			if !sameConfig(got.capture, want) {
				t.Errorf("parseInitFlags(%q) = %+v, want %+v", tc.args, got.capture, want)
			}
		})
	}
}

func sameConfig(a, b capture.Config) bool {
	return a.ProxyUID == b.ProxyUID && a.OutboundPort == b.OutboundPort && a.InboundPort == b.InboundPort &&
		slices.Equal(a.ExcludeInboundPorts, b.ExcludeInboundPorts) &&
		slices.Equal(a.ExcludeOutboundPorts, b.ExcludeOutboundPorts) &&
		slices.Equal(a.ExcludeOutboundCIDRs, b.ExcludeOutboundCIDRs)
}

// TestParseInitFlagsErrors is what the user sees for bad input.
func TestParseInitFlagsErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--exclude-outbound-cidrs", "10.0.0.0/33"}, `--exclude-outbound-cidrs: "10.0.0.0/33": prefix length out of range`},
		{[]string{"--exclude-outbound-cidrs", "10.0.0.0/8,nonsense"}, `--exclude-outbound-cidrs: "nonsense": no '/'`},
		{[]string{"--exclude-inbound-ports", "15020,http"}, `--exclude-inbound-ports: "http" is not a port (1-65535)`},
		{[]string{"--exclude-outbound-ports", "70000"}, `--exclude-outbound-ports: "70000" is not a port (1-65535)`},
		{[]string{"--exclude-outbound-ports", "0"}, `--exclude-outbound-ports: "0" is not a port (1-65535)`},
		{[]string{"--proxy-uid", "-1"}, `--proxy-uid: "-1" is not a UID`},
		{[]string{"--proxy-uid", "0"}, `--proxy-uid: 0 would let every root process bypass capture`},
		{[]string{"--no-such-flag"}, "flag provided but not defined: -no-such-flag"},
		{[]string{"--cleanup", "extra"}, "unexpected arguments: [extra]"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stderr bytes.Buffer
			code := initMain(tc.args, &bytes.Buffer{}, &stderr)
			if code != 2 {
				t.Errorf("exit status %d, want 2", code)
			}
			if got := stderr.String(); got != "weft-proxy init: "+tc.want+" (weft-proxy init -h lists the flags)\n" {
				t.Errorf("stderr %q, want the message %q", got, tc.want)
			}
		})
	}
}

func TestInitHelp(t *testing.T) {
	var stderr bytes.Buffer
	if code := initMain([]string{"-h"}, &bytes.Buffer{}, &stderr); code != 0 {
		t.Errorf("init -h: exit status %d, want 0", code)
	}
	for _, flag := range []string{"-exclude-inbound-ports", "-exclude-outbound-ports", "-exclude-outbound-cidrs", "-proxy-uid", "-cleanup", "-dry-run"} {
		if !strings.Contains(stderr.String(), flag) {
			t.Errorf("init -h does not list %s:\n%s", flag, stderr.String())
		}
	}
}

func TestInitDryRun(t *testing.T) {
	args := []string{"--dry-run", "--exclude-inbound-ports", "15020,9100", "--exclude-outbound-ports", "5432", "--exclude-outbound-cidrs", "10.0.0.0/8,fd00::/8"}
	var stdout, stderr bytes.Buffer
	if code := initMain(args, &stdout, &stderr); code != 0 {
		t.Fatalf("init --dry-run: exit status %d: %s", code, stderr.String())
	}
	for _, line := range []string{
		"table inet weft {",
		"meta skuid 1337 return",
		"ip daddr { 10.0.0.0/8 } return",
		"ip6 daddr { fd00::/8 } return",
		"tcp dport { 5432 } return",
		"meta l4proto tcp redirect to :15001",
		"tcp dport { 9100, 15000, 15001, 15006, 15007, 15020 } return",
		"meta l4proto tcp redirect to :15006",
	} {
		if !strings.Contains(stdout.String(), line) {
			t.Errorf("--dry-run output lacks %q:\n%s", line, stdout.String())
		}
	}
	if stderr.Len() != 0 {
		t.Errorf("--dry-run logged %q; it changes nothing, so it has nothing to say", stderr.String())
	}
	stdout.Reset()
	if code := initMain([]string{"--dry-run", "--cleanup"}, &stdout, &stderr); code != 0 || stdout.String() != "delete table inet weft\n" {
		t.Errorf("init --dry-run --cleanup: status %d, output %q; want 0 and the delete", code, stdout.String())
	}
}

// TestInitInNetns runs init and init --cleanup in a network namespace the
// test makes, as the weft-init container would in a pod.
func TestInitInNetns(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates a network namespace and programs nftables in it (run as root, as CI does)")
	}
	args := []string{"--exclude-inbound-ports", "15020,9100", "--exclude-outbound-cidrs", "198.18.1.0/24"}
	want, err := parseInitFlags(args, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	var stderr bytes.Buffer
	go func() {
		runtime.LockOSThread() // never unlocked: the thread, in the namespace, exits with the goroutine
		ns, err := netns.New()
		if err != nil {
			errc <- err
			return
		}
		defer ns.Close() // the last reference: the namespace goes with it
		if code := initMain(args, &bytes.Buffer{}, &stderr); code != 0 {
			t.Errorf("init: exit status %d: %s", code, stderr.String())
		}
		if err := capture.Check(want.capture); err != nil {
			t.Errorf("after init: %v", err)
		}
		if code := initMain(args, &bytes.Buffer{}, &stderr); code != 0 {
			t.Errorf("init again: exit status %d: %s", code, stderr.String())
		}
		if code := initMain([]string{"--cleanup"}, &bytes.Buffer{}, &stderr); code != 0 {
			t.Errorf("init --cleanup: exit status %d: %s", code, stderr.String())
		}
		ok, err := capture.Installed()
		if err == nil && ok {
			t.Error("table inet weft is still there after init --cleanup")
		}
		errc <- err
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	logged := stderr.String()
	for _, s := range []string{`msg="capture rules installed"`, "excludeInboundPorts=\"[15020 9100]\"", `msg="capture rules removed"`} {
		if !strings.Contains(logged, s) {
			t.Errorf("init logged %q, want it to contain %s", logged, s)
		}
	}
	if n := strings.Count(logged, "\n"); n != 3 {
		t.Errorf("init logged %d lines for install, install, cleanup; want one each:\n%s", n, logged)
	}
}
