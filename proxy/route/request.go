package route

import (
	"net/http"
	"net/url"
	"strings"
)

// request is the view of an *http.Request that matching reads: Envoy's
// :authority, :path (raw, as received), :method and :scheme, with the
// pieces that cost something computed only when a route asks for them.
type request struct {
	r         *http.Request
	path      string // :path without the query string
	query     string // raw query string, without '?'
	hasQuery  bool
	full      string // :path with the query string, once computed
	fullDone  bool
	params    []queryParam
	paramDone bool
}

type queryParam struct{ name, value string }

func newRequest(r *http.Request) request {
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
		if r.URL.Opaque != "" {
			path = r.URL.Opaque
		}
	}
	return request{r: r, path: path, query: r.URL.RawQuery, hasQuery: r.URL.RawQuery != "" || r.URL.ForceQuery}
}

// fullPath returns :path with its query string.
func (q *request) fullPath() string {
	if !q.fullDone {
		q.full = q.path
		if q.hasQuery {
			q.full = q.path + "?" + q.query
		}
		q.fullDone = true
	}
	return q.full
}

// scheme is :scheme: the URL's scheme for absolute-form requests, else
// https for requests that arrived over TLS, else http.
func (q *request) scheme() string {
	switch {
	case q.r.URL.Scheme != "":
		return q.r.URL.Scheme
	case q.r.TLS != nil:
		return "https"
	}
	return "http"
}

// header returns the value of a header as Envoy sees it, several values
// joined with ",", and whether it is present. name is in canonical form
// or a pseudo-header.
func (q *request) header(name string) (string, bool) {
	switch name {
	case ":method":
		return q.r.Method, true
	case ":authority", "Host":
		return q.r.Host, q.r.Host != ""
	case ":path":
		return q.fullPath(), true
	case ":scheme":
		return q.scheme(), true
	}
	vs, ok := q.r.Header[name]
	switch {
	case !ok:
		return "", false
	case len(vs) == 1:
		return vs[0], true
	}
	return strings.Join(vs, ","), true
}

// param returns the first value of query parameter name, percent-decoded.
func (q *request) param(name string) (string, bool) {
	if !q.paramDone {
		q.paramDone = true
		for part := range strings.SplitSeq(q.query, "&") {
			if part == "" {
				continue
			}
			k, v, _ := strings.Cut(part, "=")
			q.params = append(q.params, queryParam{name: unescape(k), value: unescape(v)})
		}
	}
	for _, kv := range q.params {
		if kv.name == name {
			return kv.value, true
		}
	}
	return "", false
}

// unescape percent-decodes s, keeping it as it is when it is not valid.
func unescape(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	if u, err := url.PathUnescape(s); err == nil {
		return u
	}
	return s
}
