package lb

import "github.com/cespare/xxhash/v2"

// Hash returns the 64-bit xxHash of values, as Envoy hashes a request
// header, cookie or source IP for RingHash and Maglev: each value is hashed
// with the previous value's hash as its seed, starting from 0, so one value
// hashes to plain XXH64(value, 0). Envoy sorts a header's several values
// first, so that their order does not matter; callers do the same. No
// values hash to 0.
func Hash(values ...string) uint64 {
	var h uint64
	var d xxhash.Digest
	for _, v := range values {
		d.ResetWithSeed(h)
		_, _ = d.WriteString(v)
		h = d.Sum64()
	}
	return h
}
