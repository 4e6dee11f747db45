package tcpproxy_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weftmesh/weft/proxy/tcpproxy"
)

// tcpPair returns both ends of a real loopback TCP connection.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		accepted <- c
	}()
	var d net.Dialer
	client, err = d.DialContext(t.Context(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// tlsPair wraps a loopback TCP connection in TLS 1.3 and completes the
// handshake.
func tlsPair(t *testing.T) (client, server *tls.Conn) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "test"},
		DNSNames:     []string{"test"},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	c, s := tcpPair(t)
	client = tls.Client(c, &tls.Config{ServerName: "test", RootCAs: roots, MinVersion: tls.VersionTLS13})
	server = tls.Server(s, &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS13})
	errc := make(chan error, 1)
	go func() { errc <- server.HandshakeContext(t.Context()) }()
	if err := client.HandshakeContext(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	return client, server
}

type counter struct{ n atomic.Int64 }

func (c *counter) Add(v float64) { c.n.Add(int64(v)) }

type joined struct {
	res tcpproxy.Result
	err error
}

func startJoin(ctx context.Context, down, up net.Conn, opts tcpproxy.Options) <-chan joined {
	done := make(chan joined, 1)
	go func() {
		res, err := tcpproxy.Join(ctx, down, up, opts)
		done <- joined{res, err}
	}()
	return done
}

func wait(t *testing.T, done <-chan joined) joined {
	t.Helper()
	select {
	case j := <-done:
		return j
	case <-time.After(10 * time.Second):
		t.Fatal("Join did not return")
		return joined{}
	}
}

func closeWrite(t *testing.T, c net.Conn) {
	t.Helper()
	if err := c.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		t.Fatal(err)
	}
}

// TestJoinHalfClose sends a request, half-closes it, and expects the
// server to see EOF and still be able to answer through the proxy.
func TestJoinHalfClose(t *testing.T) {
	tests := []struct {
		name string
		// pairs returns the client↔proxy and proxy↔server connections.
		pairs func(t *testing.T) (client, down, up, server net.Conn)
	}{
		{"tcp both sides", func(t *testing.T) (net.Conn, net.Conn, net.Conn, net.Conn) {
			c, d := tcpPair(t)
			u, s := tcpPair(t)
			return c, d, u, s
		}},
		{"tls downstream", func(t *testing.T) (net.Conn, net.Conn, net.Conn, net.Conn) {
			c, d := tlsPair(t)
			u, s := tcpPair(t)
			return c, d, u, s
		}},
		{"tls upstream", func(t *testing.T) (net.Conn, net.Conn, net.Conn, net.Conn) {
			c, d := tcpPair(t)
			u, s := tlsPair(t)
			return c, d, u, s
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, down, up, server := tt.pairs(t)
			var toUp, toDown counter
			done := startJoin(t.Context(), down, up, tcpproxy.Options{ToUpstream: &toUp, ToDownstream: &toDown})

			request := []byte("ping")
			reply := bytes.Repeat([]byte("pong"), 100_000)
			serverErr := make(chan error, 1)
			go func() {
				got, err := io.ReadAll(server) // ends only if the half-close came through
				if err != nil {
					serverErr <- err
					return
				}
				if !bytes.Equal(got, request) {
					serverErr <- errors.New("server got " + string(got))
					return
				}
				if _, err := server.Write(reply); err != nil {
					serverErr <- err
					return
				}
				serverErr <- server.Close()
			}()

			if _, err := client.Write(request); err != nil {
				t.Fatal(err)
			}
			closeWrite(t, client)
			got, err := io.ReadAll(client)
			if err != nil {
				t.Fatal(err)
			}
			if err := <-serverErr; err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, reply) {
				t.Fatalf("client got %d bytes, want %d", len(got), len(reply))
			}
			j := wait(t, done)
			if j.err != nil {
				t.Fatalf("Join: %v", j.err)
			}
			want := tcpproxy.Result{ToUpstream: int64(len(request)), ToDownstream: int64(len(reply))}
			if j.res != want {
				t.Errorf("result %+v, want %+v", j.res, want)
			}
			if toUp.n.Load() != want.ToUpstream || toDown.n.Load() != want.ToDownstream {
				t.Errorf("counters %d/%d, want %d/%d", toUp.n.Load(), toDown.n.Load(), want.ToUpstream, want.ToDownstream)
			}
		})
	}
}

