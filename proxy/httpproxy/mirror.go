package httpproxy

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"time"

	"github.com/weftmesh/weft/proxy/httpguard"
)

// Request mirroring (a route's request_mirror_policies): a copy of the
// request goes to another cluster, fire-and-forget, with "-shadow"
// appended to its Host as Envoy does; the copy's response is discarded
// and its failure is only logged. The request body is buffered up to
// MaxMirrorBody before the request is forwarded; a larger body (or one
// that fails to read) is not mirrored, and the request goes on as usual.

// MaxMirrorBody bounds the request body a mirrored copy carries.
const MaxMirrorBody = 64 << 10

// mirrorTimeout bounds a mirrored exchange when its route sets no
// timeout.
const mirrorTimeout = 15 * time.Second

// Mirror is one mirror of an Action.
type Mirror struct {
	Cluster string
	// Sampled, when not nil, tells whether this request is mirrored.
	Sampled func() bool
}

// mirror sends the copies action asks for, before the request is
// forwarded.
func (ex *exchange) mirror(ctx context.Context, action Action) {
	var todo []string
	for _, m := range action.Mirrors {
		if m.Sampled == nil || m.Sampled() {
			todo = append(todo, m.Cluster)
		}
	}
	if len(todo) == 0 {
		return
	}
	body, ok := ex.bufferBody()
	if !ok {
		ex.p.log.Debug("request not mirrored: body too large", "listener", ex.info.listener.Name, "limit", MaxMirrorBody)
		return
	}
	timeout := action.Timeout
	if timeout <= 0 {
		timeout = mirrorTimeout
	}
	for _, cluster := range todo {
		mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
		out := ex.r.Clone(mctx)
		ex.p.mirrors.Go(func() {
			defer cancel()
			stop := context.AfterFunc(ex.p.stop, cancel) // the Proxy closes
			defer stop()
			ex.sendMirror(out, action, cluster, body)
		})
	}
}

// bufferBody reads the request body up to MaxMirrorBody and puts it back;
// false when it is larger (the request keeps it whole).
func (ex *exchange) bufferBody() ([]byte, bool) {
	r := ex.r
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return nil, true
	}
	if r.ContentLength > MaxMirrorBody {
		return nil, false
	}
	buf := make([]byte, MaxMirrorBody+1)
	n, err := io.ReadFull(r.Body, buf)
	buf = buf[:n]
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(buf), r.Body), r.Body}
	switch err {
	case io.EOF, io.ErrUnexpectedEOF:
		return buf, true
	}
	return nil, false
}

// sendMirror sends out, a copy of the request, to an endpoint of cluster
// and discards the answer.
func (ex *exchange) sendMirror(out *http.Request, action Action, cluster string, body []byte) {
	log := ex.p.log.With("listener", ex.info.listener.Name, "cluster", cluster)
	target, flag := ex.p.cfg.Clusters.Pick(ex.info.listener.Name, cluster)
	if flag != "" {
		log.Debug("request not mirrored", "flag", flag)
		return
	}
	if target.Release != nil {
		defer target.Release()
	}
	out.RequestURI = ""
	out.URL.Scheme = "http"
	out.URL.Host = target.Address
	out.Close = false
	out.Body, out.GetBody = nil, nil
	out.ContentLength = int64(len(body))
	if len(body) > 0 {
		out.Body = io.NopCloser(bytes.NewReader(body))
	}
	if action.Rewrite != nil {
		action.Rewrite(out)
	}
	out.Host += "-shadow"
	ex.addSource(out, target)
	httpguard.StripHopByHop(out.Header)
	out.Header.Del("Expect")
	if _, ok := out.Header["User-Agent"]; !ok {
		out.Header["User-Agent"] = []string{""}
	}
	up := ex.p.upstreams.acquire(target)
	defer ex.p.upstreams.release(up)
	resp, err := up.rt.RoundTrip(out)
	if err != nil {
		log.Debug("mirrored request failed", "error", err)
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	log.Debug("request mirrored", "status", resp.StatusCode)
}
