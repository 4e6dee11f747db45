package tracing

import (
	"context"
	"log/slog"
	"sync"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// loggedExporter logs failed exports, at most once per interval with the
// spans lost since, and hides them from OpenTelemetry's global error
// handler, which would print every one.
type loggedExporter struct {
	exporter sdktrace.SpanExporter
	log      *slog.Logger
	endpoint string
	every    time.Duration

	mu sync.Mutex
	// lastLog is when a failure was last logged; lost counts the spans
	// dropped since; failing is set from a failure to the next success.
	lastLog time.Time
	lost    int
	failing bool
}

func (e *loggedExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	err := e.exporter.ExportSpans(ctx, spans)
	e.mu.Lock()
	defer e.mu.Unlock()
	if err == nil {
		if e.failing {
			e.failing = false
			e.log.Info("span export recovered", "endpoint", e.endpoint, "spans_lost", e.lost)
			e.lost = 0
		}
		return nil
	}
	e.failing = true
	e.lost += len(spans)
	if now := time.Now(); e.lastLog.IsZero() || now.Sub(e.lastLog) >= e.every {
		e.lastLog = now
		e.log.Warn("span export failed", "endpoint", e.endpoint, "spans_lost", e.lost, "error", err)
		e.lost = 0
	}
	// Logged here: the batcher would hand it to the global error handler.
	return nil
}

func (e *loggedExporter) Shutdown(ctx context.Context) error {
	return e.exporter.Shutdown(ctx)
}
