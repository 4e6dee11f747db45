package tracing

import (
	"context"
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Span is the proxy's span of one request. A nil *Span (tracing off)
// does nothing. Its methods are for the goroutine serving the request.
type Span struct {
	ctx  context.Context
	span trace.Span
	// parent is the span ID the request arrived with (x-b3-parentspanid
	// of the upstream request); zero when it came without one.
	parent   trace.SpanID
	b3Single bool
	client   bool
}

// SetName names the span by the operation the request turned out to be:
// the route or cluster it was routed to.
func (s *Span) SetName(name string) {
	if s == nil || name == "" {
		return
	}
	s.span.SetName(name)
}

// Inject replaces the trace headers of a request about to go upstream by
// the span's context, in W3C (traceparent, tracestate) and B3 (x-b3-*,
// and b3 when the incoming request used it) form, so that the next hop's
// span is a child of this one.
func (s *Span) Inject(h http.Header) {
	if s == nil {
		return
	}
	inject(s.ctx, h, s.span.SpanContext(), s.parent, s.b3Single)
}

// SpanContext is the span's trace and span ID and sampled flag; the zero
// value for a nil Span.
func (s *Span) SpanContext() trace.SpanContext {
	if s == nil {
		return trace.SpanContext{}
	}
	return s.span.SpanContext()
}

// End ends the span with the outcome of the request: the status sent
// downstream (0 when none was), the verified SPIFFE ID of the mTLS peer
// (the client on inbound, the upstream server on outbound; "" when
// plaintext) and the response flags. A server span is an error from 500
// on, a client span from 400, as OpenTelemetry's HTTP conventions say.
func (s *Span) End(status int, peer, flags string) {
	if s == nil {
		return
	}
	if s.span.IsRecording() {
		attrs := make([]attribute.KeyValue, 0, 3)
		if status > 0 {
			attrs = append(attrs, semconv.HTTPResponseStatusCode(status))
		}
		if peer != "" {
			attrs = append(attrs, attribute.String("weft.peer.spiffe_id", peer))
		}
		if flags != "" {
			attrs = append(attrs, attribute.String("weft.response_flags", flags))
		}
		s.span.SetAttributes(attrs...)
		switch {
		case status == 0:
			s.span.SetStatus(codes.Error, "no response")
		case status >= 500, s.client && status >= 400:
			s.span.SetStatus(codes.Error, "")
		}
	}
	s.span.End()
}
