package httpproxy

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/weftmesh/weft/proxy/httpguard"
	"github.com/weftmesh/weft/proxy/lb"
	"github.com/weftmesh/weft/proxy/meshmetrics"
	"github.com/weftmesh/weft/proxy/route"
	"github.com/weftmesh/weft/proxy/tracing"
)

// flagHeader carries the response flags of local answers, and of
// forwarded responses sent after the retries ran out (URX).
const flagHeader = "x-weft-response-flags"

// ServeHTTP proxies one request of a connection given to ServeConn.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	info := infoFrom(r.Context())
	if info == nil {
		http.Error(w, "not a proxied connection", http.StatusInternalServerError)
		return
	}
	l := info.listener
	ex := &exchange{p: p, r: r, info: info, peer: info.peer}
	ex.w = &peerWriter{ResponseWriter: w, ex: ex}
	if l.Direction != "inbound" {
		ex.peer = "" // the upstream server's, once known
	}
	ex.takeSource()
	ex.span = p.startSpan(r, l)
	defer info.streamEnded(r.Context(), start)
	defer func() {
		d := time.Since(start)
		p.metrics.observe(l.Name, l.Direction, ex.status, ex.peer, d)
		ex.observeMesh(&meshmetrics.Request{Duration: d})
		p.log.Debug("request served", "listener", l.Name, "method", r.Method, "path", r.URL.Path,
			"status", ex.status, "peer_id", ex.peer, "duration", d)
	}()
	defer func() { ex.span.End(ex.status, ex.peer, ex.w.Header().Get(flagHeader)) }()
	ex.serve(r.Context())
}

// exchange is one request on its way through the proxy.
type exchange struct {
	p      *Proxy
	w      http.ResponseWriter
	r      *http.Request
	info   *connInfo
	peer   string // peer_id label
	status int    // status sent downstream
	// flags are the response flags of a forwarded response (URX).
	flags string
	// pc is the request's load balancing context: its hash, computed at
	// the first pick, and the attempt number.
	pc     lb.PickContext
	picked bool
	// remote is the workload at the other end, for weft_requests_total:
	// the client on inbound listeners, the server on outbound ones.
	remote meshmetrics.Peer
	// cluster is the routed cluster; grpcStatus the forwarded
	// response's grpc-status.
	cluster, grpcStatus string
	// span is the request's span; nil without tracing.
	span *tracing.Span
}

// HashedClusters is a Clusters that also balances on a request's hash
// (RING_HASH, MAGLEV) and moves away from it on retries.
type HashedClusters interface {
	Clusters
	PickHashed(listener, cluster string, pc lb.PickContext) (Target, string)
}

// pick picks the endpoint of one attempt of action.
func (ex *exchange) pick(action Action) (Target, string) {
	hc, ok := ex.p.cfg.Clusters.(HashedClusters)
	if !ok {
		return ex.p.cfg.Clusters.Pick(ex.info.listener.Name, action.Cluster)
	}
	if ex.picked {
		ex.pc.Attempt++
	} else {
		ex.pc, ex.picked = requestHash(ex.r, action.HashPolicy), true
	}
	return hc.PickHashed(ex.info.listener.Name, action.Cluster, ex.pc)
}

// requestHash hashes r by the route's hash policies as Envoy does: each
// policy that finds its input adds its hash, and a terminal one that did
// ends the list.
func requestHash(r *http.Request, policies []route.HashPolicy) lb.PickContext {
	var pc lb.PickContext
	for _, hp := range policies {
		h, ok := policyHash(r, hp)
		if !ok {
			continue
		}
		pc.AddHash(h)
		if hp.Terminal {
			break
		}
	}
	return pc
}

