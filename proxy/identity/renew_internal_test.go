package identity

import (
	"testing"
	"time"
)

func TestRenewDelay(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name                string
		notBefore, notAfter time.Time
		fraction            float64
		want                time.Duration
	}{
		{"half of a day", now, now.Add(24 * time.Hour), 0.5, 12 * time.Hour},
		{"backdated NotBefore does not bring renewal forward", now.Add(-time.Minute), now.Add(time.Minute), 0.5, 30 * time.Second},
		{"earliest jitter", now, now.Add(100 * time.Second), renewMinFraction, 40 * time.Second},
		{"latest jitter", now, now.Add(100 * time.Second), renewMaxFraction, 55 * time.Second},
		{"NotBefore in the future counts from NotBefore", now.Add(10 * time.Second), now.Add(110 * time.Second), 0.5, 50 * time.Second},
		{"expired on arrival waits the floor", now.Add(-2 * time.Hour), now.Add(-time.Hour), 0.5, time.Second},
		{"very short lifetime waits the floor", now, now.Add(time.Second), 0.5, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := renewDelay(tt.notBefore, tt.notAfter, now, tt.fraction, time.Second); got != tt.want {
				t.Errorf("renewDelay = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestRenewFractionIsJittered(t *testing.T) {
	lo, hi := 1.0, 0.0
	for range 2000 {
		f := renewFraction()
		if f < renewMinFraction || f > renewMaxFraction {
			t.Fatalf("renewFraction() = %v, outside [%v, %v]", f, renewMinFraction, renewMaxFraction)
		}
		lo, hi = min(lo, f), max(hi, f)
	}
	// 2000 draws cover the range: proxies do not all renew at one point.
	if lo > renewMinFraction+0.01 || hi < renewMaxFraction-0.01 {
		t.Errorf("2000 draws span [%v, %v], want nearly [%v, %v]", lo, hi, renewMinFraction, renewMaxFraction)
	}
}
