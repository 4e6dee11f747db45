package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/google/nftables"
)

// kubeletChains are the iptables chains the kubelet makes by itself (its
// canaries, the iptables-mode hint for kube-proxy, and the firewall rule
// against martian packets to 127.0.0.0/8), per table; kube-proxy
// --cleanup leaves them.
func kubeletChains() map[string][]string {
	return map[string][]string{
		"filter": {"KUBE-FIREWALL", "KUBE-KUBELET-CANARY"},
		"nat":    {"KUBE-KUBELET-CANARY"},
		"mangle": {"KUBE-IPTABLES-HINT", "KUBE-KUBELET-CANARY"},
	}
}

// iptablesTables are the nftables tables iptables-nft makes on first use;
// Clean deletes those the run made once they are empty again.
func iptablesTables() []string {
	return []string{"ip filter", "ip nat", "ip mangle", "ip6 filter", "ip6 nat", "ip6 mangle"}
}

// cleanKubeletRules removes the kubelet's chains (and the INPUT and OUTPUT
// jumps to KUBE-FIREWALL), when the kubelet of this run was configured.
func cleanKubeletRules(ctx context.Context, l layout) {
	if _, err := os.Stat(l.config("kubelet.yaml")); err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, ipt := range []string{"iptables", "ip6tables"} {
		bin, err := exec.LookPath(ipt)
		if err != nil {
			continue
		}
		for _, chain := range []string{"INPUT", "OUTPUT"} {
			for i := 0; i < 10 && run(ctx, bin, "-w", "-t", "filter", "-D", chain, "-j", "KUBE-FIREWALL") == nil; i++ {
			}
		}
		for table, chains := range kubeletChains() {
			for _, chain := range chains {
				// Errors mean the chain is not there.
				_ = run(ctx, bin, "-w", "-t", table, "-F", chain)
				_ = run(ctx, bin, "-w", "-t", table, "-X", chain)
			}
		}
	}
}

// existingIPTablesTables lists which of iptablesTables exist now.
func existingIPTablesTables() ([]string, error) {
	conn, err := nftables.New()
	if err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	tables, err := conn.ListTables()
	if err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	var names []string
	for _, t := range tables {
		name := familyName(t.Family) + " " + t.Name
		for _, want := range iptablesTables() {
			if name == want {
				names = append(names, name)
			}
		}
	}
	return names, nil
}

func familyName(f nftables.TableFamily) string {
	switch f {
	case nftables.TableFamilyIPv4:
		return "ip"
	case nftables.TableFamilyIPv6:
		return "ip6"
	default:
		return fmt.Sprintf("family%d", f)
	}
}

// removeEmptyTables deletes the iptables-nft tables that did not exist
// before the run (those not in before) and hold no rule.
func removeEmptyTables(before []string) error {
	conn, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	tables, err := conn.ListTables()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	existed := map[string]bool{}
	for _, n := range before {
		existed[n] = true
	}
	chains, err := conn.ListChains()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	var errs []error
	for _, t := range tables {
		name := familyName(t.Family) + " " + t.Name
		ours := false
		for _, n := range iptablesTables() {
			ours = ours || n == name
		}
		if !ours || existed[name] {
			continue
		}
		empty := true
		for _, c := range chains {
			if c.Table.Name != t.Name || c.Table.Family != t.Family {
				continue
			}
			if c.Hooknum == nil {
				empty = false // a user chain is somebody's
				break
			}
			rules, err := conn.GetRules(t, c)
			if err != nil || len(rules) > 0 {
				empty = false
				break
			}
		}
		if !empty {
			continue
		}
		conn.DelTable(t)
		if err := conn.Flush(); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("nftables: deleting table %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}
