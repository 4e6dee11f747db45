package lb

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/cespare/xxhash/v2"
)

// maglev is a Maglev lookup table: table[h % len(table)] is the index in
// eps of hash h's endpoint.
type maglev struct {
	eps   []Endpoint
	r     *rand.Rand
	table []uint32
}

// maglevEntry is an endpoint's state while the table is filled: its
// permutation of the table's slots is offset, offset+skip, offset+2*skip,
// ... (mod the table size), and next is how far along it it is.
type maglevEntry struct {
	idx          uint32
	offset, skip uint64
	next         uint64
	weight       uint64
	// target is how many iterations' worth of weight the entry has used.
	target uint64
}

// newMaglev fills the table as listing 1 of the Maglev paper, weighted as
// Envoy does: in each round an endpoint of the largest weight claims a
// slot, and one of weight w a slot every maxWeight/w rounds. Endpoints take
// turns in the order of their keys, not the order given, so that every
// proxy builds the same table from the same set.
func newMaglev(eps []Endpoint, cfg Config, r *rand.Rand) Picker {
	if len(eps) == 0 {
		return empty{}
	}
	size := cfg.MaglevTableSize
	entries := make([]maglevEntry, len(eps))
	var maxWeight uint64
	for i, e := range eps {
		key := e.key()
		var seeded xxhash.Digest
		seeded.ResetWithSeed(1)
		_, _ = seeded.WriteString(key)
		entries[i] = maglevEntry{
			idx:    uint32(i),
			offset: xxhash.Sum64String(key) % size,
			skip:   seeded.Sum64()%(size-1) + 1,
			weight: e.weight(),
		}
		maxWeight = max(maxWeight, e.weight())
	}
	slices.SortStableFunc(entries, func(a, b maglevEntry) int {
		return cmp.Compare(eps[a.idx].key(), eps[b.idx].key())
	})

	table := make([]uint32, size)
	for i := range table {
		table[i] = math.MaxUint32
	}
	var filled uint64
	for round := uint64(0); filled < size; round++ {
		for j := range entries {
			e := &entries[j]
			if round*e.weight < e.target {
				continue
			}
			e.target += maxWeight
			c := (e.offset + e.skip*e.next) % size
			for table[c] != math.MaxUint32 {
				e.next++
				c = (e.offset + e.skip*e.next) % size
			}
			table[c] = e.idx
			e.next++
			filled++
			if filled == size {
				break
			}
		}
	}
	return &maglev{eps: eps, r: r, table: table}
}

// Pick looks the request's hash (a random one without) up in the table. A
// retry flips many bits of the hash, as Envoy does, to land elsewhere.
func (p *maglev) Pick(ctx PickContext) (Endpoint, Done, bool) {
	h := ctx.Hash
	if !ctx.HasHash {
		h = p.r.Uint64()
	}
	if ctx.Attempt > 0 {
		h ^= -uint64(ctx.Attempt)
	}
	return p.eps[p.table[h%uint64(len(p.table))]], noDone, true
}
