package httpproxy

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/weftmesh/weft/proxy/accesslog"
	"github.com/weftmesh/weft/proxy/rbac"
	"github.com/weftmesh/weft/proxy/tracing"
)

// FlagDownstreamDisconnect is a request whose client went away before the
// response began; FlagDownstreamProtocolError one refused by the HTTP/1
// reader (Envoy's DC and DPE).
const (
	FlagDownstreamDisconnect    = "DC"
	FlagDownstreamProtocolError = "DPE"
)

// requestRecord collects what the handler learns for the access log.
type requestRecord struct {
	cluster, host string
	authz         rbac.Decision
}

type recordKey struct{}

// noteUpstream records the cluster and endpoint a request is sent to, for
// the access log; nothing happens when the listener does not log.
func noteUpstream(ctx context.Context, cluster, host string) {
	if rec, ok := ctx.Value(recordKey{}).(*requestRecord); ok {
		rec.cluster, rec.host = cluster, host
	}
}

// noteAuthz records the RBAC decision on a request for the access log.
func noteAuthz(ctx context.Context, d rbac.Decision) {
	if rec, ok := ctx.Value(recordKey{}).(*requestRecord); ok {
		rec.authz = d
	}
}

// serveLogged gives the request an x-request-id when it has none, then
// is ServeHTTP, followed by an access log line when the listener has an
// access log.
func (p *Proxy) serveLogged(w http.ResponseWriter, r *http.Request) {
	info := infoFrom(r.Context())
	if info != nil && info.listener.Edge != nil {
		info.listener.Edge.apply(r.Header, info.remote) // edge.go: before the request ID
	}
	tracing.EnsureRequestID(r.Header)
	if info == nil || info.listener.AccessLog == nil {
		p.ServeHTTP(w, r)
		return
	}
	start := time.Now()
	rec := &requestRecord{}
	r = r.WithContext(context.WithValue(r.Context(), recordKey{}, rec))
	var body *countingBody
	if r.Body != nil && r.Body != http.NoBody {
		body = &countingBody{ReadCloser: r.Body}
		r.Body = body
	}
	lw := &loggedWriter{ResponseWriter: w}
	e := &accesslog.Entry{
		StartTime: start.UTC(), Method: r.Method, Protocol: r.Proto,
		PeerID: info.peer, XRequestID: r.Header.Get("X-Request-Id"),
	}
	defer func() { // also when the handler aborts with a panic
		e.Path = r.URL.RequestURI()
		e.ResponseCode = lw.status
		e.ResponseFlags = lw.Header().Get(flagHeader)
		if lw.status == 0 && r.Context().Err() != nil {
			e.ResponseFlags = FlagDownstreamDisconnect
		}
		if body != nil {
			e.BytesReceived = body.n.Load()
		}
		e.BytesSent = lw.n
		e.DurationMillis = time.Since(start).Milliseconds()
		e.UpstreamCluster, e.UpstreamHost = rec.cluster, rec.host
		e.AuthzPolicy, e.AuthzReason, e.AuthzAudit = rec.authz.Policy, rec.authz.Reason, strings.Join(rec.authz.Audited, ",")
		info.listener.AccessLog.Write(e)
	}()
	p.ServeHTTP(lw, r)
}

// logRefusedHead logs a request head the HTTP/1 reader refused.
func logRefusedHead(info *connInfo, start time.Time, status int) {
	if info.listener.AccessLog == nil {
		return
	}
	info.listener.AccessLog.Write(&accesslog.Entry{
		StartTime: start.UTC(), ResponseCode: status, ResponseFlags: FlagDownstreamProtocolError,
		PeerID: info.peer, DurationMillis: time.Since(start).Milliseconds(),
	})
}

// loggedWriter counts the status and body bytes of a response.
type loggedWriter struct {
	http.ResponseWriter
	status int
	n      int64
}

func (w *loggedWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *loggedWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach Flush and EnableFullDuplex.
func (w *loggedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush keeps http.Flusher for handlers that assert it.
func (w *loggedWriter) Flush() { _ = http.NewResponseController(w.ResponseWriter).Flush() }

// countingBody counts the request body bytes read.
// The transport reads it on its own goroutine.
type countingBody struct {
	io.ReadCloser
	n atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}
