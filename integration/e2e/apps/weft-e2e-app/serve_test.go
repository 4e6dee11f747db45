package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestHandler(t *testing.T) {
	h := newHandler("pod-a")
	for _, tt := range []struct {
		name       string
		method     string
		target     string
		header     http.Header
		wantStatus int
		check      func(t *testing.T, body []byte)
	}{
		{
			name: "healthz", method: http.MethodGet, target: "/healthz", wantStatus: http.StatusOK,
			check: func(t *testing.T, body []byte) {
				if string(body) != "ok\n" {
					t.Errorf("body %q, want \"ok\\n\"", body)
				}
			},
		},
		{
			name: "report", method: http.MethodGet, target: "http://svc.ns:8080/some/path?a=1",
			header: http.Header{"X-Forwarded-Client-Cert": {"By=spiffe://cluster.local/ns/a/sa/b"}}, wantStatus: http.StatusOK,
			check: func(t *testing.T, body []byte) {
				rep := decodeReport(t, body)
				want := Report{Hostname: "pod-a", Method: "GET", Host: "svc.ns:8080", Path: "/some/path", Query: "a=1", Proto: "HTTP/1.1", Peer: "192.0.2.1:1234"}
				if rep.Hostname != want.Hostname || rep.Method != want.Method || rep.Host != want.Host || rep.Path != want.Path ||
					rep.Query != want.Query || rep.Proto != want.Proto || rep.Peer != want.Peer || rep.TLS {
					t.Errorf("report %+v, want %+v", rep, want)
				}
				if got := rep.Headers["X-Forwarded-Client-Cert"]; len(got) != 1 || got[0] != "By=spiffe://cluster.local/ns/a/sa/b" {
					t.Errorf("headers %v: the request's X-Forwarded-Client-Cert is missing", rep.Headers)
				}
			},
		},
		{
			name: "post with a body", method: http.MethodPost, target: "/upload", wantStatus: http.StatusOK,
			check: func(t *testing.T, body []byte) {
				if rep := decodeReport(t, body); rep.Method != "POST" || rep.Path != "/upload" {
					t.Errorf("report %+v, want POST /upload", rep)
				}
			},
		},
		{
			name: "asked-for status", method: http.MethodGet, target: "/fail?status=503", wantStatus: http.StatusServiceUnavailable,
			check: func(t *testing.T, body []byte) {
				if rep := decodeReport(t, body); rep.Hostname != "pod-a" {
					t.Errorf("report %+v: a failing answer still names its pod", rep)
				}
			},
		},
		{
			name: "nonsense status ignored", method: http.MethodGet, target: "/?status=42", wantStatus: http.StatusOK,
			check: func(*testing.T, []byte) {},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.target, strings.NewReader("payload"))
			req.RemoteAddr = "192.0.2.1:1234"
			for k, v := range tt.header {
				req.Header[k] = v
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus {
				t.Errorf("status %d, want %d", rec.Code, tt.wantStatus)
			}
			if got := rec.Header().Get(HostnameHeader); got != "pod-a" {
				t.Errorf("%s = %q, want pod-a", HostnameHeader, got)
			}
			tt.check(t, rec.Body.Bytes())
		})
	}
}

func decodeReport(t *testing.T, body []byte) Report {
	t.Helper()
	var rep Report
	if err := json.Unmarshal(body, &rep); err != nil {
		t.Fatalf("body %q is not a report: %v", body, err)
	}
	return rep
}

