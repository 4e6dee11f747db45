package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestLoad: "load" counts answers per backend, behind a round-robin front
// like a Service's; failures are counted, not fatal, unless all fail.
func TestLoad(t *testing.T) {
	backends := []http.Handler{newHandler("pod-a"), newHandler("pod-b"), newHandler("pod-c")}
	var next atomic.Uint64
	var gotHeader atomic.Value
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotHeader.Store(r.Header.Get("X-Test"))
		backends[(next.Add(1)-1)%uint64(len(backends))].ServeHTTP(w, r)
	}))
	defer front.Close()

	var out bytes.Buffer
	code := run(t.Context(), []string{"load", front.URL + "/", "-n", "30", "-c", "3", "-H", "X-Test: yes"}, &out, &bytes.Buffer{})
	if code != 0 {
		t.Fatalf("load exited %d", code)
	}
	var res LoadResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("output %q: %v", out.String(), err)
	}
	if res.Requests != 30 || res.OK != 30 || len(res.Errors) != 0 || len(res.Statuses) != 0 {
		t.Errorf("result %+v, want 30 of 30 answered", res)
	}
	for _, b := range []string{"pod-a", "pod-b", "pod-c"} {
		if res.Backends[b] != 10 {
			t.Errorf("backends %v: want 10 each of pod-a, pod-b, pod-c", res.Backends)
			break
		}
	}
	if gotHeader.Load() != "yes" {
		t.Errorf("X-Test header %v did not reach the server", gotHeader.Load())
	}

	t.Run("failures counted", func(t *testing.T) {
		var n atomic.Uint64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if n.Add(1)%2 == 0 {
				http.Error(w, "down", http.StatusServiceUnavailable)
				return
			}
			newHandler("pod-a").ServeHTTP(w, r)
		}))
		defer srv.Close()
		res := runLoad(t.Context(), ClientConfig{URL: srv.URL, Timeout: 5 * time.Second, Headers: http.Header{}, Requests: 10, Concurrency: 1})
		if res.OK != 5 || res.Backends["pod-a"] != 5 || res.Statuses["503"] != 5 {
			t.Errorf("result %+v, want 5 from pod-a and five 503s", res)
		}
	})
	t.Run("all fail", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL
		srv.Close() // connection refused from now on
		var out, stderr bytes.Buffer
		if code := run(t.Context(), []string{"load", url, "-n", "3"}, &out, &stderr); code != 1 {
			t.Errorf("load against nothing exited %d, want 1", code)
		}
		var res LoadResult
		if err := json.Unmarshal(out.Bytes(), &res); err != nil || res.OK != 0 || len(res.Errors) != 1 {
			t.Errorf("result %+v (%v), want three errors of one kind", res, err)
		}
		if !strings.Contains(stderr.String(), "none of 3 requests was answered") {
			t.Errorf("stderr %q", stderr.String())
		}
	})
}

func TestGet(t *testing.T) {
	srv := httptest.NewServer(newHandler("pod-a"))
	defer srv.Close()
	for _, tt := range []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string
		wantErr  string
	}{
		{"ok", []string{"get", srv.URL + "/healthz"}, 0, "ok\n", ""},
		{"host header", []string{"get", "-H", "Host: reviews.default.svc", srv.URL + "/"}, 0, `"host": "reviews.default.svc"`, ""},
		{"error status", []string{"get", srv.URL + "/?status=500"}, 1, `"hostname": "pod-a"`, "status 500"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out, stderr bytes.Buffer
			code := run(t.Context(), tt.args, &out, &stderr)
			if code != tt.wantCode || !strings.Contains(out.String(), tt.wantOut) || !strings.Contains(stderr.String(), tt.wantErr) {
				t.Errorf("run(%q) = %d, stdout %q, stderr %q; want %d, %q, %q", tt.args, code, out.String(), stderr.String(), tt.wantCode, tt.wantOut, tt.wantErr)
			}
		})
	}
}

// TestUsage: what a bad command line says.
func TestUsage(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"no command", nil, "usage:"},
		{"unknown command", []string{"curl"}, `unknown command "curl"`},
		{"get without URL", []string{"get"}, "get: no URL"},
		{"bad URL", []string{"get", "reviews:8080"}, `URL "reviews:8080": want http://host[:port]/path`},
		{"bad header", []string{"get", "-H", "novalue", "http://x/"}, `header "novalue": want 'Name: value'`},
		{"zero requests", []string{"load", "http://x/", "-n", "0"}, "-n 0: want at least 1"},
		{"extra argument", []string{"load", "http://x/", "http://y/"}, "unexpected arguments"},
		{"bad port", []string{"serve", "--http-port", "70000"}, `port "70000": want 1-65535`},
		{"bad address", []string{"serve", "--http", "8080"}, `--http "8080": want host:port or :port`},
		{"address without port", []string{"serve", "--http", "127.0.0.1:0"}, `--http "127.0.0.1:0": want a port of 1-65535`},
		{"echo on the http port", []string{"serve", "--http-port", "80", "--tcp-echo", ":80"}, "the HTTP server's address"},
		{"unknown flag", []string{"serve", "--port", "80"}, "flag provided but not defined: -port"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out, stderr bytes.Buffer
			if code := run(t.Context(), tt.args, &out, &stderr); code != 2 || !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("run(%q) = %d, stderr %q; want 2 and %q", tt.args, code, stderr.String(), tt.want)
			}
		})
	}
}
