package capture

import (
	"net/netip"
	"testing"
)

func TestIntervalElements(t *testing.T) {
	for _, tc := range []struct {
		name     string
		prefixes []string
		want     string
	}{
		{"one network", []string{"10.0.0.0/8"}, "{0a000000,0b000000/end}"},
		{"adjacent networks merge", []string{"10.0.0.0/9", "10.128.0.0/9"}, "{0a000000,0b000000/end}"},
		{"apart", []string{"10.0.0.0/8", "192.0.2.0/24"}, "{0a000000,0b000000/end,c0000200,c0000300/end}"},
		{"to the end of the space", []string{"255.255.255.0/24"}, "{ffffff00}"},
		{"everything", []string{"0.0.0.0/0"}, "{00000000}"},
		{"IPv6", []string{"2001:db8::/32"}, "{20010db8000000000000000000000000,20010db9000000000000000000000000/end}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ps []netip.Prefix
			for _, s := range tc.prefixes {
				ps = append(ps, netip.MustParsePrefix(s))
			}
			elems, err := intervalElements(ps)
			if err != nil {
				t.Fatal(err)
			}
			if got := elementsText(elems); got != tc.want {
				t.Errorf("elements: %s, want %s", got, tc.want)
			}
		})
	}
}

func TestInstallWholeSpace(t *testing.T) {
	skipUnlessRoot(t)
	ns := newNS(t)
	cfg := Default()
	cfg.ExcludeOutboundCIDRs = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("ff00::/8")}
	inNS(t, ns, func() error {
		if err := Install(cfg); err != nil {
			return err
		}
		return Check(cfg)
	})
}
