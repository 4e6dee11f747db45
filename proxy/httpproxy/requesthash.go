package httpproxy

import (
	"net/http"

	"github.com/weftmesh/weft/proxy/lb"
	"github.com/weftmesh/weft/proxy/route"
)

// RequestHash is the hash the proxy computes for r from a route's hash
// policies (header, cookie, source IP; combined and terminated as Envoy
// does), for RingHash and Maglev clusters. It is exported for package
// explain (weftctl explain), so that its prediction uses the very hash.
func RequestHash(r *http.Request, policies []route.HashPolicy) lb.PickContext {
	return requestHash(r, policies)
}
