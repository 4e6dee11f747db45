package capture

import (
	"fmt"
	"math/big"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// This file turns the rule descriptions of rules.go into nftables
// expressions, the same ones nft itself generates for that text.

// natRangeProtoSpecified is NF_NAT_RANGE_PROTO_SPECIFIED: the redirect
// carries a port.
const natRangeProtoSpecified = 0x2

// ifnameSize is IFNAMSIZ: interface names are compared NUL-padded.
const ifnameSize = 16

var table = &nftables.Table{Family: nftables.TableFamilyINet, Name: Table}

// nftChain is the base chain for a chainSpec.
func nftChain(name string) *nftables.Chain {
	hook := nftables.ChainHookOutput
	if name == "prerouting" {
		hook = nftables.ChainHookPrerouting
	}
	policy := nftables.ChainPolicyAccept
	return &nftables.Chain{
		Name:     name,
		Table:    table,
		Type:     nftables.ChainTypeNAT,
		Hooknum:  hook,
		Priority: nftables.ChainPriorityRef(natPriority),
		Policy:   &policy,
	}
}

// builtRule is a rule's expressions and the anonymous set it looks up,
// if any.
type builtRule struct {
	exprs []expr.Any
	set   *nftables.Set
	elems []nftables.SetElement
}

// build makes the expressions of r (a set, if one, is not yet added).
func (r ruleSpec) build() (builtRule, error) {
	var b builtRule
	add := func(e ...expr.Any) { b.exprs = append(b.exprs, e...) }
	if r.skuid != nil {
		add(&expr.Meta{Key: expr.MetaKeySKUID, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(*r.skuid)})
	}
	if r.ifname != "" {
		key := expr.MetaKeyIIFNAME
		if r.out {
			key = expr.MetaKeyOIFNAME
		}
		name := make([]byte, ifnameSize)
		copy(name, r.ifname)
		add(&expr.Meta{Key: key, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: name})
	}
	if len(r.daddr) > 0 {
		v6 := r.daddr[0].Addr().Is6()
		proto, offset, size, keyType := byte(unix.NFPROTO_IPV4), uint32(16), uint32(4), nftables.TypeIPAddr
		if v6 {
			proto, offset, size, keyType = unix.NFPROTO_IPV6, 24, 16, nftables.TypeIP6Addr
		}
		add(&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: size})
		if r.set {
			elems, err := intervalElements(r.daddr)
			if err != nil {
				return b, err
			}
			b.set = &nftables.Set{Table: table, Anonymous: true, Constant: true, Interval: true, KeyType: keyType}
			b.elems = elems
			add(&expr.Lookup{SourceRegister: 1})
		} else {
			if !r.daddr[0].IsSingleIP() {
				return b, fmt.Errorf("rule %q: one network must be a set", r)
			}
			add(&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: r.daddr[0].Addr().AsSlice()})
		}
	}
	if len(r.dport) > 0 {
		add(&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2})
		if r.set {
			if b.set != nil {
				return b, fmt.Errorf("rule %q: two sets in one rule", r)
			}
			b.set = &nftables.Set{Table: table, Anonymous: true, Constant: true, KeyType: nftables.TypeInetService}
			for _, p := range r.dport {
				b.elems = append(b.elems, nftables.SetElement{Key: binaryutil.BigEndian.PutUint16(p)})
			}
			add(&expr.Lookup{SourceRegister: 1})
		} else {
			add(&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(r.dport[0])})
		}
	}
	if r.tcp {
		add(&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}})
	}
	if r.redirect != 0 {
		add(&expr.Immediate{Register: 1, Data: binaryutil.BigEndian.PutUint16(r.redirect)},
			&expr.Redir{RegisterProtoMin: 1, RegisterProtoMax: 1, Flags: natRangeProtoSpecified})
	} else {
		add(&expr.Verdict{Kind: expr.VerdictReturn})
	}
	return b, nil
}

