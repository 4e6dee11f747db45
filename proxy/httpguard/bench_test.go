package httpguard_test

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/http/httputil"
	"strings"
	"testing"
	"time"

	"github.com/weftmesh/weft/proxy/httpguard"
)

const benchHead = "POST /api/v1/orders/42?expand=items HTTP/1.1\r\n" +
	"Host: orders.shop.svc.cluster.local:8080\r\n" +
	"User-Agent: bench/1.0\r\n" +
	"Accept: application/json\r\n" +
	"Accept-Encoding: gzip, deflate\r\n" +
	"Content-Type: application/json\r\n" +
	"Content-Length: 2\r\n" +
	"Authorization: Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln\r\n" +
	"X-Request-Id: 6f1c2d7e-3b1a-4c8e-9f00-1a2b3c4d5e6f\r\n" +
	"Traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n" +
	"\r\n{}"

// ratio runs a and b alternately for b.N rounds each and reports how many
// times slower a is than b, a figure that survives noisy machines better
// than absolute times.
func ratio(b *testing.B, name string, fa, fb func()) {
	b.Helper()
	var ta, tb time.Duration
	for b.Loop() {
		start := time.Now()
		fa()
		mid := time.Now()
		fb()
		ta += mid.Sub(start)
		tb += time.Since(mid)
	}
	if tb > 0 {
		b.ReportMetric(float64(ta)/float64(tb), name)
	}
}

func BenchmarkReadRequestHead(b *testing.B) {
	data := []byte(benchHead)
	br := bufio.NewReader(nil)
	ratio(b, "guard/net-http",
		func() {
			br.Reset(bytes.NewReader(data))
			if _, err := httpguard.ReadRequestHead(br, httpguard.Limits{}); err != nil {
				b.Fatal(err)
			}
		},
		func() {
			br.Reset(bytes.NewReader(data))
			if _, err := http.ReadRequest(br); err != nil {
				b.Fatal(err)
			}
		})
}

func BenchmarkChunkedReader(b *testing.B) {
	var body strings.Builder
	for range 64 {
		body.WriteString("400\r\n" + strings.Repeat("x", 1024) + "\r\n")
	}
	body.WriteString("0\r\n\r\n")
	data := []byte(body.String())
	br := bufio.NewReader(nil)
	b.SetBytes(64 << 10)
	ratio(b, "guard/net-http",
		func() {
			br.Reset(bytes.NewReader(data))
			if _, err := io.Copy(io.Discard, httpguard.NewChunkedReader(br, httpguard.Limits{})); err != nil {
				b.Fatal(err)
			}
		},
		func() {
			br.Reset(bytes.NewReader(data))
			if _, err := io.Copy(io.Discard, httputil.NewChunkedReader(br)); err != nil {
				b.Fatal(err)
			}
		})
}

func BenchmarkNormalizePath(b *testing.B) {
	for _, p := range []string{
		"/api/v1/orders/42?expand=items",
		"/api/./v1//orders/%34%32/../43?expand=items",
		"/static/" + strings.Repeat("segment/", 32) + "file.js",
	} {
		b.Run(strings.ReplaceAll(p[:min(len(p), 24)], "/", "_"), func(b *testing.B) {
			for b.Loop() {
				if _, err := httpguard.NormalizePath(p, httpguard.PathOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkStripHopByHop(b *testing.B) {
	h := http.Header{
		"Connection": {"keep-alive, X-A"}, "Keep-Alive": {"5"}, "X-A": {"1"},
		"Content-Type": {"a"}, "Te": {"trailers"}, "Accept": {"*/*"},
	}
	for b.Loop() {
		c := h.Clone()
		httpguard.StripHopByHop(c)
	}
}
