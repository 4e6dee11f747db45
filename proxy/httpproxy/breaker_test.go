package httpproxy

import "testing"

func TestBreakerLimits(t *testing.T) {
	tests := []struct {
		name string
		cfg  BreakerConfig
		take func(*Breaker) (slot, bool)
		want int // slots granted before the first refusal
	}{
		{"requests", BreakerConfig{MaxRequests: 2}, (*Breaker).request, 2},
		{"pending", BreakerConfig{MaxPendingRequests: 1}, (*Breaker).pend, 1},
		{"connections", BreakerConfig{MaxConnections: 3}, (*Breaker).connection, 3},
		{"retries default", BreakerConfig{}, (*Breaker).retry, DefaultMaxRetries},
		{"retry budget floor", BreakerConfig{MaxRetries: 1, Budget: &RetryBudget{Percent: 20, MinConcurrency: 4}}, (*Breaker).retry, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := NewBreaker(tt.cfg)
			var got []slot
			for range tt.want + 5 {
				s, ok := tt.take(b)
				if !ok {
					break
				}
				got = append(got, s)
			}
			if len(got) != tt.want {
				t.Fatalf("granted %d, want %d", len(got), tt.want)
			}
			got[0].release()
			if _, ok := tt.take(b); !ok {
				t.Fatal("a released slot is not granted again")
			}
		})
	}
}

func TestRetryBudgetScalesWithRequests(t *testing.T) {
	b := NewBreaker(BreakerConfig{MaxRequests: 100, Budget: &RetryBudget{Percent: 50, MinConcurrency: 1}})
	for range 10 {
		if _, ok := b.request(); !ok {
			t.Fatal("request refused")
		}
	}
	n := 0
	for range 20 {
		if _, ok := b.retry(); ok {
			n++
		}
	}
	if n != 5 {
		t.Fatalf("%d retries granted with 10 requests in flight and a 50%% budget, want 5", n)
	}
}

func TestNilBreakerNeverTrips(t *testing.T) {
	var b *Breaker
	for range DefaultMaxRequests + 1 {
		if _, ok := b.request(); !ok {
			t.Fatal("a nil breaker refused")
		}
	}
}
