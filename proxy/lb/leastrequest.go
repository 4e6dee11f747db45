package lb

import (
	"container/heap"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
)

// counter is an active request count alone on its cache line, so that
// endpoints' counters do not slow each other down.
type counter struct {
	n atomic.Int64
	_ [56]byte
}

// actives counts the active requests of each endpoint; its Done funcs are
// made once, so that Pick does not allocate.
type actives struct {
	count []counter
	done  []Done
}

func newActives(n int) actives {
	a := actives{count: make([]counter, n), done: make([]Done, n)}
	for i := range a.done {
		c := &a.count[i].n
		a.done[i] = func() { c.Add(-1) }
	}
	return a
}

// leastRequest is power-of-N-choices over endpoints of equal weight.
type leastRequest struct {
	eps     []Endpoint
	act     actives
	r       *rand.Rand
	choices int
}

func newLeastRequest(eps []Endpoint, cfg Config, r *rand.Rand) Picker {
	if len(eps) == 0 {
		return empty{}
	}
	if !equalWeights(eps) {
		return newWeightedLeastRequest(eps, *cfg.ActiveRequestBias)
	}
	return &leastRequest{eps: eps, act: newActives(len(eps)), r: r, choices: int(cfg.ChoiceCount)}
}

// Pick draws the configured number of endpoints at random (with
// replacement, as Envoy) and takes the one with the fewest active requests,
// the first drawn on ties.
func (p *leastRequest) Pick(PickContext) (Endpoint, Done, bool) {
	best := p.r.IntN(len(p.eps))
	for range p.choices - 1 {
		i := p.r.IntN(len(p.eps))
		if p.act.count[i].n.Load() < p.act.count[best].n.Load() {
			best = i
		}
	}
	p.act.count[best].n.Add(1)
	return p.eps[best], p.act.done[best], true
}

// weightedLeastRequest is an earliest-deadline-first schedule whose
// weights shrink with the active requests: an endpoint picked now is due
// again after (active+1)^bias / weight, counting the request just picked.
// As in Envoy, an endpoint's weight is only recomputed when it is picked,
// so a busy endpoint is picked less and less often but never drained.
type weightedLeastRequest struct {
	eps  []Endpoint
	act  actives
	bias float64

	mu  sync.Mutex
	now float64 // deadline of the last pick
	seq uint64  // insertion order, for ties
	h   deadlineHeap
}

func newWeightedLeastRequest(eps []Endpoint, bias float64) *weightedLeastRequest {
	p := &weightedLeastRequest{eps: eps, act: newActives(len(eps)), bias: bias}
	p.h = make(deadlineHeap, len(eps))
	for i, e := range eps {
		p.h[i] = deadline{at: 1 / float64(e.weight()), seq: uint64(i), idx: i}
	}
	p.seq = uint64(len(eps))
	heap.Init(&p.h)
	return p
}

func (p *weightedLeastRequest) Pick(PickContext) (Endpoint, Done, bool) {
	p.mu.Lock()
	top := &p.h[0]
	i := top.idx
	p.now = top.at
	active := p.act.count[i].n.Add(1)
	top.at = p.now + 1/p.effectiveWeight(p.eps[i].weight(), active)
	top.seq = p.seq
	p.seq++
	heap.Fix(&p.h, 0)
	p.mu.Unlock()
	return p.eps[i], p.act.done[i], true
}

// effectiveWeight is Envoy's weight / (active_requests + 1)^bias.
func (p *weightedLeastRequest) effectiveWeight(w uint64, active int64) float64 {
	switch p.bias {
	case 0:
		return float64(w)
	case 1:
		return float64(w) / float64(active+1)
	}
	return float64(w) / math.Pow(float64(active+1), p.bias)
}

// deadline is an endpoint due to be picked at a point of the schedule.
type deadline struct {
	at  float64
	seq uint64
	idx int
}

type deadlineHeap []deadline

func (h deadlineHeap) Len() int { return len(h) }
func (h deadlineHeap) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].seq < h[j].seq
}
func (h deadlineHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *deadlineHeap) Push(x any)   { *h = append(*h, x.(deadline)) }
func (h *deadlineHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
