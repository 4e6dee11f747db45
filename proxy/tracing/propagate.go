package tracing

import (
	"context"
	"net/http"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

const (
	headerTraceparent = "Traceparent"
	headerTracestate  = "Tracestate"
)

// traceHeaders are every field that carries a trace context: replaced as a
// whole on the way upstream, so that no stale style contradicts the new
// span.
var traceHeaders = []string{
	headerTraceparent, headerTracestate,
	headerB3, headerB3TraceID, headerB3SpanID, headerB3ParentSpan, headerB3Sampled, headerB3Flags,
}

// incoming is the trace context a request arrived with.
type incoming struct {
	sc trace.SpanContext // invalid when the request has none
	// deferred: B3 without a sampling decision.
	deferred bool
	// decided, without a context, is a B3 sampling state alone ("b3: 1",
	// "x-b3-sampled: 0"): a new trace with that decision.
	decided, sampled bool
	// b3Single: the request carried the single b3 header, which the
	// upstream request then carries too.
	b3Single bool
}

// extract reads h: a valid traceparent (with its tracestate) first, then
// b3, then x-b3-*. Malformed values count as absent.
func extract(ctx context.Context, h http.Header) incoming {
	in := incoming{}
	_, in.b3Single = h[headerB3]
	// The W3C propagator ignores a malformed traceparent, and a
	// tracestate without a valid traceparent.
	sc := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(ctx, propagation.HeaderCarrier(h)))
	if sc.IsValid() {
		in.sc = sc
		return in
	}
	if c, ok := parseB3Single(h.Get(headerB3)); ok {
		in.sc, in.deferred = c.sc, c.deferred
		return in
	}
	if c, ok := parseB3Multi(h); ok {
		in.sc, in.deferred = c.sc, c.deferred
		return in
	}
	in.sampled, in.decided = b3SamplingOnly(h)
	return in
}

// inject replaces the trace headers of h by sc, a child of parent: W3C
// traceparent and tracestate, and B3.
func inject(ctx context.Context, h http.Header, sc trace.SpanContext, parent trace.SpanID, b3Single bool) {
	for _, k := range traceHeaders {
		delete(h, k)
	}
	propagation.TraceContext{}.Inject(trace.ContextWithSpanContext(ctx, sc), propagation.HeaderCarrier(h))
	injectB3(h, sc, parent, b3Single)
}

// deferredKey marks a context whose remote parent left the sampling
// decision to us.
type deferredKey struct{}

func withDeferred(ctx context.Context) context.Context {
	return context.WithValue(ctx, deferredKey{}, true)
}

func isDeferred(ctx context.Context) bool {
	d, _ := ctx.Value(deferredKey{}).(bool)
	return d
}

// decisionKey carries the sampling decision of a request that came with
// one but without a context.
type decisionKey struct{}

func withDecision(ctx context.Context, sampled bool) context.Context {
	return context.WithValue(ctx, decisionKey{}, sampled)
}

func decisionFrom(ctx context.Context) (sampled, ok bool) {
	sampled, ok = ctx.Value(decisionKey{}).(bool)
	return sampled, ok
}
