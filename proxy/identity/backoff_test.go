package identity

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	b := newBackoff(100*time.Millisecond, time.Second)
	ceilings := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i, ceiling := range ceilings {
		ceiling *= time.Millisecond
		for range 20 { // each delay is random; check its bounds repeatedly
			c := *b
			d := c.delay()
			if d < ceiling/2 || d > ceiling {
				t.Fatalf("attempt %d: delay %s outside [%s, %s]", i+1, d, ceiling/2, ceiling)
			}
		}
		b.delay()
	}
}
