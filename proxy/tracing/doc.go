// Package tracing gives the proxy's HTTP requests spans, and keeps the
// trace of a request whole across the mesh, whichever header style the
// apps speak.
//
// Why the proxy does this: an app that forwards its incoming trace
// headers on its outgoing calls gets, for free, one span per hop from the
// sidecars (a SERVER span where a request enters a pod, a CLIENT span
// where it leaves one), with the verified SPIFFE identities and response
// flags that only the mesh knows. Apps instrumented with OpenTelemetry
// speak W3C Trace Context (traceparent, tracestate); apps from the Zipkin
// and older Istio world speak B3 (x-b3-traceid, x-b3-spanid,
// x-b3-parentspanid, x-b3-sampled, x-b3-flags, or the single header b3).
// The proxy reads either and writes both, so a trace survives a hop
// through an app of the other kind.
//
// What a request sees:
//
//   - Without a Tracer (no OTLP endpoint configured) trace headers are
//     ordinary headers: they pass both proxies unchanged.
//   - With one, the proxy reads the request's context (traceparent when
//     valid, else b3, else x-b3-*), starts its span as a child of it, and
//     replaces the trace headers on the request it sends upstream by its
//     own span's context in both styles. tracestate is carried over.
//   - A malformed traceparent or b3 value is ignored as if absent (a new
//     trace starts); it never fails the request.
//   - Sampling is parent based: an incoming sampled flag, either style, is
//     obeyed, so a trace is recorded by every proxy or none. Only a request
//     without a decision (no context, or B3 with the decision deferred)
//     is sampled at Config.Sampling, by its trace ID, so the proxies of
//     one trace agree. An unsampled request still gets a span context and
//     passes it on with its sampled flag off.
//
// Export never slows the data path: finished spans go to a bounded queue
// (Config.QueueSize) that a background batcher drains to the collector over
// OTLP (gRPC for host:port, HTTP for an http:// or https:// URL); when the
// queue is full spans are dropped, not waited for. A failed export drops
// its batch, is not retried, and is logged at most once per
// Config.LogInterval with the count of spans lost.
//
// A B3 sampling state sent alone (b3: 1, x-b3-sampled: 1) forces a new
// trace to be recorded, or not.
//
// The package also owns the request ID: EnsureRequestID gives a request
// without x-request-id a random UUID, as Envoy does, so the access logs
// of every hop can be joined even where tracing is off.
package tracing
