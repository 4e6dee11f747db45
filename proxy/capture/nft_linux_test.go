package capture

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netns"
)

// exclusions is a config with every kind of exclusion, both families.
func exclusions() Config {
	c := Default()
	c.ExcludeInboundPorts = []uint16{9100, 15020}
	c.ExcludeOutboundPorts = []uint16{5432, 3306}
	c.ExcludeOutboundCIDRs = []netip.Prefix{
		netip.MustParsePrefix("198.18.1.0/24"),
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("2001:db8:1::/64"),
	}
	return c
}

// ruleset is the table's chains, rules and set contents, in the form
// Check compares; rule handles are left out.
func ruleset(t *testing.T, ns netns.NsHandle) string {
	t.Helper()
	var out strings.Builder
	inNS(t, ns, func() error {
		conn, err := nftables.New()
		if err != nil {
			return err
		}
		sets, err := setContents(conn)
		if err != nil {
			return err
		}
		for _, name := range []string{"output", "prerouting"} {
			rules, err := conn.GetRules(table, &nftables.Chain{Name: name, Table: table})
			if err != nil {
				return err
			}
			out.WriteString("chain " + name + "\n")
			for _, r := range rules {
				out.WriteString(canonical(r.Exprs, func(l *expr.Lookup) string { return sets[l.SetName] }) + "\n")
			}
		}
		return nil
	})
	return out.String()
}

func TestInstallIsIdempotent(t *testing.T) {
	skipUnlessRoot(t)
	ns := newNS(t)
	cfg := exclusions()
	inNS(t, ns, func() error { return Install(cfg) })
	first := ruleset(t, ns)
	inNS(t, ns, func() error { return Install(cfg) })
	second := ruleset(t, ns)
	if first != second {
		t.Fatalf("installing twice changed the ruleset:\nfirst:\n%s\nsecond:\n%s", first, second)
	}
	if n := strings.Count(first, "\n"); n != 2+7+3 {
		t.Errorf("ruleset has %d lines, want 2 chains and 10 rules:\n%s", n, first)
	}
	inNS(t, ns, func() error { return Check(cfg) })
}

func TestInstallReplacesOtherConfig(t *testing.T) {
	skipUnlessRoot(t)
	ns := newNS(t)
	inNS(t, ns, func() error { return Install(exclusions()) })
	inNS(t, ns, func() error { return Install(Default()) })
	inNS(t, ns, func() error {
		if err := Check(Default()); err != nil {
			t.Errorf("after installing Default over another config: %v", err)
		}
		if err := Check(exclusions()); err == nil {
			t.Error("Check(old config) passed after installing Default: the old rules are still there")
		}
		return nil
	})
}

func TestCleanup(t *testing.T) {
	skipUnlessRoot(t)
	ns := newNS(t)
	other := &nftables.Table{Family: nftables.TableFamilyINet, Name: "not-weft"}
	inNS(t, ns, func() error {
		if err := Cleanup(); err != nil {
			t.Errorf("Cleanup without the table: %v, want nil", err)
		}
		conn, err := nftables.New()
		if err != nil {
			return err
		}
		conn.AddTable(other)
		conn.AddChain(&nftables.Chain{Name: "output", Table: other, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityNATDest})
		if err := conn.Flush(); err != nil {
			return err
		}
		if err := Install(exclusions()); err != nil {
			return err
		}
		if ok, err := Installed(); err != nil || !ok {
			t.Errorf("Installed() after Install = %t, %v; want true", ok, err)
		}
		if err := Cleanup(); err != nil {
			return err
		}
		if ok, err := Installed(); err != nil || ok {
			t.Errorf("Installed() after Cleanup = %t, %v; want false", ok, err)
		}
		if err := Check(exclusions()); err == nil || !strings.Contains(err.Error(), "table inet weft is missing") {
			t.Errorf("Check after Cleanup: %v, want table inet weft is missing", err)
		}
		tables, err := conn.ListTablesOfFamily(nftables.TableFamilyINet)
		if err != nil {
			return err
		}
		if len(tables) != 1 || tables[0].Name != other.Name {
			t.Errorf("tables after Cleanup: %v, want only the test's own %q", tables, other.Name)
		}
		chains, err := conn.ListChainsOfTableFamily(nftables.TableFamilyINet)
		if err != nil {
			return err
		}
		if len(chains) != 1 || chains[0].Table.Name != other.Name {
			t.Errorf("chains after Cleanup: %d, want only the test's own", len(chains))
		}
		return nil
	})
}

func TestCheckNamesWhatIsMissing(t *testing.T) {
	skipUnlessRoot(t)
	cfg := exclusions()
	for _, tc := range []struct {
		name  string
		chain string
		rule  int // index of the rule to delete in chain
		want  string
	}{
		{"excluded outbound ports", "output", 5, `chain output: rule "tcp dport { 3306, 5432 } return" is missing`},
		{"IPv6 networks", "output", 4, `chain output: rule "ip6 daddr { 2001:db8:1::/64 } return" is missing`},
		{"probe", "output", 0, `chain output: rule "meta skuid 1337 ip daddr 127.0.0.1 tcp dport 15007 redirect to :15020" is missing`},
		{"inbound capture", "prerouting", 2, `chain prerouting: rule "meta l4proto tcp redirect to :15006" is missing`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := newNS(t)
			inNS(t, ns, func() error {
				if err := Install(cfg); err != nil {
					return err
				}
				if err := Check(cfg); err != nil {
					t.Fatalf("Check right after Install: %v", err)
				}
				conn, err := nftables.New()
				if err != nil {
					return err
				}
				rules, err := conn.GetRules(table, &nftables.Chain{Name: tc.chain, Table: table})
				if err != nil {
					return err
				}
				if err := conn.DelRule(rules[tc.rule]); err != nil {
					return err
				}
				if err := conn.Flush(); err != nil {
					return err
				}
				err = Check(cfg)
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("Check after deleting a rule: %v\nwant it to say %s", err, tc.want)
				}
				return nil
			})
		})
	}
}

func TestCheckOtherConfig(t *testing.T) {
	skipUnlessRoot(t)
	ns := newNS(t)
	inNS(t, ns, func() error {
		if err := Install(exclusions()); err != nil {
			return err
		}
		other := exclusions()
		other.ExcludeOutboundPorts = append(other.ExcludeOutboundPorts, 6379)
		err := Check(other)
		want := `rule "tcp dport { 3306, 5432, 6379 } return" is missing or different`
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Check(config with one more port): %v\nwant it to say %s", err, want)
		}
		return nil
	})
}
