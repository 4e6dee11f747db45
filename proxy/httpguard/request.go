package httpguard

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/url"
)

// NormalizeTarget normalizes h.Path with NormalizePath, once, for
// origin-form and absolute-form targets; other forms have no path and are
// left alone. Call it before routing, so routing, authorization and the
// upstream see the same path.
func (h *RequestHead) NormalizeTarget(opts PathOptions) error {
	if h.Form != OriginForm && h.Form != AbsoluteForm {
		return nil
	}
	p, err := NormalizePath(h.Path, opts)
	if err != nil {
		return err
	}
	h.Path = p
	return nil
}

// NewRequest returns an *http.Request for the head, shaped like one a
// net/http server would hand a handler, whose Body reads this request's
// body from r (the reader ReadRequestHead read from) and nowhere further:
// exactly ContentLength bytes, or a ChunkedReader. Its URL comes from
// h.Path, so call NormalizeTarget first. Header is h.Header itself, not a
// copy. RequestURI is the target as received, and Close the client's wish
// for its own connection: clear both on the outbound copy before sending it
// with an http.Transport. The caller must read the body to its end before
// reading the next head from r.
func (h *RequestHead) NewRequest(ctx context.Context, r *bufio.Reader, lim Limits) (*http.Request, error) {
	var u *url.URL
	switch h.Form {
	case AuthorityForm:
		u = &url.URL{Host: h.Host}
	case AsteriskForm:
		u = &url.URL{Path: "*"}
	default:
		var err error
		if u, err = url.ParseRequestURI(h.Path); err != nil {
			return nil, badRequest("unparsable request target: " + err.Error())
		}
		if h.Form == AbsoluteForm {
			u.Scheme, u.Host = h.Scheme, h.Host
		}
	}
	req := &http.Request{
		Method:        h.Method,
		URL:           u,
		Proto:         h.Proto,
		ProtoMajor:    h.ProtoMajor,
		ProtoMinor:    h.ProtoMinor,
		Header:        h.Header,
		ContentLength: h.ContentLength,
		Close:         h.Close,
		Host:          h.Host,
		RequestURI:    h.Target,
	}
	switch {
	case h.Chunked:
		req.Body = NewChunkedReader(r, lim)
		req.TransferEncoding = []string{"chunked"}
	case h.ContentLength > 0:
		req.Body = &fixedBody{r: r, left: h.ContentLength}
	default:
		req.Body = http.NoBody
	}
	return req.WithContext(ctx), nil
}

var _ io.ReadCloser = (*ChunkedReader)(nil)
