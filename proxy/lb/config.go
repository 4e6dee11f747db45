package lb

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
)

// Defaults and limits, as in Envoy's RingHashLbConfig, MaglevLbConfig and
// LeastRequestLbConfig.
const (
	DefaultMinRingSize     = 1024
	DefaultMaxRingSize     = 8 << 20
	MaxRingSizeLimit       = 8 << 20
	DefaultMaglevTableSize = 65537
	MaxMaglevTableSize     = 5000011
	DefaultChoiceCount     = 2
	DefaultActiveReqBias   = 1.0
)

// Config tunes the policies. Its zero value is Envoy's defaults; each
// field is used by one policy only, but New validates all of them.
type Config struct {
	// MinRingSize and MaxRingSize bound the number of points on a RingHash
	// ring: each endpoint gets at least one point per MinRingSize share of
	// the smallest weight, and the ring never exceeds MaxRingSize points.
	// 0 means 1024 and 8M; MaxRingSize is at most 8M and MinRingSize at
	// most MaxRingSize.
	MinRingSize uint64
	MaxRingSize uint64
	// MaglevTableSize is the number of entries of a Maglev table: a prime
	// of at most 5000011. 0 means 65537.
	MaglevTableSize uint64
	// ChoiceCount is how many random endpoints LeastRequest compares when
	// weights are equal; at least 2. 0 means 2.
	ChoiceCount uint32
	// ActiveRequestBias is the exponent of the active request count in
	// LeastRequest's weights when weights differ; 0 makes it weighted round
	// robin. Nil means 1.0; it must be finite and not negative.
	ActiveRequestBias *float64
	// Rand is the random source of the policies that need one. It must be
	// safe for concurrent use when Pick is called concurrently. Nil means
	// the runtime's generator; tests pass a seeded, locked source.
	Rand rand.Source
}

// DefaultConfig returns the Config whose fields are all set to Envoy's
// defaults.
func DefaultConfig() Config {
	return Config{}.withDefaults()
}

func (c Config) withDefaults() Config {
	if c.MinRingSize == 0 {
		c.MinRingSize = DefaultMinRingSize
	}
	if c.MaxRingSize == 0 {
		c.MaxRingSize = DefaultMaxRingSize
	}
	if c.MaglevTableSize == 0 {
		c.MaglevTableSize = DefaultMaglevTableSize
	}
	if c.ChoiceCount == 0 {
		c.ChoiceCount = DefaultChoiceCount
	}
	if c.ActiveRequestBias == nil {
		b := DefaultActiveReqBias
		c.ActiveRequestBias = &b
	}
	if c.Rand == nil {
		c.Rand = runtimeSource{}
	}
	return c
}

// Validate reports the first field of the Config that is out of range
// once defaults are applied, wrapping ErrInvalid.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.MaxRingSize > MaxRingSizeLimit:
		return fmt.Errorf("%w: max_ring_size %d is above %d", ErrInvalid, c.MaxRingSize, MaxRingSizeLimit)
	case c.MinRingSize > c.MaxRingSize:
		return fmt.Errorf("%w: min_ring_size %d is above max_ring_size %d", ErrInvalid, c.MinRingSize, c.MaxRingSize)
	case c.MaglevTableSize > MaxMaglevTableSize:
		return fmt.Errorf("%w: maglev table_size %d is above %d", ErrInvalid, c.MaglevTableSize, MaxMaglevTableSize)
	case !big.NewInt(int64(c.MaglevTableSize)).ProbablyPrime(0):
		return fmt.Errorf("%w: maglev table_size %d is not prime", ErrInvalid, c.MaglevTableSize)
	case c.ChoiceCount < 2:
		return fmt.Errorf("%w: choice_count %d is below 2", ErrInvalid, c.ChoiceCount)
	case !(*c.ActiveRequestBias >= 0 && !math.IsInf(*c.ActiveRequestBias, 1)):
		return fmt.Errorf("%w: active_request_bias %v is not a finite number >= 0", ErrInvalid, *c.ActiveRequestBias)
	}
	return nil
}

// runtimeSource is the runtime's per-thread generator, safe for concurrent
// use.
type runtimeSource struct{}

func (runtimeSource) Uint64() uint64 { return rand.Uint64() } //nolint:gosec // load balancing needs no secrecy
