package demo

import (
	"errors"
	"fmt"
	"io"
	"time"
)

// Config configures a demo run. Start from Default.
type Config struct {
	// BinDir holds weft-controlplane and weft-proxy.
	BinDir string
	// Out receives the report.
	Out io.Writer
	// Connections and RoundTrips shape the traffic: each connection carries
	// RoundTrips request/response exchanges. NewConnections more are each
	// opened for one exchange, to measure connection set-up through both
	// sidecars.
	Connections    int
	RoundTrips     int
	NewConnections int
	// GatewayRequests are sent from outside through the ingress gateway,
	// over HTTPS.
	GatewayRequests int
	// Timeout bounds the whole run.
	Timeout time.Duration
	// KeepDir keeps the working directory (configuration, logs) after the
	// run; it is always kept when the run fails.
	KeepDir bool
}

// Default returns the configuration `weftctl demo` uses.
func Default() Config {
	return Config{
		Connections:     4,
		RoundTrips:      250,
		NewConnections:  50,
		GatewayRequests: 50,
		Timeout:         50 * time.Second,
	}
}

// Validate reports a configuration that cannot run.
func (c Config) Validate() error {
	var errs []error
	if c.BinDir == "" {
		errs = append(errs, errors.New("--bin-dir is required"))
	}
	if c.Out == nil {
		errs = append(errs, errors.New("no output writer"))
	}
	for _, f := range []struct {
		flag       string
		value, min int
	}{
		{"--connections", c.Connections, 1},
		{"--round-trips", c.RoundTrips, 1},
		{"--gateway-requests", c.GatewayRequests, 1},
		{"--new-connections", c.NewConnections, 0},
	} {
		if f.value < f.min {
			errs = append(errs, fmt.Errorf("%s must be at least %d, got %d", f.flag, f.min, f.value))
		}
	}
	if c.Timeout <= 0 {
		errs = append(errs, errors.New("--timeout must be positive"))
	}
	return errors.Join(errs...)
}
