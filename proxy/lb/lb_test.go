package lb

import (
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
)

var allPolicies = []Policy{RoundRobin, LeastRequest, Random, RingHash, Maglev}

func TestNewInvalid(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	tests := []struct {
		name   string
		policy Policy
		eps    []Endpoint
		cfg    Config
		want   string
	}{
		{"empty address", RoundRobin, []Endpoint{{Address: "192.0.2.1:80"}, {}}, Config{}, "endpoints[1]: empty address"},
		{"unknown policy", Policy(42), equal(1), Config{}, "unknown policy Policy(42)"},
		{"max ring above 8M", RingHash, equal(1), Config{MaxRingSize: 8<<20 + 1}, "max_ring_size"},
		{"min ring above max", RingHash, equal(1), Config{MinRingSize: 4096, MaxRingSize: 2048}, "min_ring_size 4096"},
		{"min ring above default max", RingHash, equal(1), Config{MinRingSize: 9 << 20}, "min_ring_size"},
		{"maglev not prime", Maglev, equal(1), Config{MaglevTableSize: 65536}, "not prime"},
		{"maglev one", Maglev, equal(1), Config{MaglevTableSize: 1}, "not prime"},
		{"maglev too large", Maglev, equal(1), Config{MaglevTableSize: 5000077}, "above 5000011"},
		{"choice count 1", LeastRequest, equal(1), Config{ChoiceCount: 1}, "choice_count 1"},
		{"negative bias", LeastRequest, equal(1), Config{ActiveRequestBias: f(-0.5)}, "active_request_bias -0.5"},
		{"NaN bias", LeastRequest, equal(1), Config{ActiveRequestBias: f(math.NaN())}, "active_request_bias NaN"},
		{"infinite bias", LeastRequest, equal(1), Config{ActiveRequestBias: f(math.Inf(1))}, "active_request_bias +Inf"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(tt.policy, tt.eps, tt.cfg)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, %v; want an ErrInvalid naming %q", p, err, tt.want)
			}
		})
	}
}

func TestConfigValidateAcceptsLimits(t *testing.T) {
	zero := 0.0
	for _, c := range []Config{
		{},
		DefaultConfig(),
		{MinRingSize: 8 << 20, MaxRingSize: 8 << 20},
		{MaglevTableSize: 5000011},
		{MaglevTableSize: 2},
		{ChoiceCount: 10, ActiveRequestBias: &zero},
	} {
		if err := c.Validate(); err != nil {
			t.Errorf("Validate(%+v) = %v", c, err)
		}
	}
	d := DefaultConfig()
	if d.MinRingSize != 1024 || d.MaxRingSize != 8388608 || d.MaglevTableSize != 65537 ||
		d.ChoiceCount != 2 || *d.ActiveRequestBias != 1 || d.Rand == nil {
		t.Errorf("DefaultConfig() = %+v", d)
	}
}

func TestEmptySetNeverPicks(t *testing.T) {
	for _, policy := range allPolicies {
		p := mustNew(t, policy, nil, Config{})
		if e, done, ok := p.Pick(PickContext{Hash: 1, HasHash: true}); ok || done == nil {
			t.Errorf("%s: Pick on no endpoints = %v, %v", policy, e, ok)
		}
	}
}

func TestOneEndpointAlwaysPicked(t *testing.T) {
	want := Endpoint{Address: "192.0.2.9:443", Weight: 7, HashKey: "pod-a"}
	for _, policy := range allPolicies {
		p := mustNew(t, policy, []Endpoint{want}, seeded(1))
		for i := range uint64(100) {
			ctx := PickContext{Hash: i * 0x9e3779b97f4a7c15, HasHash: i%2 == 0, Attempt: uint32(i % 3)}
			if got := pick(t, p, ctx); got != want {
				t.Fatalf("%s: Pick = %+v, want %+v", policy, got, want)
			}
		}
	}
}

func TestNewCopiesEndpoints(t *testing.T) {
	eps := equal(2)
	p := mustNew(t, RoundRobin, eps, seeded(1))
	eps[0].Address, eps[1].Address = "changed", "changed"
	for addr := range counts(t, p, 4) {
		if addr == "changed" {
			t.Fatal("Picker sees the caller's later changes to its endpoint slice")
		}
	}
}

// TestConcurrentPicks runs every policy from many goroutines with the
// runtime's generator (run it under -race) and checks that the active
// counts return to zero.
func TestConcurrentPicks(t *testing.T) {
	for _, weights := range [][]uint32{{1, 1, 1, 1}, {1, 2, 3, 4}} {
		for _, policy := range allPolicies {
			p := mustNew(t, policy, endpoints(weights...), Config{MaglevTableSize: 101})
			var wg sync.WaitGroup
			seen := make([]map[string]int, 8)
			for g := range seen {
				seen[g] = map[string]int{}
				wg.Go(func() {
					for i := range uint64(2000) {
						e, done, ok := p.Pick(PickContext{Hash: i, HasHash: g%2 == 0})
						if !ok {
							t.Error("Pick found no endpoint")
							return
						}
						seen[g][e.Address]++
						done()
					}
				})
			}
			wg.Wait()
			all := map[string]int{}
			for _, s := range seen {
				for a, n := range s {
					all[a] += n
				}
			}
			if len(all) != len(weights) {
				t.Errorf("%s %v: picked %v, want all %d endpoints", policy, weights, all, len(weights))
			}
			checkIdle(t, p)
		}
	}
}

// checkIdle fails if a least request Picker still counts active requests.
func checkIdle(t *testing.T, p Picker) {
	t.Helper()
	var act actives
	switch p := p.(type) {
	case *leastRequest:
		act = p.act
	case *weightedLeastRequest:
		act = p.act
	default:
		return
	}
	for i := range act.count {
		if n := act.count[i].n.Load(); n != 0 {
			t.Errorf("endpoint %d has %d active requests after every Done", i, n)
		}
	}
}

func TestPolicyString(t *testing.T) {
	var names []string
	for _, p := range allPolicies {
		names = append(names, p.String())
	}
	if got := strings.Join(names, " "); got != "ROUND_ROBIN LEAST_REQUEST RANDOM RING_HASH MAGLEV" {
		t.Errorf("names = %s", got)
	}
}
