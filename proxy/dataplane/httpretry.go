package dataplane

import (
	"github.com/weftmesh/weft/proxy/httpproxy"
	"github.com/weftmesh/weft/proxy/route"
)

// retryConditions maps the route's retry conditions to the proxy's; the
// others (envoy-ratelimited, refused-stream, http3-post-connect-failure)
// never occur here.
var retryConditions = []struct {
	route route.RetryOn
	proxy httpproxy.RetryOn
}{
	{route.RetryOn5xx, httpproxy.RetryOn5xx},
	{route.RetryOnGatewayError, httpproxy.RetryOnGatewayError},
	{route.RetryOnReset, httpproxy.RetryOnReset},
	{route.RetryOnResetBeforeRequest, httpproxy.RetryOnResetBeforeRequest},
	{route.RetryOnConnectFailure, httpproxy.RetryOnConnectFailure},
	{route.RetryOnRetriable4xx, httpproxy.RetryOnRetriable4xx},
	{route.RetryOnRetriableStatusCodes, httpproxy.RetryOnRetriableStatusCodes},
	{route.RetryOnCancelled, httpproxy.RetryOnGRPCCancelled},
	{route.RetryOnDeadlineExceeded, httpproxy.RetryOnGRPCDeadlineExceeded},
	{route.RetryOnResourceExhausted, httpproxy.RetryOnGRPCResourceExhausted},
	{route.RetryOnInternal, httpproxy.RetryOnGRPCInternal},
	{route.RetryOnUnavailable, httpproxy.RetryOnGRPCUnavailable},
}

// retryPolicy converts a route's retry policy; nil stays nil.
func retryPolicy(rp *route.RetryPolicy) *httpproxy.RetryPolicy {
	if rp == nil {
		return nil
	}
	out := &httpproxy.RetryPolicy{
		NumRetries:    rp.NumRetries,
		PerTryTimeout: rp.PerTryTimeout,
		StatusCodes:   rp.RetriableStatusCodes,
		BackOffBase:   rp.BackOff.Base,
		BackOffMax:    rp.BackOff.Max,
	}
	for _, c := range retryConditions {
		if rp.On.Has(c.route) {
			out.On |= c.proxy
		}
	}
	return out
}
