package main

import (
	"strings"
	"testing"
)

// TestParseFlagsTracing: tracing is off unless an endpoint is given,
// samples 1% by default, and a bad endpoint or share is an error naming
// the flag.
func TestParseFlagsTracing(t *testing.T) {
	for _, tt := range []struct {
		name         string
		args         []string
		wantEndpoint string
		wantSampling float64
		wantErr      string
	}{
		{name: "off by default", wantSampling: 0.01},
		{name: "grpc endpoint", args: []string{"--tracing-otlp-endpoint", "otel-collector.observability:4317"},
			wantEndpoint: "otel-collector.observability:4317", wantSampling: 0.01},
		{name: "http endpoint and sampling", args: []string{"--tracing-otlp-endpoint", "http://otel-collector:4318", "--tracing-sampling", "1"},
			wantEndpoint: "http://otel-collector:4318", wantSampling: 1},
		{name: "endpoint without port", args: []string{"--tracing-otlp-endpoint", "otel-collector"},
			wantErr: `--tracing-otlp-endpoint "otel-collector"`},
		{name: "sampling as a percentage", args: []string{"--tracing-sampling", "50"},
			wantErr: "--tracing-sampling 50: want a share from 0 to 1"},
		{name: "sampling not a number", args: []string{"--tracing-sampling", "half"},
			wantErr: `invalid value "half" for flag -tracing-sampling`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, _, err := parseFlags(append([]string{"--name", "w"}, tt.args...), noEnv)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.TracingOTLPEndpoint != tt.wantEndpoint || cfg.TracingSampling != tt.wantSampling {
				t.Errorf("endpoint %q sampling %v, want %q %v", cfg.TracingOTLPEndpoint, cfg.TracingSampling, tt.wantEndpoint, tt.wantSampling)
			}
		})
	}
}
