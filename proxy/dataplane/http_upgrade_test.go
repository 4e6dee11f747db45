package dataplane_test

import (
	"bufio"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// websocketGUID is RFC 6455's key suffix.
const websocketGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

func websocketAccept(key string) string {
	h := sha1.Sum([]byte(key + websocketGUID))
	return base64.StdEncoding.EncodeToString(h[:])
}

// wsFrame is one RFC 6455 frame, unfragmented.
type wsFrame struct {
	opcode  byte
	payload []byte
}

// writeFrame writes f, masked when mask (client to server).
func writeFrame(w io.Writer, f wsFrame, mask bool) error {
	b := []byte{0x80 | f.opcode}
	var mbit byte
	if mask {
		mbit = 0x80
	}
	switch n := len(f.payload); {
	case n < 126:
		b = append(b, mbit|byte(n))
	case n <= 0xffff:
		b = append(b, mbit|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, mbit|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	p := append([]byte(nil), f.payload...)
	if mask {
		var key [4]byte
		_, _ = rand.Read(key[:])
		b = append(b, key[:]...)
		for i := range p {
			p[i] ^= key[i%4]
		}
	}
	_, err := w.Write(append(b, p...))
	return err
}

// readFrame reads one frame, unmasking it.
func readFrame(r io.Reader) (wsFrame, error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return wsFrame{}, err
	}
	if h[0]&0x80 == 0 {
		return wsFrame{}, errors.New("fragmented frame")
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var l [2]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			return wsFrame{}, err
		}
		n = uint64(binary.BigEndian.Uint16(l[:]))
	case 127:
		var l [8]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			return wsFrame{}, err
		}
		n = binary.BigEndian.Uint64(l[:])
	}
	if n > 1<<20 {
		return wsFrame{}, errors.New("frame too large")
	}
	var key [4]byte
	masked := h[1]&0x80 != 0
	if masked {
		if _, err := io.ReadFull(r, key[:]); err != nil {
			return wsFrame{}, err
		}
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		return wsFrame{}, err
	}
	if masked {
		for i := range p {
			p[i] ^= key[i%4]
		}
	}
	return wsFrame{opcode: h[0] & 0x0f, payload: p}, nil
}

// startWebSocketApp serves a WebSocket echo on /ws over HTTP/1.1 (RFC
// 6455 handshake, frames echoed until a close frame, which is answered).
// It fails the upgrade with 400 when the handshake fields did not arrive
// intact, and reports in X-App-Hop the connection-specific fields it got.
func startWebSocketApp(t *testing.T) string {
	t.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var hop []string
			for _, h := range []string{"Keep-Alive", "X-Hop", "Proxy-Connection"} {
				if _, ok := r.Header[h]; ok {
					hop = append(hop, h)
				}
			}
			key := r.Header.Get("Sec-WebSocket-Key")
			if r.URL.Path != "/ws" || !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") ||
				!strings.EqualFold(r.Header.Get("Connection"), "upgrade") || key == "" ||
				r.Header.Get("Sec-WebSocket-Version") != "13" {
				http.Error(w, "bad websocket handshake", http.StatusBadRequest)
				return
			}
			c, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			defer c.Close()
			_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
				"Sec-WebSocket-Accept: " + websocketAccept(key) + "\r\nX-App-Hop: " + strings.Join(hop, ",") + "\r\n\r\n")
			if brw.Flush() != nil {
				return
			}
			for {
				f, err := readFrame(brw)
				if err != nil {
					return
				}
				if writeFrame(brw, f, false) != nil || brw.Flush() != nil || f.opcode == 0x8 {
					return
				}
			}
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("app: %v", err)
		}
	})
	t.Cleanup(func() {
		_ = srv.Close()
		wg.Wait()
	})
	return ln.Addr().String()
}

