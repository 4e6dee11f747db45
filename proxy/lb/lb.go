package lb

import (
	"errors"
	"fmt"
	"math/rand/v2"
)

// ErrInvalid is wrapped by every error New returns for a bad policy,
// endpoint or Config.
var ErrInvalid = errors.New("invalid load balancer configuration")

// Policy is a load balancing algorithm. The zero value is RoundRobin, as
// in Envoy.
type Policy int

// The policies, named after Envoy's Cluster.LbPolicy values.
const (
	RoundRobin Policy = iota
	LeastRequest
	RingHash
	Random
	Maglev
)

// String returns the policy's Envoy name, for logs and errors.
func (p Policy) String() string {
	switch p {
	case RoundRobin:
		return "ROUND_ROBIN"
	case LeastRequest:
		return "LEAST_REQUEST"
	case RingHash:
		return "RING_HASH"
	case Random:
		return "RANDOM"
	case Maglev:
		return "MAGLEV"
	}
	return fmt.Sprintf("Policy(%d)", int(p))
}

// Endpoint is one upstream a Picker may choose.
type Endpoint struct {
	// Address is what the caller dials, usually "ip:port". It must not be
	// empty.
	Address string
	// Weight is the endpoint's load_balancing_weight; 0 means 1.
	Weight uint32
	// HashKey, when set, replaces Address as the endpoint's identity on the
	// RingHash ring and in the Maglev table (Envoy's "envoy.lb" hash_key
	// metadata), so that an endpoint keeps its hashes across address
	// changes.
	HashKey string
}

func (e Endpoint) weight() uint64 {
	if e.Weight == 0 {
		return 1
	}
	return uint64(e.Weight)
}

func (e Endpoint) key() string {
	if e.HashKey != "" {
		return e.HashKey
	}
	return e.Address
}

// PickContext is what a Picker may know about the request being balanced.
// The zero value has no hash.
type PickContext struct {
	// Hash is the request's hash for RingHash and Maglev, valid when
	// HasHash is set. Other policies ignore it.
	Hash    uint64
	HasHash bool
	// Attempt is 0 for a first pick and n for the n-th retry. Hash-based
	// policies then move away from the hash's endpoint as Envoy does with a
	// retry host predicate; the others ignore it (their picks vary anyway).
	Attempt uint32
}

// AddHash folds one hash policy's value into the context. Several values
// combine as in Envoy: the previous hash rotated left by one bit, XORed
// with the new one, so that equal values do not cancel out.
func (c *PickContext) AddHash(v uint64) {
	if c.HasHash {
		v ^= c.Hash<<1 | c.Hash>>63
	}
	c.Hash, c.HasHash = v, true
}

// Done ends one picked request or connection. Call it exactly once.
type Done func()

// Picker chooses endpoints. Pick reports false only when the Picker has no
// endpoints. It is safe for concurrent use.
type Picker interface {
	Pick(ctx PickContext) (Endpoint, Done, bool)
}

// New returns a Picker of the policy over a copy of endpoints; an empty set
// gives a Picker that never picks. Zero fields of cfg take their defaults.
// Building a RingHash or Maglev Picker costs time in proportion to its ring
// or table size, so callers build one per endpoint-set change, not per
// request.
func New(policy Policy, endpoints []Endpoint, cfg Config) (Picker, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	eps := make([]Endpoint, len(endpoints))
	copy(eps, endpoints)
	for i, e := range eps {
		if e.Address == "" {
			return nil, fmt.Errorf("%w: endpoints[%d]: empty address", ErrInvalid, i)
		}
	}
	r := rand.New(cfg.Rand) //nolint:gosec // load balancing needs no secrecy
	switch policy {
	case RoundRobin:
		return newRoundRobin(eps, r), nil
	case LeastRequest:
		return newLeastRequest(eps, cfg, r), nil
	case Random:
		return newRandom(eps, r), nil
	case RingHash:
		return newRingHash(eps, cfg, r), nil
	case Maglev:
		return newMaglev(eps, cfg, r), nil
	}
	return nil, fmt.Errorf("%w: unknown policy %s", ErrInvalid, policy)
}

// noDone is the Done of policies that do not count active requests.
func noDone() {}

// empty is the Picker of an empty endpoint set.
type empty struct{}

func (empty) Pick(PickContext) (Endpoint, Done, bool) { return Endpoint{}, noDone, false }
