package lb

import (
	"container/heap"
	"math/rand/v2"
	"sync/atomic"
)

// maxSchedule bounds the length of a weighted round robin cycle. Weights
// whose reduced sum is larger are scaled down to fit, keeping every
// endpoint at least once per cycle; the relative error of an endpoint's
// share is then at most 1/(2*its scaled weight).
const maxSchedule = 1 << 16

// roundRobin cycles through a fixed schedule of endpoint indexes with an
// atomic counter.
type roundRobin struct {
	eps []Endpoint
	// schedule is nil when weights are equal: the cycle is eps itself.
	schedule []uint32
	next     atomic.Uint64
}

func newRoundRobin(eps []Endpoint, r *rand.Rand) Picker {
	if len(eps) == 0 {
		return empty{}
	}
	p := &roundRobin{eps: eps}
	n := uint64(len(eps))
	if !equalWeights(eps) {
		p.schedule = edfSchedule(eps)
		n = uint64(len(p.schedule))
	}
	p.next.Store(r.Uint64N(n))
	return p
}

func (p *roundRobin) Pick(PickContext) (Endpoint, Done, bool) {
	i := p.next.Add(1) - 1
	if p.schedule == nil {
		return p.eps[i%uint64(len(p.eps))], noDone, true
	}
	return p.eps[p.schedule[i%uint64(len(p.schedule))]], noDone, true
}

// edfSchedule returns one cycle of earliest-deadline-first picks: endpoint
// i's k-th pick (k from 1) is due at k/w_i, and the cycle holds w_i picks
// of each endpoint.
func edfSchedule(eps []Endpoint) []uint32 {
	ws, total := reducedWeights(eps)
	if sum := total; sum > maxSchedule {
		total = 0
		for i, w := range ws {
			ws[i] = max(1, (w*maxSchedule+sum/2)/sum)
			total += ws[i]
		}
	}
	h := make(edfHeap, len(ws))
	for i, w := range ws {
		h[i] = edfEntry{k: 1, w: w, idx: uint32(i)}
	}
	heap.Init(&h)
	out := make([]uint32, 0, total)
	for len(h) > 0 {
		e := &h[0]
		out = append(out, e.idx)
		if e.k == e.w {
			heap.Pop(&h)
			continue
		}
		e.k++
		heap.Fix(&h, 0)
	}
	return out
}

// edfEntry is an endpoint whose next pick is its k-th, due at k/w.
type edfEntry struct {
	k, w uint64
	idx  uint32
}

type edfHeap []edfEntry

func (h edfHeap) Len() int { return len(h) }
func (h edfHeap) Less(i, j int) bool {
	// k_i/w_i < k_j/w_j without division; k <= w <= maxSchedule here.
	a, b := h[i].k*h[j].w, h[j].k*h[i].w
	if a != b {
		return a < b
	}
	// On a tie, the entry scheduled earlier goes first, as in Envoy's EDF
	// scheduler: the one whose previous pick, at (k-1)/w, was earlier.
	a, b = (h[i].k-1)*h[j].w, (h[j].k-1)*h[i].w
	if a != b {
		return a < b
	}
	return h[i].idx < h[j].idx
}
func (h edfHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *edfHeap) Push(x any)   { *h = append(*h, x.(edfEntry)) }
func (h *edfHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
