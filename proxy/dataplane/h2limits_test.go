package dataplane_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2Client is a raw HTTP/2 client connection with prior knowledge (h2c),
// for sending what a real client never would.
type h2Client struct {
	t    *testing.T
	conn net.Conn
	fr   *http2.Framer
	// server is the server's first SETTINGS frame.
	server map[http2.SettingID]uint32
}

// dialH2 opens an h2c connection to addr and exchanges SETTINGS.
func dialH2(t *testing.T, addr string) *h2Client {
	t.Helper()
	var d net.Dialer
	conn, err := d.DialContext(t.Context(), "tcp", addr)
	must(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	// A bound on the whole exchange, so that a server that neither
	// answers nor closes fails the test instead of hanging it.
	must(t, conn.SetDeadline(time.Now().Add(30*time.Second)))
	_, err = io.WriteString(conn, http2.ClientPreface)
	must(t, err)
	c := &h2Client{t: t, conn: conn, fr: http2.NewFramer(conn, conn), server: map[http2.SettingID]uint32{}}
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	must(t, c.fr.WriteSettings())
	f, err := c.fr.ReadFrame()
	must(t, err)
	sf, ok := f.(*http2.SettingsFrame)
	if !ok {
		t.Fatalf("first frame %v, want SETTINGS", f)
	}
	must(t, sf.ForeachSetting(func(s http2.Setting) error {
		c.server[s.ID] = s.Val
		return nil
	}))
	must(t, c.fr.WriteSettingsAck())
	return c
}

// headerBlock encodes a GET / request with extra header fields.
func headerBlock(extra ...hpack.HeaderField) []byte {
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	for _, f := range append([]hpack.HeaderField{
		{Name: ":method", Value: "GET"}, {Name: ":scheme", Value: "http"},
		{Name: ":authority", Value: "app"}, {Name: ":path", Value: "/"},
	}, extra...) {
		_ = enc.WriteField(f)
	}
	return buf.Bytes()
}

// outcome is how a connection ended, as the client saw it.
type outcome struct {
	goAway    bool
	code      http2.ErrCode
	closed    bool // EOF or reset without GOAWAY
	status    map[uint32]string
	resets    map[uint32]http2.ErrCode
	pingAcked bool
}

// readUntilEnd reads frames until the connection ends or, when stopAtPing,
// until the ack of the PING with data pingData.
func (c *h2Client) readUntilEnd(stopAtPing bool) outcome {
	return c.readUntil(func(o outcome) bool { return stopAtPing && o.pingAcked })
}

// readUntil reads frames until the connection ends or stop is true.
func (c *h2Client) readUntil(stop func(outcome) bool) outcome {
	o := outcome{status: map[uint32]string{}, resets: map[uint32]http2.ErrCode{}}
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				c.t.Fatalf("connection neither closed nor answered: %v", err)
			}
			o.closed = true
			return o
		}
		switch f := f.(type) {
		case *http2.GoAwayFrame:
			o.goAway, o.code = true, f.ErrCode
		case *http2.MetaHeadersFrame:
			o.status[f.StreamID] = f.PseudoValue("status")
		case *http2.RSTStreamFrame:
			o.resets[f.StreamID] = f.ErrCode
		case *http2.PingFrame:
			if f.IsAck() && f.Data == pingData {
				o.pingAcked = true
			}
		}
		if stop(o) {
			return o
		}
	}
}

var pingData = [8]byte{'w', 'e', 'f', 't'}

// h2Proxy is a plaintext HTTP listener to an app whose handler is answer;
// it returns the listener's address.
func h2Proxy(t *testing.T, answer func(int64, http.ResponseWriter, *http.Request)) (string, *scriptedApp) {
	t.Helper()
	app := startScriptedApp(t, answer)
	return resilientProxy(t, []string{app.addr}, nil, nil), app
}

func TestHTTP2Settings(t *testing.T) {
	addr, _ := h2Proxy(t, replyWith(http.StatusOK, "ok"))
	c := dialH2(t, addr)
	want := map[http2.SettingID]uint32{
		http2.SettingMaxConcurrentStreams: 100,
		http2.SettingMaxFrameSize:         16 << 10,
		http2.SettingHeaderTableSize:      4 << 10,
	}
	for id, v := range want {
		if got, ok := c.server[id]; !ok && v != 4<<10 || ok && got != v {
			t.Errorf("server %v = %d (sent %v), want %d", id, got, ok, v)
		}
	}
	if got := c.server[http2.SettingMaxHeaderListSize]; got == 0 || got > 128<<10 {
		t.Errorf("server SETTINGS_MAX_HEADER_LIST_SIZE = %d, want a bound of at most 128 KiB", got)
	}
}

