// Package lb picks the upstream endpoint for a request or connection, with
// the load balancing policies of Envoy's clusters (lb_policy):
//
//   - RoundRobin: weighted round robin. Equal weights cycle through the
//     endpoints in order; different weights follow a precomputed
//     earliest-deadline-first schedule, so an endpoint of weight 3 is picked
//     three times as often as one of weight 1, spread over the cycle. The
//     cycle starts at a random position so that proxies do not move in
//     lockstep.
//   - LeastRequest: with equal weights, the endpoint with the fewest active
//     requests among ChoiceCount (default 2) chosen at random ("power of two
//     choices"); with different weights, an earliest-deadline-first
//     schedule whose weights are weight / (active+1)^ActiveRequestBias.
//   - Random: an endpoint at random, in proportion to its weight (Envoy's
//     ignores weights; with equal weights the two agree).
//   - RingHash: Ketama-style consistent hashing, built as Envoy and gRPC
//     build it. Each endpoint owns points on a ring of 64-bit xxHash
//     values of "<key>_<n>", as many as its weight's share of a ring of at
//     least MinRingSize and at most MaxRingSize points.
//   - Maglev: the lookup table of the Maglev paper (Eisenbud et al., NSDI
//     2016), weighted as Envoy does, of MaglevTableSize entries.
//
// The two hash-based policies give session affinity: the caller computes a
// hash of the request (header, cookie or source IP values, with Hash and
// PickContext.AddHash) and the same hash maps to the same endpoint for as
// long as the endpoint set is unchanged. Adding or removing one of N
// endpoints moves close to the ideal 1/N of the hashes with Maglev (within
// 2/N for 100 endpoints and the default table). With RingHash it moves 1/N
// when each endpoint's point count, ceil(MinRingSize/N) for equal weights,
// is the same for N and N+1 (often so above sqrt(MinRingSize) endpoints);
// otherwise every endpoint also gains or loses points, and up to about
// twice as many hashes move.
// Without a hash both pick at random, as Envoy does.
//
// A Picker is immutable and safe for concurrent use; a new endpoint set
// means a new Picker, which callers swap in atomically. Pick takes no lock
// except for LeastRequest with unequal weights, whose schedule is guarded
// by a mutex of its own Picker. Every Pick returns a Done func that the
// caller calls once when the request or connection ends; LeastRequest
// counts active requests with it.
package lb
