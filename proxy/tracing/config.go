package tracing

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Defaults for the zero values of Config.
const (
	// DefaultSampling is Istio's: 1% of the traces the mesh starts. The
	// sampler is asked only where a trace begins; a request that arrives
	// with a decision keeps it.
	DefaultSampling = 0.01
	// DefaultQueueSize bounds the spans waiting for export; past it new
	// spans are dropped.
	DefaultQueueSize = 2048
	// DefaultBatchTimeout is the longest a finished span waits before its
	// batch is sent.
	DefaultBatchTimeout = 5 * time.Second
	// DefaultExportTimeout bounds one export to the collector.
	DefaultExportTimeout = 10 * time.Second
	// DefaultLogInterval is the least time between two log lines about
	// failed exports.
	DefaultLogInterval = time.Minute
)

// Config configures a Tracer.
type Config struct {
	// Endpoint is the OTLP collector: host:port for OTLP/gRPC (plaintext,
	// as collectors inside a cluster listen on 4317), or an http:// or
	// https:// URL for OTLP/HTTP (path /v1/traces when the URL has none).
	// Empty turns tracing off: New returns a nil Tracer.
	Endpoint string
	// Sampling is the share of new traces recorded, from 0 to 1.
	Sampling float64
	// Workload and Namespace name the proxy's workload: the service.name
	// and service.namespace of the spans' resource, and the span
	// attributes weft.workload and weft.namespace.
	Workload, Namespace string
	// Logger receives failed exports; nil discards.
	Logger *slog.Logger

	// QueueSize, BatchTimeout, ExportTimeout and LogInterval tune the
	// exporter; zero means the Default of each.
	QueueSize     int
	BatchTimeout  time.Duration
	ExportTimeout time.Duration
	LogInterval   time.Duration
}

// withDefaults fills in the zero values.
func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.QueueSize <= 0 {
		c.QueueSize = DefaultQueueSize
	}
	if c.BatchTimeout <= 0 {
		c.BatchTimeout = DefaultBatchTimeout
	}
	if c.ExportTimeout <= 0 {
		c.ExportTimeout = DefaultExportTimeout
	}
	if c.LogInterval <= 0 {
		c.LogInterval = DefaultLogInterval
	}
	return c
}

// Validate reports every field that cannot work, naming the proxy's flag.
func (c Config) Validate() error {
	var errs []error
	if c.Endpoint != "" {
		if _, _, err := parseEndpoint(c.Endpoint); err != nil {
			errs = append(errs, fmt.Errorf("--tracing-otlp-endpoint %q: %w", c.Endpoint, err))
		}
	}
	if math.IsNaN(c.Sampling) || c.Sampling < 0 || c.Sampling > 1 {
		errs = append(errs, fmt.Errorf("--tracing-sampling %v: want a share from 0 to 1 (0.01 is 1%%)", c.Sampling))
	}
	return errors.Join(errs...)
}

// parseEndpoint tells an OTLP/gRPC host:port from an OTLP/HTTP URL,
// returned as the URL with its default path.
func parseEndpoint(endpoint string) (hostPort string, httpURL *url.URL, err error) {
	if !strings.Contains(endpoint, "://") {
		host, port, err := net.SplitHostPort(endpoint)
		if err != nil {
			return "", nil, fmt.Errorf("want host:port for OTLP/gRPC or an http(s):// URL for OTLP/HTTP: %w", err)
		}
		if host == "" {
			return "", nil, errors.New("the host is missing")
		}
		if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
			return "", nil, fmt.Errorf("port %q is not a port", port)
		}
		return endpoint, nil, nil
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", nil, err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", nil, fmt.Errorf("scheme %q: want http or https (or host:port for OTLP/gRPC)", u.Scheme)
	}
	if u.Host == "" {
		return "", nil, errors.New("the host is missing")
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/v1/traces"
	}
	return "", u, nil
}
