package tracing

import (
	"net/http"
	"testing"
)

const (
	tid = "4bf92f3577b34da6a3ce929d0e0e4736"
	sid = "00f067aa0ba902b7"
	pid = "1111111111111111"
)

// TestExtract: what each header set yields. Malformed values are absent:
// the request then starts a new trace.
func TestExtract(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header http.Header
		// wantTrace and wantSpan are "" for no context.
		wantTrace, wantSpan string
		wantSampled         bool
		wantDeferred        bool
	}{
		{name: "none", header: http.Header{}},
		{name: "traceparent sampled", header: http.Header{"Traceparent": {"00-" + tid + "-" + sid + "-01"}},
			wantTrace: tid, wantSpan: sid, wantSampled: true},
		{name: "traceparent not sampled", header: http.Header{"Traceparent": {"00-" + tid + "-" + sid + "-00"}},
			wantTrace: tid, wantSpan: sid},
		{name: "traceparent upper-case hex", header: http.Header{"Traceparent": {"00-4BF92F3577B34DA6A3CE929D0E0E4736-" + sid + "-01"}}},
		{name: "traceparent zero trace ID", header: http.Header{"Traceparent": {"00-00000000000000000000000000000000-" + sid + "-01"}}},
		{name: "traceparent zero span ID", header: http.Header{"Traceparent": {"00-" + tid + "-0000000000000000-01"}}},
		{name: "traceparent version ff", header: http.Header{"Traceparent": {"ff-" + tid + "-" + sid + "-01"}}},
		{name: "traceparent short", header: http.Header{"Traceparent": {"00-" + tid[:30] + "-" + sid + "-01"}}},
		{name: "traceparent garbage", header: http.Header{"Traceparent": {"hello"}}},
		{name: "traceparent empty", header: http.Header{"Traceparent": {""}}},
		{name: "b3 single", header: http.Header{"B3": {tid + "-" + sid + "-1-" + pid}},
			wantTrace: tid, wantSpan: sid, wantSampled: true},
		{name: "b3 single debug", header: http.Header{"B3": {tid + "-" + sid + "-d"}},
			wantTrace: tid, wantSpan: sid, wantSampled: true},
		{name: "b3 single not sampled", header: http.Header{"B3": {tid + "-" + sid + "-0"}},
			wantTrace: tid, wantSpan: sid},
		{name: "b3 single deferred", header: http.Header{"B3": {tid + "-" + sid}},
			wantTrace: tid, wantSpan: sid, wantDeferred: true},
		{name: "b3 single 64-bit trace ID", header: http.Header{"B3": {"a3ce929d0e0e4736-" + sid + "-1"}},
			wantTrace: "0000000000000000a3ce929d0e0e4736", wantSpan: sid, wantSampled: true},
		{name: "b3 single sampling state only", header: http.Header{"B3": {"1"}}},
		{name: "b3 single bad sampling state", header: http.Header{"B3": {tid + "-" + sid + "-yes"}}},
		{name: "b3 single bad parent", header: http.Header{"B3": {tid + "-" + sid + "-1-xyz"}}},
		{name: "b3 single too many fields", header: http.Header{"B3": {tid + "-" + sid + "-1-" + pid + "-1"}}},
		{name: "b3 single 20-digit trace ID", header: http.Header{"B3": {"a3ce929d0e0e47361234-" + sid + "-1"}}},
		{name: "b3 multi", header: http.Header{"X-B3-Traceid": {tid}, "X-B3-Spanid": {sid}, "X-B3-Sampled": {"1"}, "X-B3-Parentspanid": {pid}},
			wantTrace: tid, wantSpan: sid, wantSampled: true},
		{name: "b3 multi legacy true", header: http.Header{"X-B3-Traceid": {tid}, "X-B3-Spanid": {sid}, "X-B3-Sampled": {"true"}},
			wantTrace: tid, wantSpan: sid, wantSampled: true},
		{name: "b3 multi debug flag", header: http.Header{"X-B3-Traceid": {tid}, "X-B3-Spanid": {sid}, "X-B3-Flags": {"1"}},
			wantTrace: tid, wantSpan: sid, wantSampled: true},
		{name: "b3 multi deferred", header: http.Header{"X-B3-Traceid": {tid}, "X-B3-Spanid": {sid}},
			wantTrace: tid, wantSpan: sid, wantDeferred: true},
		{name: "b3 multi no span ID", header: http.Header{"X-B3-Traceid": {tid}, "X-B3-Sampled": {"1"}}},
		{name: "b3 multi bad trace ID", header: http.Header{"X-B3-Traceid": {"zz" + tid[2:]}, "X-B3-Spanid": {sid}}},
		{name: "b3 multi bad parent", header: http.Header{"X-B3-Traceid": {tid}, "X-B3-Spanid": {sid}, "X-B3-Parentspanid": {"0"}}},
		{name: "b3 multi bad sampled", header: http.Header{"X-B3-Traceid": {tid}, "X-B3-Spanid": {sid}, "X-B3-Sampled": {"2"}}},
		{name: "traceparent before b3", header: http.Header{
			"Traceparent": {"00-" + tid + "-" + sid + "-00"}, "B3": {"5bf92f3577b34da6a3ce929d0e0e4737-" + pid + "-1"}},
			wantTrace: tid, wantSpan: sid},
		{name: "malformed traceparent falls back to b3", header: http.Header{
			"Traceparent": {"00-bad"}, "X-B3-Traceid": {tid}, "X-B3-Spanid": {sid}, "X-B3-Sampled": {"1"}},
			wantTrace: tid, wantSpan: sid, wantSampled: true},
		{name: "b3 single before multi", header: http.Header{
			"B3": {tid + "-" + sid + "-1"}, "X-B3-Traceid": {"5bf92f3577b34da6a3ce929d0e0e4737"}, "X-B3-Spanid": {pid}},
			wantTrace: tid, wantSpan: sid, wantSampled: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := extract(t.Context(), tc.header)
			if tc.wantTrace == "" {
				if in.sc.IsValid() {
					t.Fatalf("got context %s/%s, want none: the request starts a new trace", in.sc.TraceID(), in.sc.SpanID())
				}
				return
			}
			if !in.sc.IsValid() {
				t.Fatalf("got no context, want trace %s span %s", tc.wantTrace, tc.wantSpan)
			}
			if got := in.sc.TraceID().String(); got != tc.wantTrace {
				t.Errorf("trace ID %s, want %s", got, tc.wantTrace)
			}
			if got := in.sc.SpanID().String(); got != tc.wantSpan {
				t.Errorf("span ID %s, want %s", got, tc.wantSpan)
			}
			if in.sc.IsSampled() != tc.wantSampled {
				t.Errorf("sampled %v, want %v", in.sc.IsSampled(), tc.wantSampled)
			}
			if in.deferred != tc.wantDeferred {
				t.Errorf("deferred %v, want %v", in.deferred, tc.wantDeferred)
			}
			if !in.sc.IsRemote() {
				t.Error("context is not remote")
			}
		})
	}
}

