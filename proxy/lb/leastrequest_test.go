package lb

import "testing"

// hold picks until it holds n requests on target, ending every other pick
// at once, and returns the held requests' Done funcs.
func hold(t *testing.T, p Picker, target string, n int) []Done {
	t.Helper()
	var held []Done
	for len(held) < n {
		e, done, ok := p.Pick(PickContext{})
		if !ok {
			t.Fatal("Pick found no endpoint")
		}
		if e.Address == target {
			held = append(held, done)
		} else {
			done()
		}
	}
	return held
}

func share(c map[string]int, addr string) float64 {
	var total int
	for _, n := range c {
		total += n
	}
	return float64(c[addr]) / float64(total)
}

func TestLeastRequestAvoidsBusyEndpoint(t *testing.T) {
	tests := []struct {
		choices uint32
		// An endpoint busier than the others is picked only when every
		// choice lands on it: (1/4)^choices of the time.
		wantMax float64
	}{
		{2, 0.0625 * 1.3},
		{3, 0.015625 * 1.5},
	}
	for _, tt := range tests {
		eps := equal(4)
		cfg := seeded(21)
		cfg.ChoiceCount = tt.choices
		p := mustNew(t, LeastRequest, eps, cfg)
		busy := eps[0].Address

		if s := share(counts(t, p, 20_000), busy); s < 0.23 || s > 0.27 {
			t.Fatalf("choices %d: idle share of an endpoint = %.3f, want 0.25", tt.choices, s)
		}
		held := hold(t, p, busy, 5)
		if s := share(counts(t, p, 20_000), busy); s > tt.wantMax {
			t.Errorf("choices %d: busy endpoint got %.3f of picks, want at most %.3f", tt.choices, s, tt.wantMax)
		}
		for _, done := range held {
			done()
		}
		if s := share(counts(t, p, 20_000), busy); s < 0.23 || s > 0.27 {
			t.Errorf("choices %d: after Done, share = %.3f, want 0.25 again", tt.choices, s)
		}
		checkIdle(t, p)
	}
}

// TestLeastRequestBalancesHeldLoad holds every request: power of two
// choices keeps the active counts far closer than random picks would.
func TestLeastRequestBalancesHeldLoad(t *testing.T) {
	eps := equal(10)
	p := mustNew(t, LeastRequest, eps, seeded(22))
	active := map[string]int{}
	var held []Done
	for range 1000 {
		e, done, _ := p.Pick(PickContext{})
		active[e.Address]++
		held = append(held, done)
	}
	lo, hi := 1000, 0
	for _, e := range eps {
		lo, hi = min(lo, active[e.Address]), max(hi, active[e.Address])
	}
	// Random picks spread 100 ± 10 per endpoint (one standard deviation).
	if hi-lo > 6 {
		t.Errorf("active counts range %d..%d, want within 6", lo, hi)
	}
	for _, done := range held {
		done()
	}
	checkIdle(t, p)
}

func TestWeightedLeastRequestIdleFollowsWeights(t *testing.T) {
	eps := endpoints(1, 2, 3, 4)
	p := mustNew(t, LeastRequest, eps, seeded(23))
	if _, ok := p.(*weightedLeastRequest); !ok {
		t.Fatalf("unequal weights gave a %T", p)
	}
	checkShares(t, eps, counts(t, p, 10_000), 0.01)
}

func TestWeightedLeastRequestActiveRequestBias(t *testing.T) {
	bias := func(v float64) *float64 { return &v }
	tests := []struct {
		name     string
		bias     *float64
		min, max float64 // share of the weight-2 endpoint, holding 7 requests
	}{
		// 2/(7+1+1) against 1/2 and 1/2: 0.18.
		{"default", nil, 0.15, 0.21},
		// 2/(8+1)^2 against 1/4 and 1/4: 0.047.
		{"squared", bias(2), 0.03, 0.065},
		// Plain weighted round robin: 0.5.
		{"zero", bias(0), 0.49, 0.51},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eps := endpoints(1, 1, 2)
			p := mustNew(t, LeastRequest, eps, Config{ActiveRequestBias: tt.bias})
			held := hold(t, p, eps[2].Address, 7)
			if s := share(counts(t, p, 10_000), eps[2].Address); s < tt.min || s > tt.max {
				t.Errorf("busy endpoint share = %.3f, want %.3f..%.3f", s, tt.min, tt.max)
			}
			for _, done := range held {
				done()
			}
			checkIdle(t, p)
		})
	}
}