func TestHTTP2StreamsBeyondLimitRefused(t *testing.T) {
	addr, app := h2Proxy(t, func(_ int64, _ http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})
	c := dialH2(t, addr)
	block := headerBlock()
	const streams = 150
	for i := range streams {
		must(t, c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: uint32(2*i + 1), BlockFragment: block, EndStream: true, EndHeaders: true}))
	}
	must(t, c.fr.WritePing(false, pingData))
	// Refusals come before the PING ack: the server handles frames in order.
	o := c.readUntilEnd(true)
	refused := 0
	for _, code := range o.resets {
		if code == http2.ErrCodeRefusedStream || code == http2.ErrCodeProtocol {
			refused++
		}
	}
	if !o.goAway && !o.closed && refused < streams-100 {
		t.Errorf("%d of %d streams refused, want at least %d beyond the limit of 100", refused, streams, streams-100)
	}
	if n := app.n.Load(); n > 100 {
		t.Errorf("upstream saw %d requests, want at most 100", n)
	}
}

func TestHTTP2RapidReset(t *testing.T) {
	addr, app := h2Proxy(t, func(_ int64, _ http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})
	c := dialH2(t, addr)
	block := headerBlock()
	const streams = 20000
	var werr error
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range streams {
			id := uint32(2*i + 1)
			if werr = c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block, EndStream: true, EndHeaders: true}); werr != nil {
				return
			}
			if werr = c.fr.WriteRSTStream(id, http2.ErrCodeCancel); werr != nil {
				return
			}
		}
		werr = c.fr.WritePing(false, pingData)
	})
	o := c.readUntilEnd(true)
	_ = c.conn.Close()
	wg.Wait()
	t.Logf("rapid reset: goaway=%v code=%v closed=%v ping acked=%v upstream requests=%d write error=%v", o.goAway, o.code, o.closed, o.pingAcked, app.n.Load(), werr)
	// Go's server runs at most MaxConcurrentStreams handlers and sends
	// GOAWAY ENHANCE_YOUR_CALM when too many reset streams queue behind
	// them, which depends on how fast handlers end; the proxy closes the
	// connection anyway once half of 500 ended streams were reset early.
	if !o.closed {
		t.Error("connection still open after 20000 reset streams")
	}
	if o.goAway && o.code != http2.ErrCodeEnhanceYourCalm {
		t.Errorf("GOAWAY %v, want ENHANCE_YOUR_CALM", o.code)
	}
	if n := app.n.Load(); n >= 2000 {
		t.Errorf("upstream saw %d of %d reset requests, want a bounded number", n, streams)
	}
}

func TestHTTP2ContinuationFlood(t *testing.T) {
	addr, app := h2Proxy(t, replyWith(http.StatusOK, "ok"))
	c := dialH2(t, addr)
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	must(t, c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: headerBlock(), EndHeaders: false}))
	// Each CONTINUATION adds a 16 KiB literal header field, never ending
	// the header block: 64 MiB unless the server stops it.
	var buf bytes.Buffer
	_ = hpack.NewEncoder(&buf).WriteField(hpack.HeaderField{Name: "x-flood", Value: strings.Repeat("a", 16<<10-32)})
	frag := buf.Bytes()
	var sent int
	var wg sync.WaitGroup
	wg.Go(func() {
		for range 4096 {
			if c.fr.WriteContinuation(1, false, frag) != nil {
				return
			}
			sent += len(frag)
		}
	})
	o := c.readUntilEnd(false)
	_ = c.conn.Close()
	wg.Wait()

	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	growth := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("continuation flood: goaway=%v code=%v sent=%d heap growth=%d", o.goAway, o.code, sent, growth)
	if !o.closed {
		t.Error("connection still open after the flood")
	}
	if sent >= 4096*len(frag) {
		t.Errorf("server read all %d bytes of an endless header block", sent)
	}
	if growth > 32<<20 {
		t.Errorf("heap grew by %d bytes during the flood, want a bounded amount", growth)
	}
	if n := app.n.Load(); n != 0 {
		t.Errorf("upstream saw %d requests, want 0", n)
	}
}

