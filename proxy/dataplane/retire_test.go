package dataplane_test

import (
	"io"
	"testing"
	"time"
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
