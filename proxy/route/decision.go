package route

import "time"

// Decision is what Match chose for one request. Exactly one of Cluster,
// Redirect and Direct is set. Its slices and pointers are shared by every
// request that takes the same path through the table: read them, never
// modify them.
type Decision struct {
	// Cluster is the upstream cluster to forward to, weighted clusters
	// already resolved; "" when the route answers by itself.
	Cluster string
	// Redirect is the redirect to answer with, nil otherwise.
	Redirect *Redirect
	// Direct is the direct response to answer with, nil otherwise.
	Direct *DirectResponse
	// Route is the matched route.
	Route *Route

	// Path is the :path (with query string) to forward, rewritten by the
	// route's prefix_rewrite or regex_rewrite; "" leaves it unchanged.
	Path string
	// Host is the authority to forward with (host_rewrite_literal of the
	// route or of the chosen weighted cluster); "" leaves it unchanged.
	Host string
	// AutoHostRewrite asks the proxy to set the authority to the upstream
	// host it picks (auto_host_rewrite); only when Host is "".
	AutoHostRewrite bool
	// RequestHeaders are the mutations to apply to the forwarded request,
	// in order: chosen weighted cluster, route, virtual host, route
	// configuration (reversed when the configuration sets
	// most_specific_header_mutations_wins), so the last level applied wins
	// an overwrite. Nil for redirects and direct responses.
	RequestHeaders HeaderMutations
	// ResponseHeaders are the mutations to apply to the response sent
	// downstream, in the same order; they apply to redirects and direct
	// responses too.
	ResponseHeaders HeaderMutations
}

// Redirect is a redirect answer.
type Redirect struct {
	Status   int    // 301, 302, 303, 307 or 308
	Location string // absolute URL
}

// DirectResponse is a fixed answer.
type DirectResponse struct {
	Status int
	Body   []byte // nil for none; shared, never modify
}

// Route is the parsed form of a matched route: what the proxy needs beyond
// the forwarding target.
type Route struct {
	// Name is the route's name, possibly "".
	Name string
	// VirtualHost is the name of the route's virtual host.
	VirtualHost string
	// Timeout bounds the whole upstream exchange, retries included; 0
	// means none. Envoy's default of 15s applies when the route sets none.
	Timeout time.Duration
	// Retry is the retry policy, nil when the route does not retry.
	Retry *RetryPolicy
	// HashPolicy lists the hash inputs for consistent-hash load
	// balancing, in order.
	HashPolicy []HashPolicy
	// Mirrors are the request_mirror_policies (mirror.go).
	Mirrors []MirrorPolicy
}

// DefaultTimeout is the route timeout when the configuration sets none.
const DefaultTimeout = 15 * time.Second

// RetryPolicy is a parsed RetryPolicy.
type RetryPolicy struct {
	On         RetryOn
	NumRetries uint32 // 1 when the configuration sets none
	// PerTryTimeout bounds each attempt; 0 means only Timeout applies.
	PerTryTimeout time.Duration
	// RetriableStatusCodes are retried when On has RetryOnRetriableStatusCodes.
	RetriableStatusCodes []uint32
	// BackOff is the exponential back-off between attempts: 25ms base and
	// 250ms cap when the configuration sets none; a configured base
	// without a cap gets ten times the base.
	BackOff BackOff
}

// BackOff is an exponential back-off with full jitter, as Envoy's.
type BackOff struct {
	Base, Max time.Duration
}

// RetryOn is a set of retry conditions (the retry_on tokens).
type RetryOn uint32

// The retry conditions Envoy knows for HTTP and gRPC, by retry_on token.
const (
	RetryOn5xx                     RetryOn = 1 << iota // 5xx
	RetryOnGatewayError                                // gateway-error
	RetryOnReset                                       // reset
	RetryOnResetBeforeRequest                          // reset-before-request
	RetryOnConnectFailure                              // connect-failure
	RetryOnEnvoyRateLimited                            // envoy-ratelimited
	RetryOnRetriable4xx                                // retriable-4xx
	RetryOnRefusedStream                               // refused-stream
	RetryOnRetriableStatusCodes                        // retriable-status-codes
	RetryOnHTTP3PostConnectFailure                     // http3-post-connect-failure
	RetryOnCancelled                                   // cancelled (gRPC)
	RetryOnDeadlineExceeded                            // deadline-exceeded (gRPC)
	RetryOnInternal                                    // internal (gRPC)
	RetryOnResourceExhausted                           // resource-exhausted (gRPC)
	RetryOnUnavailable                                 // unavailable (gRPC)
)

// Has reports whether every condition of c is in o.
func (o RetryOn) Has(c RetryOn) bool { return o&c == c }

// HashPolicy is one hash input for consistent-hash load balancing.
type HashPolicy struct {
	Kind HashKind
	// Name is the header (canonical form, or one of the pseudo-headers
	// ":authority", ":path", ":method", ":scheme"; "host" is given as
	// ":authority") or cookie name; "" for HashSourceIP.
	Name string
	// Terminal stops the evaluation of further policies once this one
	// produced a hash.
	Terminal bool
}

// HashKind says what a HashPolicy hashes.
type HashKind uint8

const (
	// HashHeader hashes a request header's value.
	HashHeader HashKind = iota + 1
	// HashCookie hashes a request cookie's value.
	HashCookie
	// HashSourceIP hashes the downstream connection's source address.
	HashSourceIP
)
