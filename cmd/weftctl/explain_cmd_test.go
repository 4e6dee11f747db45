package main

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

// TestExplainCommandErrors: what the user sees on a bad command line or
// a proxy that cannot be read.
func TestExplainCommandErrors(t *testing.T) {
	notReady := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "no configuration yet", http.StatusServiceUnavailable)
	}))
	defer notReady.Close()
	notADump := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("<html>hello</html>"))
	}))
	defer notADump.Close()
	dump, err := os.ReadFile("../../proxy/explain/testdata/small.json")
	if err != nil {
		t.Fatal(err)
	}
	source := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/config_dump" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(dump)
	}))
	defer source.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	_ = ln.Close()

	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     string
	}{
		{"no arguments", []string{"--from", "p"}, 2, "explain: want METHOD URL, got 0 arguments"},
		{"no source", []string{"GET", "http://backend/"}, 2, "explain: --from POD or --from-admin-url URL is required"},
		{"bad output", []string{"--from", "p", "-o", "xml", "GET", "http://backend/"}, 2, `explain: -o "xml": want text, yaml or json`},
		{"bad header", []string{"--from-admin-url", closed, "-H", "nocolon", "GET", "http://backend/"}, 2, `explain: -H "nocolon": want 'Name: value'`},
		{"bad source IP", []string{"--from-admin-url", closed, "--source-ip", "10.0.0", "GET", "http://backend/"}, 2, `explain: --source-ip "10.0.0"`},
		{"proxy unreachable", []string{"--from-admin-url", closed, "GET", "http://backend/"}, 1, "source proxy " + closed + ": proxy admin: Get"},
		{"proxy without configuration", []string{"--from-admin-url", notReady.URL, "GET", "http://backend/"}, 1,
			"source proxy " + notReady.URL + ": proxy admin /config_dump: 503 Service Unavailable: no configuration yet"},
		{"not a proxy", []string{"--from-admin-url", notADump.URL, "GET", "http://backend/"}, 1, "not a Weft config dump"},
		{"destination unreachable", []string{"--from-admin-url", source.URL, "--to-admin-url", closed, "GET", "http://127.0.0.1:8080/"}, 1,
			"destination proxy " + closed + ": proxy admin: Get"},
		{"no listener", []string{"--from-admin-url", source.URL, "GET", "http://127.0.0.1:9999/"}, 1,
			"explain: no listener for 127.0.0.1:9999 (listeners: outbound|shop|8080 on 127.0.0.1:8080;"},
		{"no kubeconfig", []string{"--kubeconfig", "/nonexistent/kubeconfig", "--from", "web-0", "GET", "http://backend/"}, 1, "kubeconfig:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), append([]string{"explain"}, tt.args...), strings.NewReader(""), &stdout, &stderr)
			if code != tt.wantCode || !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr.String(), tt.wantCode, tt.want)
			}
		})
	}
}

// TestExplainOutputs: the same report as text, YAML and JSON, from a
// stored config dump served as a proxy's admin port serves it.
func TestExplainOutputs(t *testing.T) {
	dump, err := os.ReadFile("../../proxy/explain/testdata/small.json")
	if err != nil {
		t.Fatal(err)
	}
	source := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/config_dump":
			_, _ = w.Write(dump)
		case "/certs":
			_, _ = w.Write([]byte(`{"spiffe_id": "spiffe://cluster.local/ns/shop/sa/web"}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer source.Close()
	for _, tt := range []struct {
		output string
		want   []string
	}{
		{"text", []string{
			"GET /only  (authority shop.example, connecting to 127.0.0.1:8080)",
			"source " + source.URL + " (spiffe://cluster.local/ns/shop/sa/web)",
			"  listener    outbound|shop|8080 on 127.0.0.1:8080, chain filter_chains[0] (http)",
			"  route       inline › shop › routes[0]",
			"  cluster     shop (STATIC, MAGLEV)",
			"  endpoints   192.0.2.1:80, 192.0.2.3:80",
			"  picks       one of 2, at random (MAGLEV without a hash for this request)",
		}},
		{"yaml", []string{"  listener: outbound|shop|8080\n", "  spiffeID: spiffe://cluster.local/ns/shop/sa/web\n", "    lbPolicy: MAGLEV\n"}},
		{"json", []string{`"listener": "outbound|shop|8080"`, `"weight": 3`}},
	} {
		t.Run(tt.output, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), []string{"explain", "--from-admin-url", source.URL, "-o", tt.output, "-H", "Host: shop.example",
				"GET", "http://127.0.0.1:8080/only"}, strings.NewReader(""), &stdout, &stderr)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, stdout.String())
				}
			}
		})
	}
}
