package lb

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// lockedSource is a seeded source safe for concurrent use.
type lockedSource struct {
	mu  sync.Mutex
	src *rand.PCG
}

func (s *lockedSource) Uint64() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.src.Uint64()
}

func seeded(seed uint64) Config {
	return Config{Rand: &lockedSource{src: rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)}}
}

// endpoints returns one endpoint per weight, on the documentation network.
func endpoints(weights ...uint32) []Endpoint {
	eps := make([]Endpoint, len(weights))
	for i, w := range weights {
		eps[i] = Endpoint{Address: fmt.Sprintf("192.0.2.%d:8080", i+1), Weight: w}
	}
	return eps
}

func equal(n int) []Endpoint { return endpoints(make([]uint32, n)...) }

func mustNew(t testing.TB, policy Policy, eps []Endpoint, cfg Config) Picker {
	t.Helper()
	p, err := New(policy, eps, cfg)
	if err != nil {
		t.Fatalf("New(%s): %v", policy, err)
	}
	return p
}

// pick is one Pick that must succeed; it ends the request at once.
func pick(t testing.TB, p Picker, ctx PickContext) Endpoint {
	t.Helper()
	e, done, ok := p.Pick(ctx)
	if !ok {
		t.Fatal("Pick found no endpoint")
	}
	done()
	return e
}

// counts picks n times without a hash and counts the picks per address.
func counts(t testing.TB, p Picker, n int) map[string]int {
	t.Helper()
	c := map[string]int{}
	for range n {
		c[pick(t, p, PickContext{}).Address]++
	}
	return c
}

// checkShares fails unless each endpoint got its weight's share of total
// picks, within tol (a fraction of that share).
func checkShares(t *testing.T, eps []Endpoint, got map[string]int, tol float64) {
	t.Helper()
	var sum, total float64
	for _, e := range eps {
		sum += float64(e.weight())
	}
	for _, n := range got {
		total += float64(n)
	}
	for _, e := range eps {
		want := total * float64(e.weight()) / sum
		if d := float64(got[e.Address]) - want; d > tol*want || d < -tol*want {
			t.Errorf("%s (weight %d): %d picks, want %.0f ±%.0f%%", e.Address, e.weight(), got[e.Address], want, tol*100)
		}
	}
}

// mapping returns the address each of n seeded hashes maps to.
func mapping(t testing.TB, p Picker, n int) []string {
	t.Helper()
	r := rand.New(rand.NewPCG(7, 7))
	out := make([]string, n)
	for i := range out {
		out[i] = pick(t, p, PickContext{Hash: r.Uint64(), HasHash: true}).Address
	}
	return out
}
