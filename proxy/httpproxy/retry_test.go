package httpproxy

import (
	"net/http"
	"testing"
	"time"
)

func TestBackOffBounds(t *testing.T) {
	p := &RetryPolicy{BackOffBase: 10 * time.Millisecond, BackOffMax: 50 * time.Millisecond}
	for n, upper := range map[uint32]time.Duration{1: 10 * time.Millisecond, 2: 30 * time.Millisecond, 3: 50 * time.Millisecond, 40: 50 * time.Millisecond} {
		for range 200 {
			if d := p.backOff(n); d < 0 || d >= upper {
				t.Fatalf("back-off before retry %d: %v, want in [0, %v)", n, d, upper)
			}
		}
	}
}

func TestRetriable(t *testing.T) {
	resp := func(code int, grpc string) *attempt {
		r := &http.Response{StatusCode: code, Header: http.Header{}}
		if grpc != "" {
			r.Header.Set("Grpc-Status", grpc)
		}
		return &attempt{resp: r}
	}
	tests := []struct {
		name string
		on   RetryOn
		a    *attempt
		want bool
	}{
		{"5xx on 500", RetryOn5xx, resp(500, ""), true},
		{"5xx on 404", RetryOn5xx, resp(404, ""), false},
		{"gateway-error on 503", RetryOnGatewayError, resp(503, ""), true},
		{"gateway-error on 500", RetryOnGatewayError, resp(500, ""), false},
		{"retriable-4xx on 409", RetryOnRetriable4xx, resp(409, ""), true},
		{"status codes", RetryOnRetriableStatusCodes, resp(418, ""), true},
		{"grpc unavailable", RetryOnGRPCUnavailable, resp(200, "14"), true},
		{"grpc unavailable on internal", RetryOnGRPCUnavailable, resp(200, "13"), false},
		{"connect-failure on connect failure", RetryOnConnectFailure, &attempt{fail: failConnect}, true},
		{"connect-failure on reset", RetryOnConnectFailure, &attempt{fail: failReset}, false},
		{"reset on reset", RetryOnReset, &attempt{fail: failReset}, true},
		{"5xx on per-try timeout", RetryOn5xx, &attempt{fail: failPerTry}, true},
		{"5xx on overflow", RetryOn5xx, &attempt{fail: failOverflow}, false},
		{"5xx on route timeout", RetryOn5xx, &attempt{fail: failRouteTimeout}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &RetryPolicy{On: tt.on, StatusCodes: []uint32{418}}
			if got := p.retriable(tt.a); got != tt.want {
				t.Errorf("retriable = %v, want %v", got, tt.want)
			}
		})
	}
}