func TestJoinIdleTimeout(t *testing.T) {
	client, down := tcpPair(t)
	up, server := tcpPair(t)
	start := time.Now()
	j := wait(t, startJoin(t.Context(), down, up, tcpproxy.Options{IdleTimeout: 100 * time.Millisecond}))
	if !tcpproxy.IsIdleTimeout(j.err) {
		t.Fatalf("Join error %v, want idle timeout", j.err)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("idle timeout after %v, before 100ms", d)
	}
	for name, c := range map[string]net.Conn{"client": client, "server": server} {
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
			t.Errorf("%s read after idle timeout: %v, want EOF", name, err)
		}
	}
}

// TestJoinIdleTimeoutCountsBothDirections keeps one direction busy and the
// other silent for longer than the idle timeout: the pair must survive.
func TestJoinIdleTimeoutCountsBothDirections(t *testing.T) {
	client, down := tcpPair(t)
	up, server := tcpPair(t)
	done := startJoin(t.Context(), down, up, tcpproxy.Options{IdleTimeout: 150 * time.Millisecond})
	go func() { _, _ = io.Copy(io.Discard, server) }()
	for range 10 {
		if _, err := client.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	select {
	case j := <-done:
		t.Fatalf("Join ended while one direction was active: %v", j.err)
	default:
	}
	j := wait(t, done) // now idle for real
	if !tcpproxy.IsIdleTimeout(j.err) {
		t.Fatalf("Join error %v, want idle timeout", j.err)
	}
	if j.res.ToUpstream != 10 {
		t.Errorf("copied %d bytes upstream, want 10", j.res.ToUpstream)
	}
}

func TestJoinContextEndClosesBoth(t *testing.T) {
	client, down := tcpPair(t)
	up, server := tcpPair(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := startJoin(ctx, down, up, tcpproxy.Options{})
	cancel()
	if j := wait(t, done); j.err != nil {
		t.Fatalf("Join after cancel: %v, want nil", j.err)
	}
	for name, c := range map[string]net.Conn{"client": client, "server": server} {
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
			t.Errorf("%s read after cancel: %v, want EOF", name, err)
		}
	}
}

// TestJoinWithoutHalfClose uses net.Pipe, which cannot half-close: the end
// of one direction closes the connection instead.
func TestJoinWithoutHalfClose(t *testing.T) {
	client, down := net.Pipe()
	up, server := net.Pipe()
	t.Cleanup(func() { client.Close(); server.Close() })
	done := startJoin(t.Context(), down, up, tcpproxy.Options{})
	go func() {
		_, _ = client.Write([]byte("hi"))
		client.Close()
	}()
	got, err := io.ReadAll(server)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "hi" {
		t.Fatalf("server got %q", got)
	}
	server.Close()
	if j := wait(t, done); j.res.ToUpstream != 2 {
		t.Fatalf("result %+v, want 2 bytes upstream", j.res)
	}
}

// TestJoinReportsReset checks that an upstream reset is an error.
func TestJoinReportsReset(t *testing.T) {
	client, down := tcpPair(t)
	up, server := tcpPair(t)
	_ = client
	if err := server.(*net.TCPConn).SetLinger(0); err != nil {
		t.Fatal(err)
	}
	done := startJoin(t.Context(), down, up, tcpproxy.Options{})
	server.Close() // RST
	j := wait(t, done)
	if j.err == nil {
		t.Fatal("Join after upstream reset returned nil error")
	}
}
