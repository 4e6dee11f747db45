package translate

import (
	"slices"
	"strings"

	"github.com/weftmesh/weft/controlplane/model"
)

// wildcard is the Dependencies name that stands for every Service of a
// namespace ("payments/*").
const wildcard = "*"

// scope returns the Services a Pod's configuration covers, in the mesh's
// order (namespace, then name) and each once: every Service of w's
// namespace, plus w's Dependencies, where a Name of "*" stands for every
// Service of that namespace. A dependency on a Service the mesh lacks is
// skipped: its proxy gets the Service once it exists.
//
// The mesh must be sorted: the namespaces are found by binary search, so
// the cost follows the size of the scope, not of the mesh.
func scope(m *model.Mesh, w *model.Workload) []*model.Service {
	var idx []int
	addNamespace := func(ns string) {
		lo, hi := namespaceServices(m.Services, ns)
		for i := lo; i < hi; i++ {
			idx = append(idx, i)
		}
	}
	addNamespace(w.Namespace)
	for _, d := range w.Dependencies {
		if d.Name == wildcard {
			addNamespace(d.Namespace)
			continue
		}
		if i, ok := serviceIndex(m.Services, d); ok {
			idx = append(idx, i)
		}
	}
	slices.Sort(idx)
	idx = slices.Compact(idx)
	out := make([]*model.Service, 0, len(idx))
	for _, i := range idx {
		out = append(out, &m.Services[i])
	}
	return out
}

// namespaceServices returns the range [lo, hi) of the Services of
// namespace ns in svcs, which is sorted by namespace.
func namespaceServices(svcs []model.Service, ns string) (lo, hi int) {
	lo, _ = slices.BinarySearchFunc(svcs, ns, func(s model.Service, ns string) int {
		return strings.Compare(s.Namespace, ns)
	})
	hi = lo
	for hi < len(svcs) && svcs[hi].Namespace == ns {
		hi++
	}
	return lo, hi
}

// serviceIndex finds the Service named key in svcs, which is sorted.
func serviceIndex(svcs []model.Service, key model.NamespacedName) (int, bool) {
	return slices.BinarySearchFunc(svcs, key, func(s model.Service, k model.NamespacedName) int {
		if c := strings.Compare(s.Namespace, k.Namespace); c != 0 {
			return c
		}
		return strings.Compare(s.Name, k.Name)
	})
}
