package lb

import (
	"fmt"
	"testing"
)

// BenchmarkPick measures one Pick and its Done from parallel goroutines,
// for each policy with equal and unequal weights over 100 endpoints.
func BenchmarkPick(b *testing.B) {
	for _, weighted := range []bool{false, true} {
		eps := equal(100)
		if weighted {
			for i := range eps {
				eps[i].Weight = uint32(i%7 + 1)
			}
		}
		for _, policy := range allPolicies {
			b.Run(fmt.Sprintf("%s/weighted=%t", policy, weighted), func(b *testing.B) {
				p := mustNew(b, policy, eps, Config{})
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					var h uint64
					for pb.Next() {
						h += 0x9e3779b97f4a7c15
						_, done, _ := p.Pick(PickContext{Hash: h, HasHash: true})
						done()
					}
				})
			})
		}
	}
}

// BenchmarkNew measures building a Picker of 100 endpoints, which callers
// pay on every endpoint-set change.
func BenchmarkNew(b *testing.B) {
	eps := equal(100)
	for _, policy := range allPolicies {
		b.Run(policy.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				mustNew(b, policy, eps, Config{})
			}
		})
	}
}

func BenchmarkHash(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Hash("192.0.2.1")
	}
}
