package lb

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// consistentPolicies are the hash-based policies.
var consistentPolicies = []struct{ policy Policy }{{RingHash}, {Maglev}}

func TestConsistentSameHashSameEndpoint(t *testing.T) {
	for _, tt := range consistentPolicies {
		eps := endpoints(1, 2, 3, 4, 5)
		a := mapping(t, mustNew(t, tt.policy, eps, seeded(1)), 5000)
		if b := mapping(t, mustNew(t, tt.policy, eps, seeded(2)), 5000); !slices.Equal(a, b) {
			t.Errorf("%s: two Pickers of one set map hashes differently", tt.policy)
		}
		shuffled := slices.Clone(eps)
		rand.New(rand.NewPCG(3, 3)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		if b := mapping(t, mustNew(t, tt.policy, shuffled, seeded(3)), 5000); !slices.Equal(a, b) {
			t.Errorf("%s: the order of the endpoints changes the mapping", tt.policy)
		}
		if b := mapping(t, mustNew(t, tt.policy, eps, seeded(4)), 5000); !slices.Equal(a, b) {
			t.Errorf("%s: the same Picker maps a hash differently over time", tt.policy)
		}
	}
}

func TestConsistentWeightedDistribution(t *testing.T) {
	for _, tt := range consistentPolicies {
		for _, weights := range [][]uint32{{1, 1, 1, 1, 1}, {1, 2, 3, 4}} {
			eps := endpoints(weights...)
			p := mustNew(t, tt.policy, eps, Config{MinRingSize: 1 << 16, Rand: seeded(5).Rand})
			got := map[string]int{}
			for _, a := range mapping(t, p, 100_000) {
				got[a]++
			}
			checkShares(t, eps, got, 0.05)
			// Without a hash, picks are random with the same shares.
			checkShares(t, eps, counts(t, p, 100_000), 0.05)
		}
	}
}

func TestConsistentMinimalDisruption(t *testing.T) {
	tests := []struct {
		policy Policy
		n      int
		// most is the most hashes that may move, and elsewhere the most
		// that may move other than onto the added endpoint, as multiples
		// of the ideal 1/(n+1).
		most, elsewhere float64
	}{
		// Each endpoint's share of the 1024 points changes with n: it
		// loses points to its neighbours as well as to the new endpoint.
		{RingHash, 5, 1.8, 0.8},
		{RingHash, 10, 2.1, 1.1},
		// ceil(1024/n) is the same for n and n+1: only the new
		// endpoint's points are new, and its share varies by about
		// 1/sqrt(ceil(1024/n)).
		{RingHash, 50, 1.5, 0},
		{RingHash, 100, 1.6, 0},
		{Maglev, 5, 1.15, 0.15},
		{Maglev, 10, 1.15, 0.15},
		{Maglev, 50, 1.4, 0.4},
		{Maglev, 100, 1.8, 0.8},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%d", tt.policy, tt.n), func(t *testing.T) {
			const hashes = 100_000
			base := equal(tt.n + 1)
			smaller := mapping(t, mustNew(t, tt.policy, base[:tt.n], Config{}), hashes)
			larger := mapping(t, mustNew(t, tt.policy, base, Config{}), hashes)
			added := base[tt.n].Address
			var moved, movedElsewhere int
			for i := range smaller {
				if smaller[i] != larger[i] {
					moved++
					if larger[i] != added {
						movedElsewhere++
					}
				}
			}
			// Removing the endpoint again moves the same hashes back.
			ideal := float64(hashes) / float64(tt.n+1)
			if float64(moved) > ideal*tt.most || float64(moved) < ideal/2 {
				t.Errorf("%d of %d hashes moved, want %.0f..%.0f", moved, hashes, ideal/2, ideal*tt.most)
			}
			if float64(movedElsewhere) > ideal*tt.elsewhere {
				t.Errorf("%d hashes moved between old endpoints, want at most %.0f", movedElsewhere, ideal*tt.elsewhere)
			}
		})
	}
}

