package lb

import (
	"math/rand/v2"
	"sort"
)

// random picks endpoints at random in proportion to their weights. Envoy's
// RANDOM ignores weights; with equal weights the two agree, and honouring
// them keeps weights meaningful under every policy.
type random struct {
	eps []Endpoint
	r   *rand.Rand
	// cumulative[i] is the sum of the weights of eps[:i+1]; nil when
	// weights are equal.
	cumulative []uint64
}

func newRandom(eps []Endpoint, r *rand.Rand) Picker {
	if len(eps) == 0 {
		return empty{}
	}
	p := &random{eps: eps, r: r}
	if !equalWeights(eps) {
		p.cumulative = make([]uint64, len(eps))
		var sum uint64
		for i, e := range eps {
			sum += e.weight()
			p.cumulative[i] = sum
		}
	}
	return p
}

func (p *random) Pick(PickContext) (Endpoint, Done, bool) {
	if p.cumulative == nil {
		return p.eps[p.r.IntN(len(p.eps))], noDone, true
	}
	x := p.r.Uint64N(p.cumulative[len(p.cumulative)-1])
	i := sort.Search(len(p.cumulative), func(i int) bool { return p.cumulative[i] > x })
	return p.eps[i], noDone, true
}
