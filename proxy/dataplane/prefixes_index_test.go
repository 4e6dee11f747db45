package dataplane

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
)

// The reference reading of how a connection's chains are chosen, chain
// by chain as Envoy states it; the index must agree with it.

// portChains returns the chains a connection to destination port may
// take: those whose destination_port is port, else those without one,
// as Envoy matches destination_port before every other field.
func (lc *listenerConfig) portChains(port uint16) []*chainConfig {
	if !lc.destPorts {
		return lc.chains
	}
	for _, want := range []uint16{port, 0} {
		var out []*chainConfig
		for _, c := range lc.chains {
			if c.destPort == want {
				out = append(out, c)
			}
		}
		if len(out) > 0 {
			return out
		}
	}
	return nil
}

// addrChains returns the chains among chains (those of one destination
// port) whose prefix_ranges hold addr most specifically, else those
// without prefix_ranges.
func addrChains(chains []*chainConfig, addr netip.Addr) []*chainConfig {
	var rest []*chainConfig
	var ranged []*chainConfig
	for _, c := range chains {
		if len(c.prefixes) == 0 {
			rest = append(rest, c)
		} else {
			ranged = append(ranged, c)
		}
	}
	if best := longestMatches(ranged, addr); best != nil {
		return best
	}
	return rest
}

// linearDestChains is destChains without the index.
func (lc *listenerConfig) linearDestChains(dst netip.AddrPort) []*chainConfig {
	return addrChains(lc.portChains(dst.Port()), dst.Addr())
}

// randomListener has n chains on a few ports, with prefixes of every
// length over a small address space, so that lookups hit hosts, ranges,
// ties and misses.
func randomListener(r *rand.Rand, n int) *listenerConfig {
	lc := &listenerConfig{}
	addr := func() netip.Addr {
		if r.IntN(4) == 0 {
			return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(r.IntN(8))})
		}
		return netip.AddrFrom4([4]byte{198, 18, byte(r.IntN(3)), byte(r.IntN(8))})
	}
	for i := range n {
		c := &chainConfig{cluster: fmt.Sprint("c", i)}
		if r.IntN(3) > 0 {
			c.destPort = []uint16{80, 443, 8080}[r.IntN(3)]
			lc.destPorts = true
		}
		for range r.IntN(4) {
			a := addr()
			bits := a.BitLen()
			if r.IntN(3) == 0 {
				bits -= []int{1, 8, 16, a.BitLen()}[r.IntN(4)]
			}
			c.prefixes = append(c.prefixes, netip.PrefixFrom(a, bits).Masked())
		}
		lc.chains = append(lc.chains, c)
	}
	lc.index = newChainIndex(lc.chains)
	return lc
}

// TestChainIndexMatchesReference: for random chains and destinations the
// index picks exactly the chains, in order, that the chain-by-chain
// reading does.
func TestChainIndexMatchesReference(t *testing.T) {
	for seed := range uint64(300) {
		r := rand.New(rand.NewPCG(seed, 1))
		lc := randomListener(r, 1+r.IntN(12))
		for range 50 {
			var a netip.Addr
			if r.IntN(4) == 0 {
				a = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(r.IntN(10))})
			} else {
				a = netip.AddrFrom4([4]byte{198, 18, byte(r.IntN(4)), byte(r.IntN(10))})
			}
			dst := netip.AddrPortFrom(a, []uint16{80, 443, 8080, 9090}[r.IntN(4)])
			got, want := lc.destChains(dst), lc.linearDestChains(dst)
			if !slices.Equal(got, want) {
				t.Fatalf("seed %d, %s: index picks %v, the chain-by-chain reading %v", seed, dst, clusters(got), clusters(want))
			}
		}
	}
}

func clusters(cs []*chainConfig) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.cluster
	}
	return out
}

// BenchmarkDestChains: choosing a connection's chains in a virtualOutbound
// with pod-IP chains as the translator makes them, one per identity and
// port listing its pods' IPs (40 identities of 100 pods on one port), and
// a fallback chain, through the index and, as the baseline in the same
// run, chain by chain.
func BenchmarkDestChains(b *testing.B) {
	lc := &listenerConfig{destPorts: true}
	for id := range 40 {
		c := &chainConfig{destPort: 8080}
		for pod := range 100 {
			i := id*100 + pod
			c.prefixes = append(c.prefixes, netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, byte(i / 250), byte(i % 250)}), 32))
		}
		lc.chains = append(lc.chains, c)
	}
	lc.chains = append(lc.chains, &chainConfig{destPort: 8080, cluster: "PassthroughCluster"})
	lc.index = newChainIndex(lc.chains)
	dsts := []netip.AddrPort{
		netip.MustParseAddrPort("198.18.8.1:8080"),  // a pod
		netip.MustParseAddrPort("198.19.0.1:8080"),  // no pod: the fallback chain
		netip.MustParseAddrPort("198.18.15.9:8080"), // the last pod
	}
	for _, bm := range []struct {
		name string
		find func(netip.AddrPort) []*chainConfig
	}{{"index", lc.destChains}, {"linear", lc.linearDestChains}} {
		b.Run(bm.name, func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				if len(bm.find(dsts[i%len(dsts)])) != 1 {
					b.Fatal("want one chain")
				}
			}
		})
	}
}
