package lb

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"

	"github.com/cespare/xxhash/v2"
)

// ringHash is a Ketama-style consistent hash ring, built as Envoy builds
// its RING_HASH ring: endpoint e's points are the xxHash of
// "<key>_0", "<key>_1", ..., and a hash maps to the owner of the first
// point at or after it, wrapping around.
type ringHash struct {
	eps    []Endpoint
	r      *rand.Rand
	hashes []uint64 // sorted
	owner  []uint32 // owner[i] is the index in eps of the point hashes[i]
}

func newRingHash(eps []Endpoint, cfg Config, r *rand.Rand) Picker {
	if len(eps) == 0 {
		return empty{}
	}
	type point struct {
		hash  uint64
		owner uint32
	}
	var sum float64
	minWeight := uint64(math.MaxUint64)
	for _, e := range eps {
		sum += float64(e.weight())
		minWeight = min(minWeight, e.weight())
	}
	// As in Envoy (and gRPC's ring_hash), the lightest endpoint gets its
	// share of MinRingSize points, rounded up, and the others
	// proportionally more, the whole ring capped at MaxRingSize. The same
	// keys, hash and sizing as theirs should map a hash to the same
	// endpoint in Weft, Envoy and proxyless gRPC clients.
	minShare := float64(minWeight) / sum
	perLightest := math.Ceil(minShare * float64(cfg.MinRingSize))
	scale := min(perLightest/minShare, float64(cfg.MaxRingSize))

	points := make([]point, 0, int(scale)+1)
	var buf []byte
	var placed, target float64
	for i, e := range eps {
		target += scale * float64(e.weight()) / sum
		buf = append(buf[:0], e.key()...)
		buf = append(buf, '_')
		prefix := len(buf)
		for n := 0; placed < target; n++ {
			buf = strconv.AppendInt(buf[:prefix], int64(n), 10)
			points = append(points, point{hash: xxhash.Sum64(buf), owner: uint32(i)})
			placed++
		}
	}
	slices.SortFunc(points, func(a, b point) int {
		if c := cmp.Compare(a.hash, b.hash); c != 0 {
			return c
		}
		return cmp.Compare(eps[a.owner].key(), eps[b.owner].key())
	})
	p := &ringHash{eps: eps, r: r, hashes: make([]uint64, len(points)), owner: make([]uint32, len(points))}
	for i, pt := range points {
		p.hashes[i], p.owner[i] = pt.hash, pt.owner
	}
	return p
}

// Pick maps the request's hash (a random one without) to its point on the
// ring; a retry takes the Attempt-th next point, as Envoy does.
func (p *ringHash) Pick(ctx PickContext) (Endpoint, Done, bool) {
	h := ctx.Hash
	if !ctx.HasHash {
		h = p.r.Uint64()
	}
	i, _ := slices.BinarySearch(p.hashes, h)
	i = (i + int(ctx.Attempt)) % len(p.hashes)
	return p.eps[p.owner[i]], noDone, true
}

// size is the number of points on the ring.
func (p *ringHash) size() int { return len(p.hashes) }