// TestWebSocketEcho opens a WebSocket through the outbound sidecar, mTLS
// between the sidecars, and the inbound sidecar to the app, and echoes
// text, binary and ping frames of several sizes.
func TestWebSocketEcho(t *testing.T) {
	m := newHTTPMesh(t, startWebSocketApp(t), false)
	c, br := dialHTTP(t, m.outbound)
	key := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))
	_, err := io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: "+outboundVhost+"\r\n"+
		"Connection: keep-alive, Upgrade, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=9\r\n"+
		"Upgrade: websocket\r\nSec-WebSocket-Key: "+key+"\r\nSec-WebSocket-Version: 13\r\n\r\n")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d %q, want 101", resp.StatusCode, body)
	}
	if got, want := resp.Header.Get("Sec-WebSocket-Accept"), websocketAccept(key); got != want {
		t.Errorf("Sec-WebSocket-Accept %q, want %q", got, want)
	}
	if !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") || !strings.EqualFold(resp.Header.Get("Connection"), "upgrade") {
		t.Errorf("Upgrade %q Connection %q, want websocket and Upgrade", resp.Header.Get("Upgrade"), resp.Header.Get("Connection"))
	}
	if got := resp.Header.Get("X-App-Hop"); got != "" {
		t.Errorf("app received connection-specific fields %q", got)
	}
	frames := []wsFrame{
		{opcode: 0x1, payload: []byte("hello through two sidecars")},
		{opcode: 0x2, payload: []byte(strings.Repeat("b", 300))},
		{opcode: 0x9, payload: []byte("ping")},
		{opcode: 0x2, payload: []byte(strings.Repeat("x", 70000))},
		{opcode: 0x8, payload: []byte{0x03, 0xe8}}, // close, 1000
	}
	for _, f := range frames {
		if err := writeFrame(c, f, true); err != nil {
			t.Fatal(err)
		}
		got, err := readFrame(br)
		if err != nil {
			t.Fatalf("reading echo of opcode %d: %v", f.opcode, err)
		}
		if got.opcode != f.opcode || string(got.payload) != string(f.payload) {
			t.Fatalf("echo of opcode %d: opcode %d, %d bytes; want %d bytes", f.opcode, got.opcode, len(got.payload), len(f.payload))
		}
	}
	// The app closed after the close frame: the tunnel ends.
	if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
		t.Errorf("after close: %q, %v; want EOF", rest, err)
	}
}

// TestUpgradeRefusedThroughMesh: an upgrade the app refuses is an ordinary
// response, and the connection stays usable.
func TestUpgradeRefusedThroughMesh(t *testing.T) {
	m := newHTTPMesh(t, startWebSocketApp(t), false)
	c, br := dialHTTP(t, m.outbound)
	_, err := io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: "+outboundVhost+"\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "bad websocket handshake") {
		t.Errorf("got %d %q, want the app's 400", resp.StatusCode, body)
	}
}

// TestCustomUpgradeThroughMesh switches to a protocol that is not
// WebSocket, in which the app speaks first.
func TestCustomUpgradeThroughMesh(t *testing.T) {
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "weft-line/1" {
			http.Error(w, "want weft-line/1", http.StatusUpgradeRequired)
			return
		}
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: weft-line/1\r\n\r\nready\n")
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
	}), ReadHeaderTimeout: 10 * time.Second}
	var wg sync.WaitGroup
	wg.Go(func() { _ = srv.Serve(ln) })
	t.Cleanup(func() {
		_ = srv.Close()
		wg.Wait()
	})

	m := newHTTPMesh(t, ln.Addr().String(), false)
	c, br := dialHTTP(t, m.outbound)
	if _, err := io.WriteString(c, "GET /line HTTP/1.1\r\nHost: "+outboundVhost+"\r\nConnection: Upgrade\r\nUpgrade: weft-line/1\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Upgrade") != "weft-line/1" {
		t.Fatalf("got %d Upgrade %q, want 101 weft-line/1", resp.StatusCode, resp.Header.Get("Upgrade"))
	}
	want := []string{"ready\n", "ONE\n", "TWO\n"}
	for i, msg := range []string{"", "one\n", "two\n"} {
		if msg != "" {
			if _, err := io.WriteString(c, msg); err != nil {
				t.Fatal(err)
			}
		}
		if got, err := br.ReadString('\n'); err != nil || got != want[i] {
			t.Fatalf("read %q, %v; want %q", got, err, want[i])
		}
	}
	// Half-close travels through both sidecars to the app, whose close
	// comes back.
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
		t.Errorf("after half-close: %q, %v; want EOF", rest, err)
	}
}

// dialHTTP connects to addr with a deadline bounding the test.
func dialHTTP(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
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
