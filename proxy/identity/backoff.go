package identity

import (
	"math/rand/v2"
	"time"
)

// backoff yields exponentially growing delays, from initial up to max, each
// drawn at random from its upper half ("equal jitter") so that proxies
// restarted together do not retry in lockstep.
type backoff struct {
	initial, max time.Duration
	next         time.Duration
}

func newBackoff(initial, max time.Duration) *backoff {
	return &backoff{initial: initial, max: max, next: initial}
}

func (b *backoff) delay() time.Duration {
	d := b.next
	b.next = min(2*b.next, b.max)
	half := d / 2
	return half + rand.N(half+1) //nolint:gosec // jitter needs no secrecy
}
