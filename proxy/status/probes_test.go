package status

import (
	"strings"
	"testing"
	"time"
)

func TestParseProbesReadsTheInjectorsTable(t *testing.T) {
	// The example of docs/injection.md, plus what a probe may carry.
	probes, err := ParseProbes(`{
	  "/app-health/app/livez": {"httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTP",
	    "httpHeaders": [{"name": "X-Probe", "value": "1"}]}, "timeoutSeconds": 3, "periodSeconds": 10},
	  "/app-health/app/readyz": {"grpc": {"port": 9090, "service": ""}},
	  "/app-health/side/startupz": {"httpGet": {"path": "/up", "port": 8443, "scheme": "https", "host": "localhost"}}
	}`)
	if err != nil {
		t.Fatal(err)
	}
	if len(probes) != 3 {
		t.Fatalf("parsed %d probes, want 3: %+v", len(probes), probes)
	}
	live := probes["/app-health/app/livez"]
	if live.HTTPGet == nil || live.HTTPGet.Port != 8080 || live.HTTPGet.Path != "/healthz" || live.Timeout() != 3*time.Second ||
		len(live.HTTPGet.HTTPHeaders) != 1 || live.HTTPGet.HTTPHeaders[0] != (HTTPHeader{Name: "X-Probe", Value: "1"}) {
		t.Errorf("livez = %+v %+v", live, live.HTTPGet)
	}
	ready := probes["/app-health/app/readyz"]
	if ready.GRPC == nil || ready.GRPC.Port != 9090 || ready.Timeout() != DefaultTimeout {
		t.Errorf("readyz = %+v, want grpc on 9090 with the default 1s timeout", ready)
	}
	if got := probes["/app-health/side/startupz"].HTTPGet.Scheme; got != "HTTPS" {
		t.Errorf("scheme %q, want it normalized to HTTPS", got)
	}
}

func TestParseProbesEmptyMeansNone(t *testing.T) {
	for _, in := range []string{"", "  \n", "{}"} {
		probes, err := ParseProbes(in)
		if err != nil || len(probes) != 0 {
			t.Errorf("ParseProbes(%q) = %v, %v; want no probes", in, probes, err)
		}
	}
}

func TestParseProbesAcceptsOnlyLoopbackHosts(t *testing.T) {
	for _, tt := range []struct {
		host string
		ok   bool
	}{
		{"127.0.0.1", true},
		{"127.1.2.3", true},
		{"localhost", true},
		{"::1", true},
		{"[::1]", true},
		{"10.0.0.1", false},
		{"169.254.169.254", false},
		{"example.com", false},
		{"0.0.0.0", false},
	} {
		t.Run(tt.host, func(t *testing.T) {
			_, err := ParseProbes(`{"/app-health/app/livez": {"httpGet": {"path": "/", "port": 80, "host": "` + tt.host + `"}}}`)
			if tt.ok && err != nil {
				t.Fatalf("host %s refused: %v", tt.host, err)
			}
			if !tt.ok && (err == nil || !strings.Contains(err.Error(), "is not loopback")) {
				t.Fatalf("host %s: err = %v, want it refused as not loopback", tt.host, err)
			}
		})
	}
}

func TestParseProbesRefusesWhatItCannotServe(t *testing.T) {
	for _, tt := range []struct {
		name, in, want string
	}{
		{"not JSON", `{"/app-health/app/livez":`, "not a JSON probe table"},
		{"not an object", `["/healthz"]`, "not a JSON probe table"},
		{"named port", `{"/app-health/app/livez": {"httpGet": {"port": "http"}}}`, "not a JSON probe table"},
		{"port zero", `{"/app-health/app/livez": {"httpGet": {"path": "/"}}}`, "port 0 is not 1–65535"},
		{"port too big", `{"/app-health/app/livez": {"grpc": {"port": 70000}}}`, "port 70000"},
		{"neither action", `{"/app-health/app/livez": {"timeoutSeconds": 1}}`, "exactly one of httpGet and grpc"},
		{"both actions", `{"/app-health/app/livez": {"httpGet": {"port": 1}, "grpc": {"port": 2}}}`, "exactly one of httpGet and grpc"},
		{"bad scheme", `{"/app-health/app/livez": {"httpGet": {"port": 80, "scheme": "FTP"}}}`, `scheme "FTP"`},
		{"path is a URL", `{"/app-health/app/livez": {"httpGet": {"port": 80, "path": "//evil.example:80/x"}}}`, "must be a path, not a URL"},
		{"absolute URL", `{"/app-health/app/livez": {"httpGet": {"port": 80, "path": "http://evil.example/"}}}`, "must be a path, not a URL"},
		{"negative timeout", `{"/app-health/app/livez": {"grpc": {"port": 1}, "timeoutSeconds": -1}}`, "timeoutSeconds -1"},
		{"bad header", `{"/app-health/app/livez": {"httpGet": {"port": 80, "httpHeaders": [{"name": "X Bad", "value": "1"}]}}}`, `header name "X Bad"`},
		{"header injection", `{"/app-health/app/livez": {"httpGet": {"port": 80, "httpHeaders": [{"name": "X", "value": "1\r\nY: 2"}]}}}`, "line break"},
		{"bad kind", `{"/app-health/app/healthz": {"grpc": {"port": 1}}}`, `probe "/app-health/app/healthz": path is not`},
		{"no container", `{"/app-health//livez": {"grpc": {"port": 1}}}`, "path is not"},
		{"other prefix", `{"/healthz": {"grpc": {"port": 1}}}`, "path is not"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			probes, err := ParseProbes(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ParseProbes = %v, %v; want an error containing %q", probes, err, tt.want)
			}
		})
	}
}

func TestParseProbesNamesEveryBadProbe(t *testing.T) {
	_, err := ParseProbes(`{"/app-health/a/livez": {"grpc": {"port": 0}}, "/app-health/b/livez": {"httpGet": {"port": 1, "host": "10.1.1.1"}}}`)
	if err == nil || !strings.Contains(err.Error(), "/app-health/a/livez") || !strings.Contains(err.Error(), "/app-health/b/livez") {
		t.Fatalf("err = %v, want both probes named", err)
	}
}
