package dataplane_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	filev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/file/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// pathRecorder records the path of every complete request it receives.
type pathRecorder struct {
	mu    sync.Mutex
	paths []string
}

func (a *pathRecorder) start(t *testing.T) string {
	t.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			return
		}
		a.mu.Lock()
		a.paths = append(a.paths, r.URL.RequestURI())
		a.mu.Unlock()
	})}
	var wg sync.WaitGroup
	wg.Go(func() { _ = srv.Serve(ln) })
	t.Cleanup(func() {
		_ = srv.Close()
		wg.Wait()
	})
	return ln.Addr().String()
}

func (a *pathRecorder) received() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.paths...)
}

// TestHostileRequestsThroughMesh sends raw HTTP/1 to the outbound listener
// of a two-dataplane mesh whose outbound HCM has a file access log and a
// 1 KiB header limit.
func TestHostileRequestsThroughMesh(t *testing.T) {
	app := &pathRecorder{}
	appAddr := app.start(t)
	logPath := filepath.Join(t.TempDir(), "access.log")

	ca := newCA(t, "cluster.local")
	server, _ := newDataplane(t, ca, serverID)
	client, _ := newDataplane(t, ca, clientID)
	ctx := t.Context()
	must(t, server.OnClusters(ctx, []*clusterv3.Cluster{httpInboundCluster(t, inboundName, appAddr, false)}))
	must(t, server.OnListeners(ctx, []*listenerv3.Listener{httpInboundListener(t, inboundName, "127.0.0.1:0")}))
	must(t, client.OnClusters(ctx, []*clusterv3.Cluster{httpOutboundCluster(t, outboundCluster, outboundSNI, serverID)}))
	must(t, client.OnEndpoints(ctx, []*endpointv3.ClusterLoadAssignment{assignment(t, outboundCluster, listenerAddr(t, server, inboundName))}))
	l := outboundListener(t, outboundName, "127.0.0.1:0", "unused")
	h := hcm(t, outboundName, outboundName, nil)
	h.MaxRequestHeadersKb = wrapperspb.UInt32(1)
	h.AccessLog = []*accesslogv3.AccessLog{{
		Name:       "envoy.access_loggers.file",
		ConfigType: &accesslogv3.AccessLog_TypedConfig{TypedConfig: mustAny(t, &filev3.FileAccessLog{Path: logPath})},
	}}
	setHCM(t, l, h)
	must(t, client.OnListeners(ctx, []*listenerv3.Listener{l}))
	must(t, client.OnRoutes(ctx, []*routev3.RouteConfiguration{routeTo(outboundName, outboundVhost, outboundCluster)}))
	addr := listenerAddr(t, client, outboundName)

	const host = "Host: echo\r\n"
	tests := []struct {
		name   string
		raw    string
		status int
		got    []string
	}{
		{"CL.TE", "POST / HTTP/1.1\r\n" + host + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nX", 400, nil},
		{"bare LF", "GET / HTTP/1.1\n" + host + "\n", 400, nil},
		{"headers over max_request_headers_kb", "GET / HTTP/1.1\r\n" + host + "X-Big: " + strings.Repeat("b", 1100) + "\r\n\r\n", 431, nil},
		{"dot segments", "GET /a/./b/../c HTTP/1.1\r\n" + host + "Connection: close\r\n\r\n", 200, []string{"/a/c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(app.received())
			c := dial(t, addr)
			if _, err := io.WriteString(c, tt.raw); err != nil {
				t.Fatal(err)
			}
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
				t.Errorf("connection not closed: %v", err)
			}
			if got := app.received()[before:]; strings.Join(got, "|") != strings.Join(tt.got, "|") {
				t.Errorf("app received %q, want %q", got, tt.got)
			}
		})
	}

	// One access log line per request, in order, with the flags.
	type entry struct {
		Code    int    `json:"response_code"`
		Flags   string `json:"response_flags"`
		Path    string `json:"path"`
		Cluster string `json:"upstream_cluster"`
	}
	var entries []entry
	eventually(t, func() string {
		b, err := os.ReadFile(logPath)
		if err != nil {
			return err.Error()
		}
		entries = entries[:0]
		for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
			var one entry
			if err := json.Unmarshal([]byte(line), &one); err != nil {
				return err.Error()
			}
			entries = append(entries, one)
		}
		if len(entries) != len(tests) {
			return "access log: " + string(b)
		}
		return ""
	})
	for i, tt := range tests {
		e := entries[i]
		wantFlags := "DPE"
		if tt.status == http.StatusOK {
			wantFlags = "-"
			if e.Path != "/a/c" || e.Cluster != outboundCluster {
				t.Errorf("entry %d: path %q cluster %q", i, e.Path, e.Cluster)
			}
		}
		if e.Code != tt.status || e.Flags != wantFlags {
			t.Errorf("entry %d: %d %s, want %d %s", i, e.Code, e.Flags, tt.status, wantFlags)
		}
	}
}
