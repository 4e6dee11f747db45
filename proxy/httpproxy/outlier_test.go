package httpproxy

import (
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// fakeClock is a settable clock for Outlier.now.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestOutlierEjection(t *testing.T) {
	const a, b = "10.0.0.1:80", "10.0.0.2:80"
	tests := []struct {
		name     string
		cfg      OutlierConfig
		statuses []int // observed on a, in order
		hosts    int
		ejected  bool
	}{
		{"consecutive 5xx eject", OutlierConfig{Consecutive5xx: 3, Enforcing5xx: 100, MaxEjectionPercent: 100}, []int{500, 503, 0}, 2, true},
		{"one short", OutlierConfig{Consecutive5xx: 3, Enforcing5xx: 100, MaxEjectionPercent: 100}, []int{500, 503}, 2, false},
		{"a success resets the count", OutlierConfig{Consecutive5xx: 3, Enforcing5xx: 100, MaxEjectionPercent: 100}, []int{500, 500, 200, 500, 500}, 2, false},
		{"not enforced", OutlierConfig{Consecutive5xx: 2, Enforcing5xx: 0, MaxEjectionPercent: 100}, []int{500, 500, 500}, 2, false},
		{"gateway failures enforced", OutlierConfig{Consecutive5xx: 10, ConsecutiveGatewayFailure: 2, EnforcingGatewayFailure: 100, MaxEjectionPercent: 100}, []int{502, 504}, 2, true},
		{"500 is no gateway failure", OutlierConfig{Consecutive5xx: 10, ConsecutiveGatewayFailure: 2, EnforcingGatewayFailure: 100, MaxEjectionPercent: 100}, []int{502, 500}, 2, false},
		{"max ejection percent", OutlierConfig{Consecutive5xx: 1, Enforcing5xx: 100, MaxEjectionPercent: 10}, []int{500}, 2, false},
		{"always eject one host", OutlierConfig{Consecutive5xx: 1, Enforcing5xx: 100, MaxEjectionPercent: 10, AlwaysEjectOneHost: true}, []int{500}, 2, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := NewOutlier(tt.cfg)
			for _, s := range tt.statuses {
				o.Observe(a, s, tt.hosts)
			}
			if got := o.Ejected(a); got != tt.ejected {
				t.Errorf("ejected %v, want %v", got, tt.ejected)
			}
			if o.Ejected(b) {
				t.Error("the other endpoint is ejected")
			}
		})
	}
}

func TestOutlierEjectionTimeGrows(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1000, 0)}
	o := NewOutlier(OutlierConfig{Consecutive5xx: 1, Enforcing5xx: 100, MaxEjectionPercent: 100,
		BaseEjectionTime: time.Second, MaxEjectionTime: 5 * time.Second, Interval: time.Hour})
	o.now = clock.now
	const a = "10.0.0.1:80"
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 3 * time.Second} {
		o.Observe(a, http.StatusInternalServerError, 2)
		clock.t = clock.t.Add(want - time.Millisecond)
		if !o.Ejected(a) {
			t.Fatalf("ejection %d: back before %v", i+1, want)
		}
		clock.t = clock.t.Add(time.Millisecond)
		if o.Ejected(a) {
			t.Fatalf("ejection %d: still out after %v", i+1, want)
		}
	}
	// Each interval spent healthy takes one ejection off the multiplier:
	// after three, the next ejection lasts the base time again.
	clock.t = clock.t.Add(3 * time.Hour)
	o.Observe(a, http.StatusInternalServerError, 2)
	clock.t = clock.t.Add(time.Second + time.Millisecond)
	if o.Ejected(a) {
		t.Fatal("the multiplier did not decay")
	}
}

func TestOutlierForgetsHealthyEndpoints(t *testing.T) {
	o := NewOutlier(OutlierConfig{Consecutive5xx: 5, Enforcing5xx: 100, MaxEjectionPercent: 100})
	o.Observe("10.0.0.1:80", http.StatusInternalServerError, 2)
	for i := range 1000 {
		o.Observe(net.JoinHostPort("10.1.0.1", strconv.Itoa(i)), http.StatusOK, 2)
	}
	if n := len(o.hosts); n > 20 {
		t.Errorf("the detector remembers %d endpoints for a cluster of 2", n)
	}
	if _, ok := o.hosts["10.0.0.1:80"]; !ok {
		t.Error("the endpoint with a failure was forgotten")
	}
}
