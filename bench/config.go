package bench

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"time"
)

// Config configures a benchmark run. Start from Default.
type Config struct {
	// BinDir holds weft-controlplane and weft-proxy.
	BinDir string
	// ResultsDir receives the JSON file of raw results; empty: none.
	ResultsDir string
	// Out receives the progress lines and the table.
	Out io.Writer
	// Setups to run, in order; "direct" and "nginx" are the ratios'
	// references and are shown as "-" when not run.
	Setups []string
	// Repetitions of every measurement; the table shows medians.
	Repetitions int
	// Duration of one constant-rate run; KneeStepDuration of one step of
	// the knee search; OpenDuration of a connection-rate or bulk run.
	Duration         time.Duration
	KneeStepDuration time.Duration
	OpenDuration     time.Duration
	// Rate is the constant request rate of the latency runs (per second).
	Rate int
	// Connections are the connection counts of the HTTP/1.1 latency runs.
	Connections []int
	// KneeRates are the rates tried, in increasing order, in the knee
	// search (with KneeConnections connections); empty skips it.
	KneeRates       []int
	KneeConnections int
	// NewConnWorkers is the concurrency of the new-mTLS-connection run.
	NewConnWorkers int
	// ManyServices is the size of the big configuration of the idle RSS
	// measurement; 0 skips it.
	ManyServices int
	// AppProtocol is the Services' appProtocol in Weft's configuration:
	// "tcp" (the L4 proxy) or "http" (the L7 proxy, once it exists).
	AppProtocol string
	// Pin pins the load generator and servers to CPU 0 and the proxies to
	// CPU 1 when the machine has at least two CPUs.
	Pin bool
	// Timeout bounds the whole run.
	Timeout time.Duration
	// KeepDir keeps the working directory (configurations, logs).
	KeepDir bool
}

// Set-up names.
const (
	SetupDirect  = "direct"
	SetupWeft    = "weft"
	SetupNginx   = "nginx"
	SetupHAProxy = "haproxy"
)

// Default returns the configuration `make bench` uses: about eight minutes
// on a two-CPU machine.
func Default() Config {
	return Config{
		ResultsDir:       "bench/results",
		Setups:           []string{SetupDirect, SetupWeft, SetupNginx, SetupHAProxy},
		Repetitions:      3,
		Duration:         5 * time.Second,
		KneeStepDuration: 3 * time.Second,
		OpenDuration:     2 * time.Second,
		Rate:             1000,
		Connections:      []int{4, 64},
		KneeRates:        []int{1500, 2000, 3000, 4000, 6000, 8000, 12000},
		KneeConnections:  64,
		NewConnWorkers:   8,
		ManyServices:     1000,
		AppProtocol:      "tcp",
		Pin:              true,
		Timeout:          20 * time.Minute,
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
	if len(c.Setups) == 0 {
		errs = append(errs, errors.New("--setups: name at least one set-up"))
	}
	for _, s := range c.Setups {
		switch s {
		case SetupDirect, SetupWeft, SetupNginx, SetupHAProxy:
		default:
			errs = append(errs, fmt.Errorf("--setups: unknown set-up %q (direct, weft, nginx, haproxy)", s))
		}
	}
	if c.Repetitions < 1 {
		errs = append(errs, errors.New("--repetitions must be at least 1"))
	}
	if c.Duration <= 0 || c.KneeStepDuration <= 0 || c.OpenDuration <= 0 || c.Timeout <= 0 {
		errs = append(errs, errors.New("--duration, --knee-step, --open-duration and --timeout must be positive"))
	}
	if c.Rate < 1 {
		errs = append(errs, errors.New("--rate must be at least 1"))
	}
	for _, n := range append([]int{c.KneeConnections, c.NewConnWorkers}, c.Connections...) {
		if n < 1 {
			errs = append(errs, errors.New("connection and worker counts must be at least 1"))
			break
		}
	}
	for i, r := range c.KneeRates {
		if r <= 0 || (i > 0 && r <= c.KneeRates[i-1]) {
			errs = append(errs, errors.New("--knee-rates must be positive and increasing"))
			break
		}
	}
	if c.ManyServices < 0 || c.ManyServices > 20000 {
		errs = append(errs, errors.New("--many-services must be within 0-20000"))
	}
	if c.AppProtocol != "tcp" && c.AppProtocol != "http" {
		errs = append(errs, fmt.Errorf("--app-protocol %q: tcp or http", c.AppProtocol))
	}
	return errors.Join(errs...)
}

func (c Config) runs(setup string) bool {
	for _, s := range c.Setups {
		if s == setup {
			return true
		}
	}
	return false
}

// pinned reports whether load and proxies are pinned to separate CPUs.
func (c Config) pinned() bool { return c.Pin && runtime.NumCPU() >= 2 }
