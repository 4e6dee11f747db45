package lb

import "testing"

func TestRandomDistribution(t *testing.T) {
	for _, weights := range [][]uint32{{1, 1, 1, 1}, {1, 2, 3, 10}, {0, 4}} {
		eps := endpoints(weights...)
		checkShares(t, eps, counts(t, mustNew(t, Random, eps, seeded(11)), 100_000), 0.05)
	}
}
