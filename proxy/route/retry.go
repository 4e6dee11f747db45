package route

import (
	"net/http"
	"strings"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/types/known/durationpb"
)

// retryCondition returns the condition of a retry_on token. Tokens that
// need configuration this package refuses (retriable-headers) are unknown.
func retryCondition(token string) (RetryOn, bool) {
	switch token {
	case "5xx":
		return RetryOn5xx, true
	case "gateway-error":
		return RetryOnGatewayError, true
	case "reset":
		return RetryOnReset, true
	case "reset-before-request":
		return RetryOnResetBeforeRequest, true
	case "connect-failure":
		return RetryOnConnectFailure, true
	case "envoy-ratelimited":
		return RetryOnEnvoyRateLimited, true
	case "retriable-4xx":
		return RetryOnRetriable4xx, true
	case "refused-stream":
		return RetryOnRefusedStream, true
	case "retriable-status-codes":
		return RetryOnRetriableStatusCodes, true
	case "http3-post-connect-failure":
		return RetryOnHTTP3PostConnectFailure, true
	case "cancelled":
		return RetryOnCancelled, true
	case "deadline-exceeded":
		return RetryOnDeadlineExceeded, true
	case "internal":
		return RetryOnInternal, true
	case "resource-exhausted":
		return RetryOnResourceExhausted, true
	case "unavailable":
		return RetryOnUnavailable, true
	}
	return 0, false
}

// Envoy's retry back-off when the policy sets none.
const (
	defaultBackOffBase = 25 * time.Millisecond
	defaultBackOffMax  = 250 * time.Millisecond
)

func compileRetryPolicy(p *problems, path string, rp *routev3.RetryPolicy) *RetryPolicy {
	p.OnlyFields(path, rp, "retry_on", "num_retries", "per_try_timeout", "retriable_status_codes", "retry_back_off")
	r := &RetryPolicy{NumRetries: 1, BackOff: BackOff{Base: defaultBackOffBase, Max: defaultBackOffMax}}
	for tok := range strings.SplitSeq(rp.GetRetryOn(), ",") {
		tok = strings.TrimSpace(tok)
		if tok == "" {
			continue
		}
		c, ok := retryCondition(tok)
		if !ok {
			p.Addf(field(path, "retry_on"), "unsupported condition %q", tok)
			continue
		}
		r.On |= c
	}
	if n := rp.GetNumRetries(); n != nil {
		r.NumRetries = n.GetValue()
	}
	if t := rp.GetPerTryTimeout(); t != nil {
		r.PerTryTimeout = duration(p, field(path, "per_try_timeout"), t)
	}
	for i, code := range rp.GetRetriableStatusCodes() {
		if code < 100 || code > 599 {
			p.Addf(index(field(path, "retriable_status_codes"), i), "%d is not an HTTP status code", code)
		}
	}
	r.RetriableStatusCodes = rp.GetRetriableStatusCodes()
	if bo := rp.GetRetryBackOff(); bo != nil {
		at := field(path, "retry_back_off")
		p.OnlyFields(at, bo, "base_interval", "max_interval")
		if bo.GetBaseInterval() == nil {
			p.Addf(field(at, "base_interval"), "missing")
		}
		r.BackOff.Base = duration(p, field(at, "base_interval"), bo.GetBaseInterval())
		r.BackOff.Max = 10 * r.BackOff.Base
		if bo.GetMaxInterval() != nil {
			r.BackOff.Max = duration(p, field(at, "max_interval"), bo.GetMaxInterval())
			if r.BackOff.Max < r.BackOff.Base {
				p.Addf(field(at, "max_interval"), "must not be less than base_interval")
			}
		}
		if bo.GetBaseInterval() != nil && r.BackOff.Base < time.Millisecond {
			p.Addf(field(at, "base_interval"), "must be at least 1ms")
		}
	}
	return r
}

func compileHashPolicy(p *problems, path string, hp *routev3.RouteAction_HashPolicy) (HashPolicy, bool) {
	p.OnlyFields(path, hp, "header", "cookie", "connection_properties", "terminal")
	h := HashPolicy{Terminal: hp.GetTerminal()}
	switch ps := hp.GetPolicySpecifier().(type) {
	case *routev3.RouteAction_HashPolicy_Header_:
		at := field(path, "header")
		p.OnlyFields(at, ps.Header, "header_name")
		name := ps.Header.GetHeaderName()
		switch {
		case name == ":authority", name == ":path", name == ":method", name == ":scheme":
			h.Kind, h.Name = HashHeader, name
		case strings.EqualFold(name, "host"):
			h.Kind, h.Name = HashHeader, ":authority"
		case !validHeaderName(name):
			p.Addf(field(at, "header_name"), "invalid header name %q", name)
			return h, false
		default:
			h.Kind, h.Name = HashHeader, http.CanonicalHeaderKey(name)
		}
	case *routev3.RouteAction_HashPolicy_Cookie_:
		at := field(path, "cookie")
		p.OnlyFields(at, ps.Cookie, "name")
		if ps.Cookie.GetName() == "" {
			p.Addf(field(at, "name"), "empty")
			return h, false
		}
		h.Kind, h.Name = HashCookie, ps.Cookie.GetName()
	case *routev3.RouteAction_HashPolicy_ConnectionProperties_:
		at := field(path, "connection_properties")
		p.OnlyFields(at, ps.ConnectionProperties, "source_ip")
		if !ps.ConnectionProperties.GetSourceIp() {
			p.Addf(field(at, "source_ip"), "must be true")
			return h, false
		}
		h.Kind = HashSourceIP
	case nil:
		p.Addf(path, "one of header, cookie or connection_properties is required")
		return h, false
	default:
		return h, false // reported by onlyFields
	}
	return h, true
}

// duration converts a configured duration, which must be valid and not
// negative.
func duration(p *problems, path string, d *durationpb.Duration) time.Duration {
	if d == nil {
		return 0
	}
	if err := d.CheckValid(); err != nil {
		p.Wrap(path, err)
		return 0
	}
	if d.AsDuration() < 0 {
		p.Addf(path, "must not be negative")
		return 0
	}
	return d.AsDuration()
}
