package dataplane_test

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/weftmesh/weft/proxy/dataplane"
)

// backend is a TCP server on loopback that answers each connection with
// its name, then echoes what it reads, then half-closes.
type backend struct {
	name string
	ln   net.Listener
	wg   sync.WaitGroup
}

func startBackend(t *testing.T, name string) *backend {
	t.Helper()
	return startBackendAt(t, name, "127.0.0.1:0")
}

// startBackendAt is startBackend listening on address.
func startBackendAt(t *testing.T, name, address string) *backend {
	t.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", address)
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{name: name, ln: ln}
	b.wg.Add(1)
	go b.serve()
	t.Cleanup(func() {
		ln.Close()
		b.wg.Wait()
	})
	return b
}

func (b *backend) addr() string { return b.ln.Addr().String() }

func (b *backend) serve() {
	defer b.wg.Done()
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			defer c.Close()
			if _, err := c.Write([]byte(b.name + ":")); err != nil {
				return
			}
			if _, err := io.Copy(c, c); err != nil {
				return
			}
			_ = c.(*net.TCPConn).CloseWrite()
			_, _ = io.Copy(io.Discard, c)
		}()
	}
}

// newDataplane returns a dataplane with the identity id issued by ca, and
// its metrics registry, after edits of its configuration. It is closed
// when the test ends.
func newDataplane(t *testing.T, ca *testCA, id string, edits ...func(*dataplane.Config)) (*dataplane.Dataplane, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	cfg := dataplane.Config{
		SVID:         ca.svid(t, id),
		Bundle:       ca.bundle,
		TrustDomain:  ca.td,
		Logger:       slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Registerer:   reg,
		DrainTimeout: time.Second,
	}
	for _, e := range edits {
		e(&cfg)
	}
	dp := dataplane.New(cfg)
	t.Cleanup(dp.Close)
	return dp, reg
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

func listenerAddr(t *testing.T, dp *dataplane.Dataplane, name string) string {
	t.Helper()
	a, ok := dp.ListenerAddr(name)
	if !ok {
		t.Fatalf("listener %q is not bound", name)
	}
	return a.String()
}

func dial(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	var d net.Dialer
	c, err := d.DialContext(t.Context(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// roundTrip sends msg on a new connection to addr, half-closes, and returns
// everything read until EOF.
func roundTrip(t *testing.T, addr, msg string) (string, error) {
	t.Helper()
	c := dial(t, addr)
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte(msg)); err != nil {
		return "", err
	}
	if err := c.CloseWrite(); err != nil {
		return "", err
	}
	got, err := io.ReadAll(c)
	return string(got), err
}

// exchange writes msg on an open connection and reads exactly want.
func exchange(t *testing.T, c net.Conn, msg, want string) {
	t.Helper()
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatalf("write: %v", err)
	}
	buf := make([]byte, len(want))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("read: %v (got %q)", err, buf)
	}
	if string(buf) != want {
		t.Fatalf("read %q, want %q", buf, want)
	}
}

// refused checks that the peer closes c without sending anything.
func refused(t *testing.T, c net.Conn) {
	t.Helper()
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c)
	if len(got) > 0 {
		t.Fatalf("connection not refused: read %q", got)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("connection neither served nor closed")
	}
}

// metric returns the value of the sample of family name whose labels are
// exactly labels, or 0 when there is none.
func metric(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if labelsEqual(m.GetLabel(), labels) {
				switch {
				case m.GetCounter() != nil:
					return m.GetCounter().GetValue()
				case m.GetGauge() != nil:
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return 0
}

func labelsEqual(got []*dto.LabelPair, want map[string]string) bool {
	if len(got) != len(want) {
		return false
	}
	for _, l := range got {
		if v, ok := want[l.GetName()]; !ok || v != l.GetValue() {
			return false
		}
	}
	return true
}

// eventually polls f until it returns "" or 5 seconds pass.
func eventually(t *testing.T, f func() string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		msg := f()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(msg)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func connections(listener, direction, peer, result string) map[string]string {
	return map[string]string{"listener": listener, "direction": direction, "peer_id": peer, "result": result}
}

var trustDomain = spiffeid.RequireTrustDomainFromString("cluster.local")

// newPlainDataplane returns a dataplane without identity, for plaintext
// configurations.
func newPlainDataplane(t *testing.T) (*dataplane.Dataplane, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	dp := dataplane.New(dataplane.Config{TrustDomain: trustDomain, DrainTimeout: time.Second, Registerer: reg})
	t.Cleanup(dp.Close)
	return dp, reg
}
