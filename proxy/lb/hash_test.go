package lb

import (
	"testing"

	"github.com/cespare/xxhash/v2"
)

func TestHash(t *testing.T) {
	if got, want := Hash("10.0.0.1"), xxhash.Sum64String("10.0.0.1"); got != want {
		t.Errorf("Hash of one value = %x, want XXH64 with seed 0 %x", got, want)
	}
	// Known XXH64 of "" with seed 0.
	if got := Hash(""); got != 0xef46db3751d8e999 {
		t.Errorf(`Hash("") = %x`, got)
	}
	var d xxhash.Digest
	d.ResetWithSeed(Hash("a"))
	_, _ = d.WriteString("b")
	if got := Hash("a", "b"); got != d.Sum64() {
		t.Errorf("Hash(a, b) = %x, want XXH64(b, seed XXH64(a)) = %x", got, d.Sum64())
	}
	if Hash("a", "b") == Hash("b", "a") || Hash() != 0 {
		t.Error("Hash ignores the order of its values, or hashes nothing to non-zero")
	}
}

func TestPickContextAddHash(t *testing.T) {
	var c PickContext
	c.AddHash(5)
	if !c.HasHash || c.Hash != 5 {
		t.Fatalf("after one AddHash: %+v", c)
	}
	c.AddHash(5)
	if c.Hash != 10^5 {
		t.Errorf("equal values combine to %d, want 15 (5 rotated left, XOR 5)", c.Hash)
	}
	c = PickContext{Hash: 1 << 63, HasHash: true}
	c.AddHash(0)
	if c.Hash != 1 {
		t.Errorf("rotation lost the top bit: %x", c.Hash)
	}
}
