package injector

import (
	"slices"
	"strings"
	"testing"
)

// TestParseConfigTracing: the key tracing of the ConfigMap reaches the
// proxy's flags; without an endpoint the proxy gets none.
func TestParseConfigTracing(t *testing.T) {
	for _, tt := range []struct {
		name     string
		yaml     string
		wantArgs []string
	}{
		{name: "default: off", yaml: "", wantArgs: nil},
		{name: "sampling alone stays off", yaml: "tracing: {sampling: 1}\n", wantArgs: nil},
		{name: "grpc endpoint, default sampling", yaml: "tracing: {otlpEndpoint: otel-collector.observability:4317}\n",
			wantArgs: []string{"--tracing-otlp-endpoint", "otel-collector.observability:4317", "--tracing-sampling", "0.01"}},
		{name: "http endpoint, every trace", yaml: "tracing:\n  otlpEndpoint: http://otel-collector:4318\n  sampling: 1\n",
			wantArgs: []string{"--tracing-otlp-endpoint", "http://otel-collector:4318", "--tracing-sampling", "1"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ParseConfig([]byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Tracing.args(); !slices.Equal(got, tt.wantArgs) {
				t.Errorf("proxy args %q, want %q", got, tt.wantArgs)
			}
		})
	}
}

// TestParseConfigTracingErrors: a bad tracing key is refused naming it,
// rather than injecting proxies that cannot start.
func TestParseConfigTracingErrors(t *testing.T) {
	for _, tt := range []struct {
		name, yaml, wantErr string
	}{
		{"no port", "tracing: {otlpEndpoint: otel-collector}\n", `tracing.otlpEndpoint "otel-collector": want host:port`},
		{"bad port", "tracing: {otlpEndpoint: 'collector:otlp'}\n", `port "otlp" is not a port`},
		{"no host", "tracing: {otlpEndpoint: ':4317'}\n", "the host is missing"},
		{"grpc scheme", "tracing: {otlpEndpoint: 'grpc://collector:4317'}\n", `scheme "grpc": want http or https`},
		{"percentage", "tracing: {otlpEndpoint: 'c:4317', sampling: 50}\n", "tracing.sampling 50: want a share from 0 to 1"},
		{"negative", "tracing: {sampling: -1}\n", "tracing.sampling -1"},
		{"unknown key", "tracing: {endpoint: 'c:4317'}\n", `unknown field "tracing.endpoint"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}
