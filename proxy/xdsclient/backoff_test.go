package xdsclient

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	tests := []struct {
		name         string
		initial, max time.Duration
		ceilings     []time.Duration
	}{{
		name:     "defaults",
		initial:  DefaultInitialBackoff,
		max:      DefaultMaxBackoff,
		ceilings: []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond},
	}, {
		name:    "capped",
		initial: time.Second,
		max:     3 * time.Second,
		ceilings: []time.Duration{
			time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second, 3 * time.Second,
		},
	}, {
		name:     "initial equals max",
		initial:  time.Second,
		max:      time.Second,
		ceilings: []time.Duration{time.Second, time.Second, time.Second},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBackoff(tc.initial, tc.max)
			for round := range 2 { // the second round after reset
				for i, ceiling := range tc.ceilings {
					for range 50 { // jitter: every draw within [ceiling/2, ceiling]
						probe := *b
						if d := probe.next(); d < ceiling/2 || d > ceiling {
							t.Fatalf("round %d attempt %d: delay %v outside [%v, %v]", round, i, d, ceiling/2, ceiling)
						}
					}
					b.next()
				}
				b.reset()
			}
		})
	}
}

func TestBackoffJitters(t *testing.T) {
	b := newBackoff(time.Second, time.Second)
	seen := map[time.Duration]bool{}
	for range 20 {
		seen[b.next()] = true
	}
	if len(seen) < 2 {
		t.Errorf("20 delays all equal %v: no jitter", seen)
	}
}

func TestBackoffLongOutage(t *testing.T) {
	b := newBackoff(time.Nanosecond, 30*time.Second)
	for range 10000 {
		b.next()
	}
	if d := b.next(); d < 15*time.Second || d > 30*time.Second {
		t.Errorf("delay after a long outage %v, want within [15s, 30s]", d)
	}
}
