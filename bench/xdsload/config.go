package xdsload

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"time"
)

// Variants are the ADS variants the benchmark knows.
var Variants = []string{"sotw", "delta"}

// Sources of the mesh: SourceModel hands model.Mesh values to
// xds.Server.Update (Run); SourceKube writes Kubernetes objects to a real
// API server that the control plane watches (RunKube).
const (
	SourceModel = "model"
	SourceKube  = "kube"
)

// Config sizes the benchmark.
type Config struct {
	// Clients is the number of simulated proxies.
	Clients int
	// Services and EndpointsPerService make the mesh's endpoints.
	Services            int
	EndpointsPerService int
	// ServicesPerClient is how many services each proxy calls.
	ServicesPerClient int
	// Namespaces spreads services and proxies.
	Namespaces int
	// Changes is the number of endpoint changes timed per variant.
	Changes int
	// Variants to run, of Variants.
	Variants []string
	// Timeout bounds one change's convergence, and setting up.
	Timeout time.Duration
	// ProfileDir, when set, receives the server's heap profile after the
	// changes, xds-heap-<variant>.pprof.
	ProfileDir string
	// Out receives the report.
	Out io.Writer
	// Source is SourceModel (the default) or SourceKube.
	Source string
	// ServerMemoryLimit, when set, is the server process's GOMEMLIMIT (the
	// Go runtime's syntax: "280MiB"), the soft limit docs/performance.md
	// recommends for the control plane.
	ServerMemoryLimit string
}

// Default is the scenario: 1,000 proxies, 1,000 services × 10
// endpoints, 10 services per proxy, 20 changes, both variants.
func Default() Config {
	return Config{
		Clients: 1000, Services: 1000, EndpointsPerService: 10, ServicesPerClient: 10, Namespaces: 10,
		Changes: 20, Variants: Variants, Timeout: 2 * time.Minute, Out: io.Discard,
		Source: SourceModel,
	}
}

// memoryLimitSyntax is what the Go runtime takes in GOMEMLIMIT.
var memoryLimitSyntax = regexp.MustCompile(`^([0-9]+(B|KiB|MiB|GiB|TiB)?|off)$`)

// Validate reports the first field out of range.
func (c Config) Validate() error {
	switch {
	case c.Clients < 1:
		return errors.New("clients: must be at least 1")
	case c.Namespaces < 1 || c.Namespaces > 250:
		return errors.New("namespaces: must be 1–250")
	case c.Services < c.Namespaces:
		return errors.New("services: must be at least the number of namespaces")
	case c.EndpointsPerService < 1 || c.EndpointsPerService > 250:
		return errors.New("endpoints per service: must be 1–250")
	case c.ServicesPerClient < 1 || c.ServicesPerClient > c.Services || c.ServicesPerClient > 5000:
		return errors.New("services per client: must be 1–min(services, 5000)")
	case c.Changes < 1 || c.Changes > 65000:
		return errors.New("changes: must be 1–65000")
	case c.Timeout <= 0:
		return errors.New("timeout: must be positive")
	case c.Source != SourceModel && c.Source != SourceKube:
		return fmt.Errorf("source: unknown %q (%s, %s)", c.Source, SourceModel, SourceKube)
	case c.Source == SourceKube && c.Changes*len(c.Variants) > 65000:
		return errors.New("changes: at most 65000 over all variants with the kube source")
	}
	if c.ServerMemoryLimit != "" && !memoryLimitSyntax.MatchString(c.ServerMemoryLimit) {
		return fmt.Errorf("server memory limit: %q is not a GOMEMLIMIT (a number of bytes with an optional B, KiB, MiB, GiB or TiB, or off)", c.ServerMemoryLimit)
	}
	for _, v := range c.Variants {
		if v != "sotw" && v != "delta" {
			return fmt.Errorf("variants: unknown %q (sotw, delta)", v)
		}
	}
	if len(c.Variants) == 0 {
		return errors.New("variants: none")
	}
	return nil
}