// intervalElements turns prefixes (one family, sorted, none inside
// another, as splitFamilies leaves them) into the elements of an interval
// set: each run of adjacent networks is one start key and, unless it runs
// to the end of the address space, one end key just past it.
func intervalElements(prefixes []netip.Prefix) ([]nftables.SetElement, error) {
	var elems []nftables.SetElement
	var start, end *big.Int // the current run: [start, end)
	size := prefixes[0].Addr().BitLen()
	limit := new(big.Int).Lsh(big.NewInt(1), uint(size))
	flush := func() {
		elems = append(elems, nftables.SetElement{Key: addrBytes(start, size)})
		if end.Cmp(limit) < 0 {
			elems = append(elems, nftables.SetElement{Key: addrBytes(end, size), IntervalEnd: true})
		}
	}
	for _, p := range prefixes {
		if p.Addr().BitLen() != size {
			return nil, fmt.Errorf("network %s in a set of IPv%d networks", p, map[int]int{32: 4, 128: 6}[size])
		}
		first := new(big.Int).SetBytes(p.Masked().Addr().AsSlice())
		past := new(big.Int).Add(first, new(big.Int).Lsh(big.NewInt(1), uint(size-p.Bits())))
		switch {
		case start == nil:
			start, end = first, past
		case first.Cmp(end) <= 0:
			if past.Cmp(end) > 0 {
				end = past
			}
		default:
			flush()
			start, end = first, past
		}
	}
	flush()
	return elems, nil
}

// addrBytes is n as a big-endian address of size bits.
func addrBytes(n *big.Int, size int) []byte {
	return n.FillBytes(make([]byte, size/8))
}

// Install replaces table inet weft, in the current network namespace, by
// the rules of cfg, in one netlink batch: the namespace has either the old
// rules or the new ones, never a mix, and installing twice is installing
// once.
func Install(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("capture config: %w", err)
	}
	conn, err := nftables.New()
	if err != nil {
		return fmt.Errorf("install capture rules: %w", err)
	}
	conn.AddTable(table) // so that the delete below cannot fail
	conn.DelTable(table)
	conn.AddTable(table)
	for _, ch := range cfg.chains() {
		chain := conn.AddChain(nftChain(ch.name))
		for _, r := range ch.rules {
			b, err := r.build()
			if err != nil {
				return fmt.Errorf("install capture rules: %w", err)
			}
			if b.set != nil {
				if err := conn.AddSet(b.set, b.elems); err != nil {
					return fmt.Errorf("install capture rules: set of %q: %w", r, err)
				}
				for _, e := range b.exprs {
					if l, ok := e.(*expr.Lookup); ok {
						l.SetName, l.SetID = b.set.Name, b.set.ID
					}
				}
			}
			conn.AddRule(&nftables.Rule{Table: table, Chain: chain, Exprs: b.exprs})
		}
	}
	if err := conn.Flush(); err != nil {
		return fmt.Errorf("install capture rules (table inet %s): %w", Table, err)
	}
	return nil
}

// Cleanup deletes table inet weft from the current network namespace, and
// with it every rule Install added; nothing else. Without the table it
// does nothing.
func Cleanup() error {
	conn, err := nftables.New()
	if err != nil {
		return fmt.Errorf("remove capture rules: %w", err)
	}
	conn.AddTable(table) // so that the delete cannot fail when it is absent
	conn.DelTable(table)
	if err := conn.Flush(); err != nil {
		return fmt.Errorf("remove capture rules (table inet %s): %w", Table, err)
	}
	return nil
}

// Installed says whether table inet weft exists in the current network
// namespace (Check says whether it holds the right rules).
func Installed() (bool, error) {
	conn, err := nftables.New()
	if err != nil {
		return false, fmt.Errorf("list nftables tables: %w", err)
	}
	tables, err := conn.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return false, fmt.Errorf("list nftables tables: %w", err)
	}
	for _, t := range tables {
		if t.Name == Table {
			return true, nil
		}
	}
	return false, nil
}
