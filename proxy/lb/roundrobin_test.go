package lb

import (
	"slices"
	"testing"
)

func TestRoundRobinEqualWeightsCycleInOrder(t *testing.T) {
	eps := equal(3)
	p := mustNew(t, RoundRobin, eps, seeded(3))
	first := pick(t, p, PickContext{})
	start := slices.Index(eps, first)
	for i := 1; i < 30; i++ {
		if got, want := pick(t, p, PickContext{}), eps[(start+i)%3]; got != want {
			t.Fatalf("pick %d = %s, want %s", i, got.Address, want.Address)
		}
	}
}

func TestEDFSchedule(t *testing.T) {
	tests := []struct {
		weights []uint32
		want    []uint32
	}{
		{[]uint32{3, 1}, []uint32{0, 0, 1, 0}},
		{[]uint32{1, 3}, []uint32{1, 1, 0, 1}},
		{[]uint32{2, 4}, []uint32{1, 0, 1}}, // reduced to 1, 2
		{[]uint32{5, 0, 1}, []uint32{0, 0, 0, 0, 1, 2, 0}},
		{[]uint32{1, 2, 3}, []uint32{2, 1, 2, 0, 1, 2}},
	}
	for _, tt := range tests {
		if got := edfSchedule(endpoints(tt.weights...)); !slices.Equal(got, tt.want) {
			t.Errorf("edfSchedule(%v) = %v, want %v", tt.weights, got, tt.want)
		}
	}
}

func TestRoundRobinWeightedExactShares(t *testing.T) {
	eps := endpoints(1, 2, 3, 0)
	p := mustNew(t, RoundRobin, eps, seeded(4))
	// Any 7 consecutive picks are one whole cycle.
	for range 50 {
		c := counts(t, p, 7)
		for _, e := range eps {
			if c[e.Address] != int(e.weight()) {
				t.Fatalf("one cycle = %v, want each endpoint its weight", c)
			}
		}
	}
}

func TestRoundRobinHugeWeightsAreScaled(t *testing.T) {
	eps := endpoints(1_000_003, 3_000_001, 7, 4_000_000_000)
	p := mustNew(t, RoundRobin, eps, seeded(5))
	rr := p.(*roundRobin)
	if n := len(rr.schedule); n > maxSchedule+len(eps) {
		t.Fatalf("schedule of %d picks, want at most %d", n, maxSchedule+len(eps))
	}
	c := counts(t, p, len(rr.schedule))
	if c[eps[2].Address] != 1 {
		t.Errorf("tiny weight got %d picks per cycle, want 1", c[eps[2].Address])
	}
	// Each share is off by at most half a pick per cycle, before the tiny
	// weight's forced pick.
	var sum float64
	for _, e := range eps {
		sum += float64(e.weight())
	}
	for _, e := range eps {
		want := float64(len(rr.schedule)) * float64(e.weight()) / sum
		if d := float64(c[e.Address]) - want; d > 1 || d < -1 {
			t.Errorf("%s: %d picks per cycle, want %.1f", e.Address, c[e.Address], want)
		}
	}
}

func TestRoundRobinStartsAtRandomPosition(t *testing.T) {
	eps := equal(16)
	firsts := map[string]bool{}
	for seed := range uint64(20) {
		firsts[pick(t, mustNew(t, RoundRobin, eps, seeded(seed)), PickContext{}).Address] = true
	}
	if len(firsts) < 5 {
		t.Errorf("20 Pickers started at only %d distinct endpoints", len(firsts))
	}
}
