package tracing

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// instrumentationName names the tracer of the spans.
const instrumentationName = "github.com/weftmesh/weft/proxy"

// closeTimeout bounds the flush of the spans left when the Tracer closes.
const closeTimeout = 5 * time.Second

// Tracer starts the proxy's spans and exports them. A nil *Tracer is
// tracing turned off: its Start returns a nil *Span, whose methods do
// nothing, so requests keep their trace headers untouched. It is safe for
// concurrent use.
type Tracer struct {
	provider *sdktrace.TracerProvider
	tracer   trace.Tracer
	// attrs are every span's weft.workload and weft.namespace.
	attrs []attribute.KeyValue
	// base outlives Start's context for the final flush in Close.
	base context.Context
}

// New returns the Tracer of cfg, or nil when cfg.Endpoint is empty. It
// connects to nothing: the exporter dials the collector at its first
// batch.
func New(ctx context.Context, cfg Config) (*Tracer, error) {
	if cfg.Endpoint == "" {
		return nil, nil //nolint:nilnil // a nil Tracer is tracing turned off, as documented
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	exp, err := newExporter(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("OTLP exporter for %s: %w", cfg.Endpoint, err)
	}
	res := resource.NewWithAttributes(semconv.SchemaURL,
		semconv.ServiceName(cfg.Workload),
		semconv.ServiceNamespace(cfg.Namespace),
	)
	provider := sdktrace.NewTracerProvider(
		sdktrace.WithResource(res),
		sdktrace.WithSampler(newSampler(cfg.Sampling)),
		// Not blocking: a full queue drops spans rather than wait.
		sdktrace.WithBatcher(&loggedExporter{exporter: exp, log: cfg.Logger, endpoint: cfg.Endpoint, every: cfg.LogInterval},
			sdktrace.WithMaxQueueSize(cfg.QueueSize),
			sdktrace.WithBatchTimeout(cfg.BatchTimeout),
			sdktrace.WithExportTimeout(cfg.ExportTimeout),
		),
	)
	return &Tracer{
		provider: provider,
		tracer:   provider.Tracer(instrumentationName),
		attrs:    []attribute.KeyValue{attribute.String("weft.workload", cfg.Workload), attribute.String("weft.namespace", cfg.Namespace)},
		base:     context.WithoutCancel(ctx),
	}, nil
}

// newExporter returns the OTLP/gRPC or OTLP/HTTP exporter of
// cfg.Endpoint. Neither retries: a failed batch is dropped, and the next
// one tries again.
func newExporter(ctx context.Context, cfg Config) (sdktrace.SpanExporter, error) {
	hostPort, u, err := parseEndpoint(cfg.Endpoint)
	if err != nil {
		return nil, err
	}
	if u == nil {
		return otlptracegrpc.New(ctx,
			otlptracegrpc.WithEndpoint(hostPort),
			otlptracegrpc.WithInsecure(),
			otlptracegrpc.WithTimeout(cfg.ExportTimeout),
			otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: false}),
		)
	}
	opts := []otlptracehttp.Option{
		otlptracehttp.WithEndpoint(u.Host),
		otlptracehttp.WithURLPath(u.Path),
		otlptracehttp.WithTimeout(cfg.ExportTimeout),
		otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: false}),
	}
	if u.Scheme == "http" {
		opts = append(opts, otlptracehttp.WithInsecure())
	}
	return otlptracehttp.New(ctx, opts...)
}

// Close exports the spans still queued, waiting at most a few seconds
// for the collector, and stops the exporter. Nil-safe.
func (t *Tracer) Close() error {
	if t == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(t.base, closeTimeout)
	defer cancel()
	if err := t.provider.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("flushing spans: %w", err)
	}
	return nil
}

// Kind is the side of the proxy a span stands for.
type Kind int

// Kinds.
const (
	// Server is a request entering the workload (inbound listeners).
	Server Kind = iota
	// Client is a request leaving it (outbound listeners).
	Client
)

// Start starts the span of r, a child of the trace context r carries, as
// a proxy sees a request arriving: named by its method until SetName, with
// the request's method, path and host. End it once the response is sent.
func (t *Tracer) Start(r *http.Request, kind Kind) *Span {
	if t == nil {
		return nil
	}
	in := extract(r.Context(), r.Header)
	ctx := r.Context()
	switch {
	case in.sc.IsValid():
		ctx = trace.ContextWithRemoteSpanContext(ctx, in.sc)
		if in.deferred {
			ctx = withDeferred(ctx)
		}
	case in.decided:
		ctx = withDecision(ctx, in.sampled)
	}
	spanKind := trace.SpanKindServer
	if kind == Client {
		spanKind = trace.SpanKindClient
	}
	attrs := append(make([]attribute.KeyValue, 0, len(t.attrs)+3), t.attrs...)
	attrs = append(attrs,
		semconv.HTTPRequestMethodKey.String(r.Method),
		semconv.URLPath(r.URL.Path),
		semconv.ServerAddress(hostOnly(r.Host)),
	)
	ctx, span := t.tracer.Start(ctx, r.Method, trace.WithSpanKind(spanKind), trace.WithAttributes(attrs...))
	return &Span{ctx: ctx, span: span, parent: in.sc.SpanID(), b3Single: in.b3Single, client: kind == Client}
}

// hostOnly is the host of a Host header, without its port.
func hostOnly(hostPort string) string {
	if host, _, err := net.SplitHostPort(hostPort); err == nil {
		return host
	}
	return hostPort
}