func TestConsistentRetryMovesAway(t *testing.T) {
	for _, tt := range consistentPolicies {
		p := mustNew(t, tt.policy, equal(10), Config{})
		var same int
		for i := range uint64(1000) {
			h := i * 0x9e3779b97f4a7c15
			first := pick(t, p, PickContext{Hash: h, HasHash: true})
			retry := pick(t, p, PickContext{Hash: h, HasHash: true, Attempt: 1})
			if retry == first {
				same++
			}
			if again := pick(t, p, PickContext{Hash: h, HasHash: true, Attempt: 1}); again != retry {
				t.Fatalf("%s: the same retry of hash %d picked %s then %s", tt.policy, h, retry.Address, again.Address)
			}
		}
		// Maglev rehashes (1/10 land on the same endpoint again); the ring
		// takes the next point, owned by the same endpoint about as often.
		if same > 150 {
			t.Errorf("%s: %d of 1000 retries picked the first endpoint again", tt.policy, same)
		}
	}
}

func TestRingHashSize(t *testing.T) {
	tests := []struct {
		name     string
		weights  []uint32
		cfg      Config
		min, max int
	}{
		{"equal", []uint32{0, 0, 0}, Config{}, 1024, 2048},
		{"weighted", []uint32{1, 2, 3, 4}, Config{}, 1024, 2048 + 4},
		{"capped", []uint32{1, 10_000}, Config{MinRingSize: 1 << 17, MaxRingSize: 1 << 17}, 1<<17 - 1, 1<<17 + 1},
		{"small", []uint32{1, 1}, Config{MinRingSize: 1, MaxRingSize: 16}, 2, 2},
		{"big", []uint32{1, 1}, Config{MinRingSize: 1 << 20}, 1 << 20, 1 << 20},
	}
	for _, tt := range tests {
		p := mustNew(t, RingHash, endpoints(tt.weights...), tt.cfg).(*ringHash)
		if n := p.size(); n < tt.min || n > tt.max {
			t.Errorf("%s: ring of %d points, want %d..%d", tt.name, n, tt.min, tt.max)
		}
	}
}

// TestRingHashKeys checks the ring is built from xxHash("<key>_<n>"), as
// Envoy's, with HashKey replacing the address.
func TestRingHashKeys(t *testing.T) {
	e := Endpoint{Address: "192.0.2.1:80", HashKey: "pod-a"}
	p := mustNew(t, RingHash, []Endpoint{e}, Config{MinRingSize: 4, MaxRingSize: 4}).(*ringHash)
	var want []uint64
	for n := range 4 {
		want = append(want, Hash(fmt.Sprintf("pod-a_%d", n)))
	}
	slices.Sort(want)
	if !slices.Equal(p.hashes, want) {
		t.Errorf("ring = %x, want %x", p.hashes, want)
	}
}

func TestMaglevTableUsesEverySlot(t *testing.T) {
	p := mustNew(t, Maglev, endpoints(1, 2, 3), Config{MaglevTableSize: 7}).(*maglev)
	c := map[uint32]int{}
	for _, idx := range p.table {
		c[idx]++
	}
	// Weights 1:2:3 over 7 slots, filled in rounds where the heaviest
	// always takes one.
	if c[0]+c[1]+c[2] != 7 || c[0] > c[1] || c[1] > c[2] || c[0] == 0 {
		t.Errorf("slots per endpoint = %v", c)
	}
}

func TestMaglevTableIgnoresEndpointOrder(t *testing.T) {
	eps := endpoints(1, 2, 3, 4, 5, 0, 0)
	slots := func(eps []Endpoint) []string {
		p := mustNew(t, Maglev, eps, Config{MaglevTableSize: 1009}).(*maglev)
		out := make([]string, len(p.table))
		for i, idx := range p.table {
			out[i] = eps[idx].Address
		}
		return out
	}
	want := slots(eps)
	r := rand.New(rand.NewPCG(8, 8))
	for range 10 {
		shuffled := slices.Clone(eps)
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		if got := slots(shuffled); !slices.Equal(got, want) {
			t.Fatalf("the table of %v differs from the table of %v", shuffled, eps)
		}
	}
}
