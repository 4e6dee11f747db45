package model

import "sort"

// namespaceRange returns the range [lo, hi) of the items of namespace ns
// in s, which is sorted by namespace first (as Mesh.Sort leaves
// Workloads, Services and every slice of Policies). Lookups that concern
// one namespace use it, so that their cost follows that namespace, not
// the mesh: a Pod's translation then grows with its scope alone.
func namespaceRange[T any](s []T, ns string, namespace func(*T) string) (lo, hi int) {
	lo = sort.Search(len(s), func(i int) bool { return namespace(&s[i]) >= ns })
	hi = lo + sort.Search(len(s)-lo, func(i int) bool { return namespace(&s[lo+i]) > ns })
	return lo, hi
}