// policyHash is one policy's hash of r; false when r lacks its input.
func policyHash(r *http.Request, hp route.HashPolicy) (uint64, bool) {
	switch hp.Kind {
	case route.HashHeader:
		var vs []string
		switch hp.Name {
		case ":authority":
			vs = []string{r.Host}
		case ":path":
			vs = []string{r.URL.RequestURI()}
		case ":method":
			vs = []string{r.Method}
		case ":scheme":
			vs = []string{"http"}
			if r.TLS != nil {
				vs[0] = "https"
			}
		default:
			vs = slices.Sorted(slices.Values(r.Header.Values(hp.Name)))
		}
		if len(vs) == 0 {
			return 0, false
		}
		return lb.Hash(vs...), true
	case route.HashCookie:
		c, err := r.Cookie(hp.Name)
		if err != nil {
			return 0, false
		}
		return lb.Hash(c.Value), true
	case route.HashSourceIP:
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil || host == "" {
			return 0, false
		}
		return lb.Hash(host), true
	}
	return 0, false
}

func (ex *exchange) serve(ctx context.Context) {
	r := ex.r
	if conflictingContentLength(r.Header) {
		ex.local(http.StatusBadRequest, "", "conflicting Content-Length")
		return
	}
	if r.Method == http.MethodConnect {
		// Routes with a connect_matcher are not supported: no route
		// matches, as in Envoy.
		ex.local(http.StatusNotFound, FlagNoRoute, "")
		return
	}
	if err := normalizeRequestPath(r); err != nil {
		ex.local(http.StatusBadRequest, "", "invalid path")
		return
	}
	if !ex.authorize(ctx) {
		return
	}
	var router Router
	if f := ex.info.listener.Router; f != nil {
		router = f()
	}
	if router == nil {
		ex.local(http.StatusServiceUnavailable, FlagNoRoute, "no route configuration")
		return
	}
	action, ok := router.Route(r)
	if !ok {
		ex.local(http.StatusNotFound, FlagNoRoute, "")
		return
	}
	ex.cluster = action.Cluster
	ex.span.SetName(operationName(action))
	if action.Status > 0 {
		ex.direct(action)
		return
	}
	if isUpgrade(r) {
		ex.upgrade(ctx, action)
		return
	}
	ex.mirror(ctx, action) // mirror.go
	ex.forward(ctx, action)
}

// prepare builds one attempt's outbound request to target, with body as
// its body; false when the request cannot go upstream (answered 400).
// Once the request has an upstream connection, upstreamPeer gets the
// connection's verified peer and onConn, when not nil, is called: one
// client trace for both, since a second trace on the same context is
// composed through reflection on every request.
func (ex *exchange) prepare(ctx context.Context, action Action, target Target, body io.ReadCloser, upstreamPeer *string, onConn func()) (*http.Request, bool) {
	r := ex.r
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(ci httptrace.GotConnInfo) {
			if uc, ok := ci.Conn.(*upstreamConn); ok {
				*upstreamPeer = uc.peer
			}
			if onConn != nil {
				onConn()
			}
		},
	})
	out := r.Clone(ctx) // the context of the attempt, trace included: no WithContext copy
	out.RequestURI = ""
	out.URL.Scheme = "http"
	out.URL.Host = target.Address
	out.Close = false
	out.Body = body
	if r.ContentLength == 0 {
		out.Body = nil // no body: nothing to stream, and GET stays GET
	}
	if action.Rewrite != nil {
		action.Rewrite(out)
	}
	ex.addSource(out, target)
	if r.ProtoMajor >= 2 && !target.HTTP2 {
		// HTTP/2 fields about to become HTTP/1 lines.
		if err := httpguard.ValidateH2ToH1(out.Header); err != nil {
			ex.local(http.StatusBadRequest, "", "invalid header field")
			return nil, false
		}
	}
	httpguard.StripHopByHop(out.Header)
	ex.span.Inject(out.Header)
	// Answered by the server already; the upstream gets the body at once.
	out.Header.Del("Expect")
	if _, ok := out.Header["User-Agent"]; !ok {
		out.Header["User-Agent"] = []string{""} // not Go's default
	}
	return out, true
}

