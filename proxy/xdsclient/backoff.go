package xdsclient

import (
	"math/rand/v2"
	"time"
)

// backoff yields exponentially growing delays between initial and max, each
// drawn uniformly from [d/2, d] ("equal jitter") so that proxies restarted
// together do not reconnect in lockstep.
type backoff struct {
	initial, max time.Duration
	attempt      int
}

func newBackoff(initial, maxDelay time.Duration) *backoff {
	return &backoff{initial: initial, max: maxDelay}
}

// next returns the delay before the next attempt and advances the sequence.
func (b *backoff) next() time.Duration {
	d := b.ceiling(b.attempt)
	b.attempt++
	half := d / 2
	return half + rand.N(d-half+1) //nolint:gosec // jitter needs no cryptographic randomness
}

// ceiling is the un-jittered delay of an attempt: initial·2^attempt, capped.
func (b *backoff) ceiling(attempt int) time.Duration {
	d := b.initial
	for range attempt {
		if d >= b.max/2 {
			return b.max
		}
		d *= 2
	}
	return min(d, b.max)
}

// reset starts the sequence again from the initial delay.
func (b *backoff) reset() { b.attempt = 0 }
