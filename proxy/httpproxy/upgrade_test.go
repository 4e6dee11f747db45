package httpproxy_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/weftmesh/weft/proxy/httpproxy"
)

// lineUpgradeApp switches to protocol "weft-echo" on /echo: it greets with
// "hello\n" at once, then answers each line upper-cased until EOF. It
// answers 403 to upgrades elsewhere, and reports in X-App-Hop the
// connection-specific fields it received besides Connection and Upgrade.
func lineUpgradeApp(w http.ResponseWriter, r *http.Request) {
	var hop []string
	for _, h := range []string{"Keep-Alive", "X-Hop", "Proxy-Connection"} {
		if _, ok := r.Header[h]; ok {
			hop = append(hop, h)
		}
	}
	if r.URL.Path != "/echo" || r.Header.Get("Upgrade") != "weft-echo" ||
		!strings.EqualFold(r.Header.Get("Connection"), "upgrade") {
		w.Header().Set("X-App-Hop", strings.Join(hop, ","))
		http.Error(w, "no upgrade here", http.StatusForbidden)
		return
	}
	c, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer c.Close()
	_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: weft-echo\r\n" +
		"Keep-Alive: timeout=5\r\nX-App-Hop: " + strings.Join(hop, ",") + "\r\n\r\nhello\n")
	_ = brw.Flush()
	for {
		line, err := brw.ReadString('\n')
		if err != nil {
			return
		}
		_, _ = brw.WriteString(strings.ToUpper(line))
		if brw.Flush() != nil {
			return
		}
	}
}

// upgradeRequest is an upgrade to weft-echo carrying connection-specific
// fields that must not cross the proxy.
func upgradeRequest(path string) string {
	return "GET " + path + " HTTP/1.1\r\nHost: app\r\nConnection: keep-alive, Upgrade, X-Hop\r\n" +
		"Upgrade: weft-echo\r\nX-Hop: 1\r\nKeep-Alive: timeout=9\r\n\r\n"
}

func TestUpgradeThroughProxy(t *testing.T) {
	app := startApp(t, lineUpgradeApp)
	addr, _ := startProxy(t, routes{"/": {Cluster: "app"}}, app)

	t.Run("switched", func(t *testing.T) {
		c, br := dialRaw(t, addr)
		if _, err := io.WriteString(c, upgradeRequest("/echo")); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("status %d, want 101", resp.StatusCode)
		}
		if got := resp.Header.Get("Upgrade"); got != "weft-echo" {
			t.Errorf("Upgrade %q, want weft-echo", got)
		}
		if got := resp.Header.Get("Connection"); !strings.EqualFold(got, "upgrade") {
			t.Errorf("Connection %q, want Upgrade", got)
		}
		if _, ok := resp.Header["Keep-Alive"]; ok {
			t.Error("the app's Keep-Alive reached the client")
		}
		if got := resp.Header.Get("X-App-Hop"); got != "" {
			t.Errorf("app received connection-specific fields %q", got)
		}
		// The app speaks first after the switch.
		readLine(t, br, "hello\n")
		for _, msg := range []string{"ping\n", "second message\n"} {
			if _, err := io.WriteString(c, msg); err != nil {
				t.Fatal(err)
			}
			readLine(t, br, strings.ToUpper(msg))
		}
		if err := c.(*net.TCPConn).CloseWrite(); err != nil {
			t.Fatal(err)
		}
		if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
			t.Errorf("after half-close: %q, %v; want EOF", rest, err)
		}
	})

	t.Run("refused", func(t *testing.T) {
		c, br := dialRaw(t, addr)
		if _, err := io.WriteString(c, upgradeRequest("/other")); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "no upgrade here") {
			t.Errorf("got %d %q, want the app's 403", resp.StatusCode, body)
		}
		if _, ok := resp.Header["Upgrade"]; ok {
			t.Error("a refused upgrade carries Upgrade")
		}
	})

	t.Run("no cluster", func(t *testing.T) {
		other, _ := startProxy(t, routes{"/": {Cluster: "missing"}}, app)
		c, br := dialRaw(t, other)
		if _, err := io.WriteString(c, upgradeRequest("/echo")); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("X-Weft-Response-Flags") != httpproxy.FlagNoCluster {
			t.Errorf("got %d %q, want 503 NC", resp.StatusCode, resp.Header.Get("X-Weft-Response-Flags"))
		}
	})
}

// dialRaw connects to addr with a deadline that bounds the test.
func dialRaw(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	var d net.Dialer
	c, err := d.DialContext(t.Context(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	return c, bufio.NewReader(c)
}

func readLine(t *testing.T, br *bufio.Reader, want string) {
	t.Helper()
	got, err := br.ReadString('\n')
	if err != nil || got != want {
		t.Fatalf("read %q, %v; want %q", got, err, want)
	}
}

// TestUpgradeWithBodyAndEarlyData: the request body goes upstream framed
// before the switch, and bytes the client sends right after the request,
// before the 101, reach the app through the tunnel.
func TestUpgradeWithBodyAndEarlyData(t *testing.T) {
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		body, _ := io.ReadAll(req.Body)
		_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: weft-echo\r\n\r\ngot "+string(body)+"\n")
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			if _, err := io.WriteString(c, strings.ToUpper(line)); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
	})
	addr, _ := startProxy(t, routes{"/": {Cluster: "app"}}, ln.Addr().String())
	c, br := dialRaw(t, addr)
	_, err = io.WriteString(c, "POST /echo HTTP/1.1\r\nHost: app\r\nConnection: Upgrade\r\nUpgrade: weft-echo\r\n"+
		"Content-Length: 5\r\n\r\nhelloearly\n")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d, want 101", resp.StatusCode)
	}
	readLine(t, br, "got hello\n")
	readLine(t, br, "EARLY\n")
}