// respond streams an upstream response downstream.
func (ex *exchange) respond(action Action, resp *http.Response) {
	if resp.ProtoMajor >= 2 && ex.r.ProtoMajor == 1 {
		if err := httpguard.ValidateH2ToH1(resp.Header); err != nil {
			ex.local(http.StatusBadGateway, FlagUpstreamProtocolError, "invalid upstream header field")
			return
		}
	}

	h := ex.w.Header()
	for k, vv := range resp.Header {
		h[k] = vv
	}
	httpguard.StripHopByHop(h)
	if _, ok := h["Content-Type"]; !ok {
		h["Content-Type"] = nil // no sniffing: send what the upstream sent
	}
	if _, ok := h["Date"]; !ok {
		h["Date"] = nil
	}
	if ex.flags != "" {
		h.Set(flagHeader, ex.flags)
	}
	if action.ResponseHeaders != nil {
		action.ResponseHeaders(h)
	}
	ex.status = resp.StatusCode
	ex.w.WriteHeader(resp.StatusCode)
	bp := ex.p.buffers.Get().(*[]byte)
	defer ex.p.buffers.Put(bp)
	if err := copyFlushing(ex.w, resp.Body, *bp); err != nil {
		ex.p.log.Debug("response body interrupted", "listener", ex.info.listener.Name, "cluster", action.Cluster, "error", err)
		// Abort the stream so the client sees an error, not a short body.
		panic(http.ErrAbortHandler)
	}
	ex.noteGRPCStatus(resp)
	// Trailers, announced or not, follow the body.
	for k, vv := range resp.Trailer {
		h[http.TrailerPrefix+k] = vv
	}
}

// copyFlushing copies a response body, flushing after every write so that
// streamed messages are not held back.
func copyFlushing(w http.ResponseWriter, body io.Reader, buf []byte) error {
	rc := http.NewResponseController(w)
	for {
		n, err := body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
			if ferr := rc.Flush(); ferr != nil {
				return ferr
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// direct writes the local response of a direct_response or redirect route.
func (ex *exchange) direct(a Action) {
	h := ex.w.Header()
	for k, vv := range a.Header {
		h[k] = vv
	}
	if a.ResponseHeaders != nil {
		a.ResponseHeaders(h)
	}
	if len(a.Body) > 0 {
		h.Set("Content-Length", strconv.Itoa(len(a.Body)))
	}
	ex.status = a.Status
	ex.w.WriteHeader(a.Status)
	_, _ = ex.w.Write(a.Body)
}

// local answers with a status of the proxy's own.
func (ex *exchange) local(status int, flag, body string) {
	h := ex.w.Header()
	if ex.flags != "" {
		flag = joinFlags(flag, ex.flags)
	}
	if flag != "" {
		h.Set(flagHeader, flag)
		ex.p.log.Debug("request refused", "listener", ex.info.listener.Name, "status", status, "flag", flag,
			"method", ex.r.Method, "path", ex.r.URL.Path)
	}
	h.Set("Content-Type", "text/plain")
	if body == "" {
		body = http.StatusText(status)
	}
	ex.status = status
	http.Error(ex.w, body, status)
}

// conflictingContentLength reports several Content-Length values that are
// not all equal (RFC 9110 §8.6); equal repeats are one length.
func conflictingContentLength(h http.Header) bool {
	vv := h.Values("Content-Length")
	for _, v := range vv[min(1, len(vv)):] {
		if v != vv[0] {
			return true
		}
	}
	return false
}

// normalizeRequestPath puts the request's path in the one form routing and
// the upstream see.
func normalizeRequestPath(r *http.Request) error {
	raw := r.RequestURI
	if !strings.HasPrefix(raw, "/") {
		raw = r.URL.RequestURI() // absolute form: its path and query
	}
	norm, err := httpguard.NormalizePath(raw, httpguard.PathOptions{})
	if err != nil {
		return err
	}
	u, err := url.ParseRequestURI(norm)
	if err != nil {
		return err
	}
	r.URL.Path, r.URL.RawPath, r.URL.RawQuery = u.Path, u.RawPath, u.RawQuery
	return nil
}