// TestB3SamplingOnly: a B3 sampling state without IDs is a decision for a
// new trace; with a malformed context it is none.
func TestB3SamplingOnly(t *testing.T) {
	for _, tc := range []struct {
		name                string
		header              http.Header
		wantSampled, wantOK bool
	}{
		{"none", http.Header{}, false, false},
		{"b3 1", http.Header{"B3": {"1"}}, true, true},
		{"b3 d", http.Header{"B3": {"d"}}, true, true},
		{"b3 0", http.Header{"B3": {"0"}}, false, true},
		{"b3 garbage", http.Header{"B3": {"yes"}}, false, false},
		{"x-b3-sampled 1", http.Header{"X-B3-Sampled": {"1"}}, true, true},
		{"x-b3-sampled false", http.Header{"X-B3-Sampled": {"false"}}, false, true},
		{"x-b3-flags 1", http.Header{"X-B3-Flags": {"1"}}, true, true},
		{"x-b3-sampled 2", http.Header{"X-B3-Sampled": {"2"}}, false, false},
		{"with a malformed trace ID", http.Header{"X-B3-Traceid": {"xyz"}, "X-B3-Sampled": {"1"}}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := extract(t.Context(), tc.header)
			if in.sc.IsValid() {
				t.Fatalf("got a context %s, want none", in.sc.TraceID())
			}
			if in.decided != tc.wantOK || in.sampled != tc.wantSampled {
				t.Errorf("decided %v sampled %v, want %v %v", in.decided, in.sampled, tc.wantOK, tc.wantSampled)
			}
		})
	}
}
