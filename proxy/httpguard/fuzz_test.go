package httpguard_test

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/http/httputil"
	"strings"
	"testing"

	"github.com/weftmesh/weft/proxy/httpguard"
)

// The seed corpora live in testdata/fuzz/<FuzzName>/ and, with the tables
// added below, run as ordinary tests under `go test`.

func FuzzNormalizePath(f *testing.F) {
	for _, s := range []string{"/", "/a/../b", "//a//b/", "/%2e%2E/", "/a%2Fb", "/%41?x=%2f", "/a\\b"} {
		f.Add(s, false, false)
		f.Add(s, true, true)
	}
	f.Fuzz(func(t *testing.T, raw string, keepSlashes, keepEscaped bool) {
		opts := httpguard.PathOptions{KeepAdjacentSlashes: keepSlashes}
		if keepEscaped {
			opts.EscapedSlashes = httpguard.KeepEscapedSlashes
		}
		out, err := httpguard.NormalizePath(raw, opts)
		if err != nil {
			if he, ok := httpguard.AsHeadError(err); !ok || he.Status != http.StatusBadRequest {
				t.Fatalf("NormalizePath(%q) error %v is not a 400 HeadError", raw, err)
			}
			return
		}
		again, err := httpguard.NormalizePath(out, opts)
		if err != nil || again != out {
			t.Fatalf("not idempotent: %q -> %q -> %q, %v", raw, out, again, err)
		}
		checkNormalPath(t, raw, out, opts)
	})
}

// checkNormalPath asserts the shape of a normalized path.
func checkNormalPath(t *testing.T, raw, out string, opts httpguard.PathOptions) {
	t.Helper()
	path, _, _ := strings.Cut(out, "?")
	if path == "" || path[0] != '/' {
		t.Fatalf("%q -> %q: not an absolute path", raw, out)
	}
	for seg := range strings.SplitSeq(path[1:], "/") {
		if seg == "." || seg == ".." {
			t.Fatalf("%q -> %q: dot segment left", raw, out)
		}
	}
	if !opts.KeepAdjacentSlashes && strings.Contains(path, "//") {
		t.Fatalf("%q -> %q: adjacent slashes left", raw, out)
	}
	for i := 0; i < len(path); i++ {
		c := path[i]
		switch {
		case c == '%':
			if i+2 >= len(path) || !strings.ContainsRune("0123456789ABCDEF", rune(path[i+1])) ||
				!strings.ContainsRune("0123456789ABCDEF", rune(path[i+2])) {
				t.Fatalf("%q -> %q: escape at %d is not upper-case hex", raw, out, i)
			}
			esc := path[i : i+3]
			if esc == "%00" || (opts.EscapedSlashes == httpguard.RejectEscapedSlashes && (esc == "%2F" || esc == "%5C")) {
				t.Fatalf("%q -> %q: forbidden escape %s", raw, out, esc)
			}
			v := strings.IndexByte("0123456789ABCDEF", path[i+1])<<4 | strings.IndexByte("0123456789ABCDEF", path[i+2])
			if b := byte(v); b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || strings.IndexByte("-._~", b) >= 0 {
				t.Fatalf("%q -> %q: unreserved %q left escaped", raw, out, b)
			}
			i += 2
		case c <= ' ' || c >= 0x7f || strings.IndexByte("\"#<>\\^`{|}[]", c) >= 0:
			t.Fatalf("%q -> %q: byte %q left unescaped", raw, out, c)
		}
	}
}

func FuzzReadRequestHead(f *testing.F) {
	for _, tt := range hostileHeads {
		f.Add([]byte(tt.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := httpguard.ReadRequestHead(bufio.NewReader(bytes.NewReader(data)), httpguard.Limits{})
		if err != nil {
			if he, ok := httpguard.AsHeadError(err); ok {
				switch he.Status {
				case 400, 414, 431, 501, 505:
				default:
					t.Fatalf("unexpected status %d", he.Status)
				}
			}
			return
		}
		checkHead(t, data, h)
	})
}

// checkHead asserts the invariants of an accepted head and, where Go's
// own lenient parser also accepts the bytes, that both agree on the
// framing and the authority: a disagreement is how smuggling starts.
func checkHead(t *testing.T, data []byte, h *httpguard.RequestHead) {
	t.Helper()
	if h.Chunked != (h.ContentLength == -1) || h.ContentLength < -1 {
		t.Fatalf("inconsistent framing: chunked=%v length=%d", h.Chunked, h.ContentLength)
	}
	if h.Chunked && h.Header.Get("Content-Length") != "" {
		t.Fatal("chunked request kept a Content-Length")
	}
	if len(h.Header.Values("Content-Length")) > 1 {
		t.Fatal("several Content-Length values kept")
	}
	for name, values := range h.Header {
		if name == "Host" || strings.ContainsAny(name, " \t\r\n:\x00") {
			t.Fatalf("bad field name %q", name)
		}
		for _, v := range values {
			if strings.ContainsAny(v, "\r\n\x00") || v != strings.Trim(v, " \t") {
				t.Fatalf("bad field value %q", v)
			}
		}
	}
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(data)))
	if err != nil {
		return
	}
	defer req.Body.Close()
	if req.ContentLength != h.ContentLength {
		t.Fatalf("Content-Length disagrees with net/http: %d vs %d", h.ContentLength, req.ContentLength)
	}
	if req.Host != h.Host {
		t.Fatalf("Host disagrees with net/http: %q vs %q", h.Host, req.Host)
	}
}

func FuzzChunkedReader(f *testing.F) {
	for _, tt := range chunkedBodies {
		f.Add([]byte(tt.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := io.ReadAll(httpguard.NewChunkedReader(bufio.NewReader(bytes.NewReader(data)), httpguard.Limits{}))
		if err != nil {
			if he, ok := httpguard.AsHeadError(err); ok && he.Status != 400 && he.Status != 431 {
				t.Fatalf("unexpected status %d", he.Status)
			}
			return
		}
		// net/http's decoder is more lenient; on what we accept it must
		// decode the same bytes.
		want, err := io.ReadAll(httputil.NewChunkedReader(bytes.NewReader(data)))
		if err == nil && !bytes.Equal(got, want) {
			t.Fatalf("decoded %q, net/http decoded %q", got, want)
		}
	})
}
