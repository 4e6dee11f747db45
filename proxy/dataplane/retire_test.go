package dataplane_test

import (
	"bufio"
	"io"
	"net/http"
	"testing"
	"time"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
)

// TestReplacedListenerDrainsConnections: when a listener's configuration
// changes, its established TCP connection keeps working through the drain
// timeout (1s in these tests) and is then closed, as Envoy drains a
// changed listener, so that no connection outlives a policy change for
// long. An update that leaves the listener as it was closes nothing.
func TestReplacedListenerDrainsConnections(t *testing.T) {
	m := newMesh(t)
	c := dial(t, m.outbound)
	exchange(t, c, "one", "echo:one")

	// The same listeners again: nothing to drain.
	must(t, m.client.OnListeners(t.Context(), m.clientListeners(t)))
	time.Sleep(1500 * time.Millisecond) // past the drain timeout
	exchange(t, c, "two", "two")

	ls := m.clientListeners(t)
	ls[0].StatPrefix = "changed"
	must(t, m.client.OnListeners(t.Context(), ls))
	exchange(t, c, "three", "three") // draining, still served
	if err := c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if rest, err := io.ReadAll(c); err != nil || len(rest) > 0 {
		t.Fatalf("after the drain timeout: %q, %v; want the connection closed (EOF)", rest, err)
	}
	if got, err := roundTrip(t, m.outbound, "four"); err != nil || got != "echo:four" {
		t.Fatalf("a new connection under the new configuration: %q, %v", got, err)
	}
}

// TestConnectionAcceptedBeforeUpdateIsAnswered: an HTTP/1 connection
// accepted just before its listener's configuration changes, whose client
// sends its request only then, gets an answer (with Connection: close),
// not a connection closed unanswered: a client that connects per request
// (and has written its request by the time the update lands) would see
// EOF. Whether the update lands before the proxy starts reading or while
// it waits for the first byte, the connection was closed before the fix.
func TestConnectionAcceptedBeforeUpdateIsAnswered(t *testing.T) {
	m := newHTTPMesh(t, startHTTPApp(t), false)
	c := dial(t, m.outbound)
	time.Sleep(50 * time.Millisecond) // the proxy now waits for the request head

	l := httpOutboundListener(t, outboundName, "127.0.0.1:0") // as newHTTPMesh: the socket stays
	l.StatPrefix = "changed"
	must(t, m.client.OnListeners(t.Context(), []*listenerv3.Listener{l}))

	if _, err := io.WriteString(c, "GET /first HTTP/1.1\r\nHost: "+outboundVhost+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	must(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("the request sent on a connection accepted before the update: %v; want an answer", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "HTTP/1.1 GET /first|" || !resp.Close {
		t.Errorf("answer %d %q, Connection: close %v; want 200 from the app, closing (the listener drains)", resp.StatusCode, body, resp.Close)
	}
}
