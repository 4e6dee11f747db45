package capture

import (
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
)

// Check says whether table inet weft, in the current network namespace,
// holds exactly the rules Install(cfg) adds; if not, the error names what
// is missing or different. The CNI plugin's CHECK uses it.
func Check(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("capture config: %w", err)
	}
	ok, err := Installed()
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("capture rules: table inet %s is missing", Table)
	}
	conn, err := nftables.New()
	if err != nil {
		return fmt.Errorf("check capture rules: %w", err)
	}
	sets, err := setContents(conn)
	if err != nil {
		return err
	}
	chains, err := conn.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return fmt.Errorf("check capture rules: list chains: %w", err)
	}
	have := map[string]*nftables.Chain{}
	for _, ch := range chains {
		if ch.Table.Name == Table {
			have[ch.Name] = ch
		}
	}
	var problems []string
	for _, want := range cfg.chains() {
		ch, ok := have[want.name]
		delete(have, want.name)
		if !ok {
			problems = append(problems, fmt.Sprintf("chain %s is missing", want.name))
			continue
		}
		problems = append(problems, checkChain(conn, ch, want, sets)...)
	}
	for name := range have {
		problems = append(problems, fmt.Sprintf("unexpected chain %s", name))
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return fmt.Errorf("capture rules in table inet %s differ: %s", Table, strings.Join(problems, "; "))
	}
	return nil
}

// checkChain compares one chain's hook and rules with what Install adds.
func checkChain(conn *nftables.Conn, ch *nftables.Chain, want chainSpec, sets map[string]string) []string {
	var problems []string
	spec := nftChain(want.name)
	if ch.Type != spec.Type || ch.Hooknum == nil || *ch.Hooknum != *spec.Hooknum || ch.Priority == nil || *ch.Priority != *spec.Priority {
		problems = append(problems, fmt.Sprintf("chain %s is not a nat chain at hook %s priority %d", want.name, want.name, natPriority))
	}
	rules, err := conn.GetRules(table, ch)
	if err != nil {
		return append(problems, fmt.Sprintf("chain %s: listing rules: %v", want.name, err))
	}
	got := make([]string, len(rules))
	for i, r := range rules {
		got[i] = canonical(r.Exprs, func(l *expr.Lookup) string {
			if elems, ok := sets[l.SetName]; ok {
				return elems
			}
			return "set " + l.SetName + " (missing)"
		})
	}
	wanted := make([]string, len(want.rules))
	for i, r := range want.rules {
		b, err := r.build()
		if err != nil {
			return append(problems, fmt.Sprintf("chain %s: %v", want.name, err))
		}
		wanted[i] = canonical(b.exprs, func(*expr.Lookup) string { return elementsText(b.elems) })
	}
	if slices.Equal(got, wanted) {
		return problems
	}
	for i, w := range wanted {
		if !slices.Contains(got, w) {
			problems = append(problems, fmt.Sprintf("chain %s: rule %q is missing or different", want.name, want.rules[i]))
		}
	}
	for i, g := range got {
		if !slices.Contains(wanted, g) {
			problems = append(problems, fmt.Sprintf("chain %s: unexpected rule (handle %d)", want.name, rules[i].Handle))
		}
	}
	if len(problems) == 0 {
		problems = append(problems, fmt.Sprintf("chain %s: rules are out of order", want.name))
	}
	return problems
}

// setContents reads the elements of every set of the table, by name.
func setContents(conn *nftables.Conn) (map[string]string, error) {
	sets, err := conn.GetSets(table)
	if err != nil {
		return nil, fmt.Errorf("check capture rules: list sets: %w", err)
	}
	out := make(map[string]string, len(sets))
	for _, s := range sets {
		elems, err := conn.GetSetElements(s)
		if err != nil {
			return nil, fmt.Errorf("check capture rules: elements of set %s: %w", s.Name, err)
		}
		out[s.Name] = elementsText(elems)
	}
	return out, nil
}

// elementsText is a set's elements in a canonical order.
func elementsText(elems []nftables.SetElement) string {
	texts := make([]string, len(elems))
	for i, e := range elems {
		texts[i] = hex.EncodeToString(e.Key)
		if e.IntervalEnd {
			texts[i] += "/end"
		}
	}
	slices.Sort(texts)
	return "{" + strings.Join(texts, ",") + "}"
}

// canonical writes a rule's expressions so that equal rules, built here or
// read back from the kernel, give equal text; lookup writes a set.
func canonical(exprs []expr.Any, lookup func(*expr.Lookup) string) string {
	var b strings.Builder
	for _, e := range exprs {
		if l, ok := e.(*expr.Lookup); ok {
			fmt.Fprintf(&b, "[lookup reg %d invert %t %s]", l.SourceRegister, l.Invert, lookup(l))
			continue
		}
		fmt.Fprintf(&b, "[%T %+v]", e, e)
	}
	return b.String()
}
