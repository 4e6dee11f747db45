package capture

import (
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestRenderGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"default", Default()},
		{"exclusions", exclusionsConfig()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Render(tc.cfg)
			path := filepath.Join("testdata", "render_"+tc.name+".nft")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to write it)", err)
			}
			if got != string(want) {
				t.Errorf("Render differs from %s (go test -update rewrites it):\n got:\n%s\nwant:\n%s", path, got, want)
			}
		})
	}
}

// exclusionsConfig has every kind of exclusion, in no particular order,
// with duplicates and a network inside another.
func exclusionsConfig() Config {
	c := Default()
	c.ExcludeInboundPorts = []uint16{9100, 15020, 9100}
	c.ExcludeOutboundPorts = []uint16{5432, 3306}
	c.ExcludeOutboundCIDRs = []netip.Prefix{
		netip.MustParsePrefix("fd00::/8"),
		netip.MustParsePrefix("10.1.0.0/16"),
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("169.254.169.254/32"),
	}
	return c
}

func TestRenderIsDeterministic(t *testing.T) {
	a := exclusionsConfig()
	b := exclusionsConfig()
	slices.Reverse(b.ExcludeInboundPorts)
	slices.Reverse(b.ExcludeOutboundPorts)
	slices.Reverse(b.ExcludeOutboundCIDRs)
	if Render(a) != Render(b) {
		t.Errorf("the same exclusions in another order render differently:\n%s\n%s", Render(a), Render(b))
	}
}

func TestRenderOmitsEmptyExclusions(t *testing.T) {
	text := Render(Default())
	for _, tc := range []struct {
		rule string
		want bool
	}{
		{"ip daddr {", false},
		{"ip6 daddr", false},
		{"tcp dport { 15000, 15001, 15006, 15007, 15020 } return", true},
		{"meta l4proto tcp redirect to :15001", true},
		{"meta l4proto tcp redirect to :15006", true},
	} {
		if strings.Contains(text, tc.rule) != tc.want {
			t.Errorf("Render(Default()) has %q: %t, want %t; got\n%s", tc.rule, !tc.want, tc.want, text)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string // "" for valid
	}{
		{"default", func(*Config) {}, ""},
		{"host bits in a network mean the network", func(c *Config) {
			c.ExcludeOutboundCIDRs = []netip.Prefix{netip.MustParsePrefix("10.0.0.1/8")}
		}, ""},
		{"UID 0", func(c *Config) { c.ProxyUID = 0 }, "ProxyUID: 0 would let every root process bypass capture"},
		{"no outbound port", func(c *Config) { c.OutboundPort = 0 }, "OutboundPort: must not be 0"},
		{"same ports", func(c *Config) { c.InboundPort = c.OutboundPort }, "InboundPort: 15001 is also OutboundPort"},
		{"inbound port 0", func(c *Config) { c.ExcludeInboundPorts = []uint16{0} }, "ExcludeInboundPorts: port 0 is not a port"},
		{"outbound port 0", func(c *Config) { c.ExcludeOutboundPorts = []uint16{80, 0} }, "ExcludeOutboundPorts: port 0 is not a port"},
		{"zero network", func(c *Config) { c.ExcludeOutboundCIDRs = []netip.Prefix{{}} }, "ExcludeOutboundCIDRs: \"invalid Prefix\" is not a network"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			tc.change(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Validate: %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Validate: %v, want %q", err, tc.want)
			}
		})
	}
}

func TestSplitFamilies(t *testing.T) {
	v4, v6 := splitFamilies([]netip.Prefix{
		netip.MustParsePrefix("10.1.2.0/24"),
		netip.MustParsePrefix("2001:db8::/32"),
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("192.0.2.7/24"),
		netip.MustParsePrefix("2001:db8:1::/48"),
	})
	if got, want := slices.Collect(func(yield func(string) bool) {
		for _, p := range v4 {
			yield(p.String())
		}
	}), []string{"10.0.0.0/8", "192.0.2.0/24"}; !slices.Equal(got, want) {
		t.Errorf("IPv4 networks: %v, want %v", got, want)
	}
	if len(v6) != 1 || v6[0].String() != "2001:db8::/32" {
		t.Errorf("IPv6 networks: %v, want [2001:db8::/32]", v6)
	}
}
