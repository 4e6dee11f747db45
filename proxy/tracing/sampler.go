package tracing

import (
	"fmt"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// sampler obeys the sampled flag of a remote parent, and a B3 sampling
// state sent without a context, and samples the traces without a decision
// (new ones, and B3's deferred ones) at a ratio of their trace ID, so that
// every proxy of a trace decides alike.
type sampler struct {
	root, parentBased sdktrace.Sampler
}

func newSampler(ratio float64) sampler {
	root := sdktrace.TraceIDRatioBased(ratio)
	return sampler{root: root, parentBased: sdktrace.ParentBased(root)}
}

func (s sampler) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	if sampled, ok := decisionFrom(p.ParentContext); ok {
		if sampled {
			return sdktrace.AlwaysSample().ShouldSample(p)
		}
		return sdktrace.NeverSample().ShouldSample(p)
	}
	if isDeferred(p.ParentContext) {
		return s.root.ShouldSample(p)
	}
	return s.parentBased.ShouldSample(p)
}

func (s sampler) Description() string {
	return fmt.Sprintf("WeftSampler{%s}", s.parentBased.Description())
}