// TestServe runs "serve" on loopback ports: the HTTP server reports the
// real peer address, the echo server echoes and half-closes, and a
// cancelled context stops both.
func TestServe(t *testing.T) {
	httpPort, echoPort := freePort(t), freePort(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	var logs bytes.Buffer
	go func() {
		done <- serve(ctx, slog.New(slog.NewTextHandler(&logs, nil)), ServeConfig{HTTPAddr: "127.0.0.1:" + strconv.Itoa(httpPort), TCPEchoAddr: "127.0.0.1:" + strconv.Itoa(echoPort), Name: "pod-b"})
	}()

	base := "http://127.0.0.1:" + strconv.Itoa(httpPort)
	waitFor(t, base+"/healthz")
	var out bytes.Buffer
	if err := get(t.Context(), ClientConfig{URL: base + "/x", Timeout: 5 * time.Second, Headers: http.Header{}}, &out); err != nil {
		t.Fatal(err)
	}
	rep := decodeReport(t, out.Bytes())
	if host, _, err := net.SplitHostPort(rep.Peer); err != nil || host != "127.0.0.1" || rep.Hostname != "pod-b" {
		t.Errorf("report %+v: want pod-b answering a peer at 127.0.0.1", rep)
	}

	d := net.Dialer{Timeout: 5 * time.Second}
	c, err := d.DialContext(t.Context(), "tcp", "127.0.0.1:"+strconv.Itoa(echoPort))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "hello, echo"); err != nil {
		t.Fatal(err)
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	echoed, err := io.ReadAll(c)
	if err != nil || string(echoed) != "hello, echo" {
		t.Errorf("echo read %q, %v; want \"hello, echo\" then EOF", echoed, err)
	}

	// An open, idle echo connection must not hold up the shutdown.
	idle, err := d.DialContext(t.Context(), "tcp", "127.0.0.1:"+strconv.Itoa(echoPort))
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	time.Sleep(50 * time.Millisecond) // let the server accept it
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve after cancel = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop after its context was cancelled")
	}
	if !strings.Contains(logs.String(), "msg=serving") || !strings.Contains(logs.String(), "msg=stopped") {
		t.Errorf("logs lack the serving and stopped lines:\n%s", logs.String())
	}
}

func TestServePortTaken(t *testing.T) {
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	err = serve(t.Context(), slog.New(slog.DiscardHandler), ServeConfig{HTTPAddr: "127.0.0.1:" + strconv.Itoa(port), Name: "x"})
	if err == nil || !strings.Contains(err.Error(), "http listener") {
		t.Errorf("serve on a taken port = %v, want an http listener error", err)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func waitFor(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not up: %v", url, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestParseServe: the address and port flags the scenarios use mean the
// same thing.
func TestParseServe(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want ServeConfig
	}{
		{[]string{"--name", "a"}, ServeConfig{HTTPAddr: ":8080", Name: "a"}},
		{[]string{"--http", ":8080", "--name", "a"}, ServeConfig{HTTPAddr: ":8080", Name: "a"}},
		{[]string{"--http-port", "9090", "--name", "a"}, ServeConfig{HTTPAddr: ":9090", Name: "a"}},
		{[]string{"--http", "127.0.0.1:81", "--tcp-echo-port", "9000", "--name", "a"}, ServeConfig{HTTPAddr: "127.0.0.1:81", TCPEchoAddr: ":9000", Name: "a"}},
		{[]string{"--tcp-echo", ":9000", "--tcp-echo-port", "0", "--name", "a"}, ServeConfig{HTTPAddr: ":8080", Name: "a"}},
	} {
		got, err := parseServe(tt.args, io.Discard)
		if err != nil || got != tt.want {
			t.Errorf("parseServe(%q) = %+v, %v; want %+v", tt.args, got, err, tt.want)
		}
	}
	if got, err := parseServe(nil, io.Discard); err != nil || got.Name == "" {
		t.Errorf("parseServe() = %+v, %v: want the hostname as the name", got, err)
	}
}

// TestRelay: /relay makes the request from the pod and answers what came
// back, the upstream's status included; a bad or dead URL says why.
func TestRelay(t *testing.T) {
	upstream := httptest.NewServer(newHandler("upstream"))
	defer upstream.Close()
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	h := newHandler("relayer")
	for _, tt := range []struct {
		name       string
		target     string
		wantStatus int
		wantBody   string
	}{
		{"answered", upstream.URL + "/api", http.StatusOK, `"hostname": "upstream"`},
		{"upstream status kept", upstream.URL + "/x?status=403", http.StatusForbidden, `"path": "/x"`},
		{"no url", "", http.StatusBadRequest, "want ?url="},
		{"bad url", "::nope", http.StatusBadRequest, "relay:"},
		{"dead upstream", deadURL + "/", http.StatusBadGateway, "connection refused"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/relay?url="+url.QueryEscape(tt.target), nil)
			h.ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus || !strings.Contains(rec.Body.String(), tt.wantBody) {
				t.Errorf("relay %q: %d %q, want %d with %q", tt.target, rec.Code, rec.Body, tt.wantStatus, tt.wantBody)
			}
		})
	}
}
