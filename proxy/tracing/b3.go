package tracing

import (
	"encoding/hex"
	"net/http"
	"strings"

	"go.opentelemetry.io/otel/trace"
)

// B3 header names (openzipkin/b3-propagation).
const (
	headerB3           = "B3"
	headerB3TraceID    = "X-B3-Traceid"
	headerB3SpanID     = "X-B3-Spanid"
	headerB3ParentSpan = "X-B3-Parentspanid"
	headerB3Sampled    = "X-B3-Sampled"
	headerB3Flags      = "X-B3-Flags"
)

// b3Context is what a request's B3 headers say.
type b3Context struct {
	sc trace.SpanContext
	// deferred is a context without a sampling decision: the receiver
	// decides.
	deferred bool
}

// parseB3Single reads the single header b3:
// {traceid}-{spanid}[-{sampled}[-{parentspanid}]]; false when absent or
// malformed. A lone sampling state ("0", "1", "d") carries no context to
// continue, so it is false too.
func parseB3Single(v string) (b3Context, bool) {
	parts := strings.Split(v, "-")
	if len(parts) < 2 || len(parts) > 4 {
		return b3Context{}, false
	}
	sampled := ""
	if len(parts) >= 3 {
		sampled = parts[2]
	}
	if len(parts) == 4 {
		if _, ok := parseSpanID(parts[3]); !ok {
			return b3Context{}, false
		}
	}
	return b3FromParts(parts[0], parts[1], sampled, "")
}

// parseB3Multi reads the x-b3-* headers; false when the trace or span ID
// is absent or malformed.
func parseB3Multi(h http.Header) (b3Context, bool) {
	tid, sid := h.Get(headerB3TraceID), h.Get(headerB3SpanID)
	if tid == "" && sid == "" {
		return b3Context{}, false
	}
	if p := h.Get(headerB3ParentSpan); p != "" {
		if _, ok := parseSpanID(p); !ok {
			return b3Context{}, false
		}
	}
	sampled := h.Get(headerB3Sampled)
	switch sampled {
	case "true": // old clients
		sampled = "1"
	case "false":
		sampled = "0"
	}
	return b3FromParts(tid, sid, sampled, h.Get(headerB3Flags))
}

// b3FromParts builds a remote span context from B3 fields. sampled is
// "1", "0", "d" (debug: sampled) or "" (deferred); flags "1" is debug.
func b3FromParts(traceID, spanID, sampled, flags string) (b3Context, bool) {
	tid, ok := parseTraceID(traceID)
	if !ok {
		return b3Context{}, false
	}
	sid, ok := parseSpanID(spanID)
	if !ok {
		return b3Context{}, false
	}
	cfg := trace.SpanContextConfig{TraceID: tid, SpanID: sid, Remote: true}
	deferred := false
	switch {
	case flags == "1" || sampled == "d" || sampled == "1":
		cfg.TraceFlags = trace.FlagsSampled
	case sampled == "0":
	case sampled == "":
		deferred = true
	default:
		return b3Context{}, false
	}
	return b3Context{sc: trace.NewSpanContext(cfg), deferred: deferred}, true
}

// b3SamplingOnly reads a B3 sampling state sent without IDs, which asks
// for a new trace with that decision: b3 "1", "d" or "0", or x-b3-sampled
// or x-b3-flags alone. ok is false when there is none.
func b3SamplingOnly(h http.Header) (sampled, ok bool) {
	switch h.Get(headerB3) {
	case "1", "d":
		return true, true
	case "0":
		return false, true
	}
	if h.Get(headerB3TraceID) != "" || h.Get(headerB3SpanID) != "" {
		return false, false // a malformed context: no decision either
	}
	if h.Get(headerB3Flags) == "1" {
		return true, true
	}
	switch h.Get(headerB3Sampled) {
	case "1", "true":
		return true, true
	case "0", "false":
		return false, true
	}
	return false, false
}

// parseTraceID reads a 128-bit (32 hex digits) or 64-bit (16, padded on
// the left with zeros) trace ID; zero is invalid.
func parseTraceID(s string) (trace.TraceID, bool) {
	var id trace.TraceID
	if len(s) != 32 && len(s) != 16 || !lowerHex(s) {
		return id, false
	}
	if _, err := hex.Decode(id[16-len(s)/2:], []byte(s)); err != nil {
		return id, false
	}
	return id, id.IsValid()
}

// parseSpanID reads 16 hex digits; zero is invalid.
func parseSpanID(s string) (trace.SpanID, bool) {
	var id trace.SpanID
	if len(s) != 16 || !lowerHex(s) {
		return id, false
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, false
	}
	return id, id.IsValid()
}

// lowerHex reports whether s is lower-case hex, as B3 and W3C require.
func lowerHex(s string) bool {
	for i := range len(s) {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// injectB3 writes sc in the x-b3-* headers, with parent as
// x-b3-parentspanid when valid, and in b3 too when single says so.
func injectB3(h http.Header, sc trace.SpanContext, parent trace.SpanID, single bool) {
	sampled := "0"
	if sc.IsSampled() {
		sampled = "1"
	}
	tid, sid := sc.TraceID().String(), sc.SpanID().String()
	h[headerB3TraceID] = []string{tid}
	h[headerB3SpanID] = []string{sid}
	h[headerB3Sampled] = []string{sampled}
	if parent.IsValid() {
		h[headerB3ParentSpan] = []string{parent.String()}
	}
	if single {
		v := tid + "-" + sid + "-" + sampled
		if parent.IsValid() {
			v += "-" + parent.String()
		}
		h[headerB3] = []string{v}
	}
}