// controlFlood writes n frames with write without reading what the
// server answers, then a PING, and returns how the connection ended (or
// that the PING was answered), the heap growth of the process, and
// whether the server stopped reading the flood (the writes blocked until
// the connection's deadline), which also bounds what it holds.
func controlFlood(t *testing.T, addr string, n, readBuffer int, writeFor time.Duration, write func(*http2.Framer) error) (outcome, int64, bool) {
	t.Helper()
	c := dialH2(t, addr)
	must(t, c.conn.SetDeadline(time.Now().Add(writeFor)))
	if readBuffer > 0 {
		must(t, c.conn.(*net.TCPConn).SetReadBuffer(readBuffer))
	}
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var werr error
	var wg sync.WaitGroup
	wg.Go(func() {
		for range n {
			if werr = write(c.fr); werr != nil {
				return
			}
		}
		werr = c.fr.WritePing(false, pingData)
	})
	// Let the server's answers back up, as a flooding client's would.
	wg.Wait()
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	growth := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	var ne net.Error
	if errors.As(werr, &ne) && ne.Timeout() {
		return outcome{}, growth, true
	}
	// The server may still be working through a million frames (slowly,
	// under -race on a loaded machine): give the answer time to come.
	must(t, c.conn.SetDeadline(time.Now().Add(60*time.Second)))
	return c.readUntilEnd(true), growth, false
}

func TestHTTP2ControlFrameFloods(t *testing.T) {
	tests := []struct {
		name  string
		write func(*http2.Framer) error
		// closed: the server closes the connection once more than 10000
		// answers are queued. Go's server answers SETTINGS with a single
		// pending ACK however many arrive, so a SETTINGS flood costs it
		// no memory and the connection stays usable.
		closed bool
		// readBuffer, when set, is the client's socket receive buffer: a
		// small one makes the server's answers back up in its queue
		// rather than in a buffer the kernel may grow to tens of MiB.
		readBuffer int
		// writeFor bounds the flood: a PING flood may stall (the server
		// stops reading), a SETTINGS flood must go through, which under
		// -race on a busy machine takes longer than 10 s.
		writeFor time.Duration
	}{
		{"PING", func(fr *http2.Framer) error { return fr.WritePing(false, [8]byte{'f'}) }, true, 16 << 10, 10 * time.Second},
		{"SETTINGS", func(fr *http2.Framer) error { return fr.WriteSettings() }, false, 0, 90 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, _ := h2Proxy(t, replyWith(http.StatusOK, "ok"))
			// About 9 or 17 MiB of answers: more than the socket
			// buffers hold, so that the server's answers back up.
			o, growth, stalled := controlFlood(t, addr, 1000000, tt.readBuffer, tt.writeFor, tt.write)
			t.Logf("%s flood: goaway=%v code=%v closed=%v stalled=%v ping acked=%v heap growth=%d", tt.name, o.goAway, o.code, o.closed, stalled, o.pingAcked, growth)
			// Under the race detector the server may fall so far behind
			// that it stops reading before its queue overflows: the flood
			// then stalls, which bounds it as well.
			if tt.closed && !o.closed && !stalled {
				t.Error("connection still open and reading after the flood")
			}
			if !tt.closed && !o.pingAcked {
				t.Errorf("connection closed %v, stalled %v; want it to answer after the flood", o.closed, stalled)
			}
			if o.goAway && o.code != http2.ErrCodeEnhanceYourCalm {
				t.Errorf("GOAWAY %v, want ENHANCE_YOUR_CALM", o.code)
			}
			if growth > 32<<20 {
				t.Errorf("heap grew by %d bytes during the flood, want a bounded amount", growth)
			}
		})
	}
}

func TestHTTP2HPACKBomb(t *testing.T) {
	addr, app := h2Proxy(t, replyWith(http.StatusOK, "ok"))
	c := dialH2(t, addr)
	// One 4000-byte header in the dynamic table (index 62), then
	// referenced by one-byte indexed fields: 4 MiB of headers from 4 KiB.
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	for _, f := range []hpack.HeaderField{
		{Name: ":method", Value: "GET"}, {Name: ":scheme", Value: "http"},
		{Name: ":authority", Value: "app"}, {Name: ":path", Value: "/"},
	} {
		_ = enc.WriteField(f)
	}
	_ = enc.WriteField(hpack.HeaderField{Name: "x-bomb", Value: strings.Repeat("b", 4000)})
	for range 1000 {
		buf.WriteByte(0x80 | 62) // indexed field 62: the newest table entry
	}
	block := buf.Bytes()
	if len(block) > 16<<10 {
		t.Fatalf("header block of %d bytes does not fit a frame", len(block))
	}
	must(t, c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block, EndStream: true, EndHeaders: true}))
	o := c.readUntil(func(o outcome) bool { return o.status[1] != "" || o.resets[1] != 0 || o.goAway })
	t.Logf("HPACK bomb: status=%q reset=%v goaway=%v closed=%v", o.status[1], o.resets[1], o.goAway, o.closed)
	refused := o.status[1] == "431" || o.resets[1] != 0 || o.goAway || o.closed
	if !refused {
		t.Errorf("request answered %q, want 431, a reset or a closed connection", o.status[1])
	}
	if n := app.n.Load(); n != 0 {
		t.Errorf("upstream saw %d requests, want 0", n)
	}
}
