package xds

import (
	"sync"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"

	"github.com/weftmesh/weft/controlplane/translate"
)

// internKey names a resource by content: its type URL and the SHA-256 of
// its deterministic encoding (which includes its name).
type internKey struct {
	typ string
	sum [32]byte
}

type internEntry struct {
	res  types.Resource
	refs int
}

// interner shares identical resources between snapshots. Proxies that call
// the same Service get the same cluster and ClusterLoadAssignment, built
// once per proxy by the translator; kept once, they cost memory per
// Service, not per caller. Resources are never mutated once translated
// (go-control-plane only reads them), so sharing them is safe.
type interner struct {
	mu    sync.Mutex // Update interns from several goroutines
	table map[internKey]*internEntry
	held  map[string][]internKey // per node, the keys its snapshot holds
}

func newInterner() *interner {
	return &interner{table: map[internKey]*internEntry{}, held: map[string][]internKey{}}
}

// hold replaces, in res, every resource already held by another snapshot
// with the held one, and makes node hold res's resources instead of its
// previous ones. sums are res's keys, index for index (digest).
func (in *interner) hold(node string, res translate.Resources, sums map[string][][32]byte) {
	in.mu.Lock()
	defer in.mu.Unlock()
	keys := make([]internKey, 0, len(in.held[node]))
	for typ, rs := range res {
		for i := range rs {
			k := internKey{typ: typ, sum: sums[typ][i]}
			if e, ok := in.table[k]; ok {
				rs[i] = e.res
				e.refs++
			} else {
				in.table[k] = &internEntry{res: rs[i], refs: 1}
			}
			keys = append(keys, k)
		}
	}
	in.releaseLocked(node)
	in.held[node] = keys
}

// release drops node's hold on its resources.
func (in *interner) release(node string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.releaseLocked(node)
}

func (in *interner) releaseLocked(node string) {
	for _, k := range in.held[node] {
		if e := in.table[k]; e != nil {
			if e.refs--; e.refs <= 0 {
				delete(in.table, k)
			}
		}
	}
	delete(in.held, node)
}
