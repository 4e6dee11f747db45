package tracing

import (
	"net/http"

	"github.com/google/uuid"
)

// headerRequestID is Envoy's request ID field.
const headerRequestID = "X-Request-Id"

// EnsureRequestID gives h a random (version 4) UUID as x-request-id when
// it has none, as Envoy does, and leaves one that is there alone: the
// first proxy a request meets names it, and the app, the next proxies and
// every access log line see the same ID.
func EnsureRequestID(h http.Header) {
	if h.Get(headerRequestID) != "" {
		return
	}
	h[headerRequestID] = []string{uuid.NewString()}
}
