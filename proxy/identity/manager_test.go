package identity_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/weftmesh/weft/proxy/identity"
)

func TestManagerObtainsSVID(t *testing.T) {
	c := newTestCA(t, map[string][2]string{
		"cart-token": {"shop", "cart"},
		"web-token":  {"shop", "web"},
	})
	lis := listen(t)
	c.serve(t, lis, nil)

	cart := startManager(t, c.config(t, lis.Addr().String(), "shop", "cart", "cart-token"))
	web := startManager(t, c.config(t, lis.Addr().String(), "shop", "web", "web-token"))

	svid, err := cart.GetX509SVID()
	if err != nil {
		t.Fatalf("GetX509SVID: %v", err)
	}
	if want := spiffeid.RequireFromString("spiffe://cluster.test/ns/shop/sa/cart"); svid.ID != want || cart.ID() != want {
		t.Errorf("SVID ID = %s (Manager.ID %s), want %s", svid.ID, cart.ID(), want)
	}
	if k, ok := svid.PrivateKey.Public().(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() {
		t.Errorf("SVID key is %T, want ECDSA P-256", svid.PrivateKey.Public())
	}
	bundle, err := cart.GetX509BundleForTrustDomain(td)
	if err != nil {
		t.Fatalf("GetX509BundleForTrustDomain: %v", err)
	}
	if roots := bundle.X509Authorities(); len(roots) != 1 || !roots[0].Equal(c.auth.Bundle()[0]) {
		t.Error("bundle is not the CA's root")
	}
	if _, err := cart.GetX509BundleForTrustDomain(spiffeid.RequireTrustDomainFromString("other.test")); err == nil {
		t.Error("bundle for a foreign trust domain: no error")
	}

	// The two workloads talk mTLS with configurations built from their
	// managers, each accepting only the other's ID.
	serverSeen, clientSeen := handshake(t, cart, web)
	if serverSeen != web.ID() || clientSeen != cart.ID() {
		t.Errorf("server saw %s (want %s), client saw %s (want %s)", serverSeen, web.ID(), clientSeen, cart.ID())
	}
}

func TestManagerRotates(t *testing.T) {
	c := newTestCA(t, map[string][2]string{"cart-token": {"shop", "cart"}, "web-token": {"shop", "web"}})
	lis := listen(t)
	c.serve(t, lis, nil)
	cfg := c.config(t, lis.Addr().String(), "shop", "cart", "cart-token")
	cfg.TTL = 2 * time.Second
	m := startManager(t, cfg)
	peer := startManager(t, c.config(t, lis.Addr().String(), "shop", "web", "web-token"))

	first, err := m.GetX509SVID()
	if err != nil {
		t.Fatal(err)
	}
	if lifetime := first.Certificates[0].NotAfter.Sub(first.Certificates[0].NotBefore); lifetime != 2*time.Second+time.Minute {
		t.Errorf("lifetime = %s, want the requested 2s (+1m backdating)", lifetime)
	}
	// Renewal is due after about 1s; allow far more on a loaded machine.
	deadline := time.Now().Add(20 * time.Second)
	var renewed *x509svid.SVID
	for time.Now().Before(deadline) {
		svid, err := m.GetX509SVID()
		if err != nil {
			t.Fatalf("GetX509SVID during rotation: %v", err)
		}
		if svid.Certificates[0].SerialNumber.Cmp(first.Certificates[0].SerialNumber) != 0 {
			renewed = svid
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if renewed == nil {
		t.Fatal("no new certificate within 20s of a 2s one being issued")
	}
	if renewed.ID != first.ID {
		t.Errorf("renewed ID = %s, want %s", renewed.ID, first.ID)
	}
	if renewed.PrivateKey.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(first.PrivateKey.Public()) {
		t.Error("renewal kept the old key, want a new one")
	}

	// A TLS configuration built once presents whatever is current.
	serverTLS := tlsconfig.MTLSServerConfig(m, m, tlsconfig.AuthorizeID(peer.ID()))
	clientTLS := tlsconfig.MTLSClientConfig(peer, peer, tlsconfig.AuthorizeID(m.ID()))
	current, _ := m.GetX509SVID()
	presented := handshakeWith(t, serverTLS, clientTLS)
	if presented.SerialNumber.Cmp(first.Certificates[0].SerialNumber) == 0 {
		t.Error("server presented the first certificate after rotation")
	}
	if presented.NotAfter.Before(current.Certificates[0].NotAfter) {
		t.Errorf("server presented a certificate expiring %v, older than the current one (%v)", presented.NotAfter, current.Certificates[0].NotAfter)
	}
}

// TestManagerKeepsSVIDWhileCADown stops the CA before the first renewal:
// the Manager keeps serving the SVID it has, and Close interrupts its
// retries promptly.
func TestManagerKeepsSVIDWhileCADown(t *testing.T) {
	c := newTestCA(t, map[string][2]string{"cart-token": {"shop", "cart"}})
	lis := listen(t)
	stop := c.serve(t, lis, nil)
	cfg := c.config(t, lis.Addr().String(), "shop", "cart", "cart-token")
	cfg.TTL = 2 * time.Second
	m := identity.New(cfg)
	if err := m.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	first, err := m.GetX509SVID()
	if err != nil {
		t.Fatal(err)
	}
	stop()

	// Renewal is due after about 1s and fails from then on.
	time.Sleep(2500 * time.Millisecond)
	svid, err := m.GetX509SVID()
	if err != nil {
		t.Fatalf("GetX509SVID with the CA down: %v", err)
	}
	if svid != first {
		t.Error("SVID changed although the CA is down")
	}

	closed := make(chan error, 1)
	go func() { closed <- m.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return within 5s while renewal was retrying")
	}
}

func TestManagerWaitsForCA(t *testing.T) {
	c := newTestCA(t, map[string][2]string{"cart-token": {"shop", "cart"}})
	// Reserve a port, then leave it closed: the CA is down.
	lis := listen(t)
	addr := lis.Addr().String()
	if err := lis.Close(); err != nil {
		t.Fatal(err)
	}

	m := identity.New(c.config(t, addr, "shop", "cart", "cart-token"))
	t.Cleanup(func() { _ = m.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	started := make(chan error, 1)
	go func() { started <- m.Start(ctx) }()

	select {
	case err := <-started:
		t.Fatalf("Start returned while the CA was down: %v", err)
	case <-time.After(1500 * time.Millisecond):
	}
	if _, err := m.GetX509SVID(); err == nil {
		t.Error("GetX509SVID succeeded before any certificate was issued")
	}

	var err error
	for range 50 { // the port may be briefly taken by someone else
		if lis, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("re-listen on %s: %v", addr, err)
	}
	c.serve(t, lis, nil)

	if err := <-started; err != nil {
		t.Fatalf("Start after the CA came up: %v", err)
	}
	svid, err := m.GetX509SVID()
	if err != nil || svid.ID != m.ID() {
		t.Fatalf("GetX509SVID = %v, %v; want an SVID for %s", svid, err, m.ID())
	}
}

func TestManagerStartFails(t *testing.T) {
	c := newTestCA(t, map[string][2]string{"cart-token": {"shop", "cart"}})
	up := listen(t)
	c.serve(t, up, nil)
	impostor := listen(t)
	c.serve(t, impostor, c.workloadCert(t, spiffeid.RequireFromString("spiffe://cluster.test/ns/shop/sa/evil")))
	down := listen(t)
	downAddr := down.Addr().String()
	if err := down.Close(); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name  string
		addr  string
		token string
		code  codes.Code
		want  string
	}{
		{name: "CA down", addr: downAddr, token: "cart-token", code: codes.Unavailable, want: "connection refused"},
		{name: "wrong token", addr: up.Addr().String(), token: "stolen-token", code: codes.Unauthenticated, want: "token not accepted"},
		{name: "server is not the control plane", addr: impostor.Addr().String(), token: "cart-token", code: codes.Unavailable, want: `authentication handshake failed: unexpected ID \"spiffe://cluster.test/ns/shop/sa/evil\"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := identity.New(c.config(t, tt.addr, "shop", "cart", tt.token))
			defer func() {
				if err := m.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			}()
			ctx, cancel := context.WithTimeout(t.Context(), time.Second)
			defer cancel()
			err := m.Start(ctx)
			if err == nil {
				t.Fatal("Start succeeded, want an error")
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("error %v does not wrap context.DeadlineExceeded", err)
			}
			if got := status.Code(err); got != tt.code {
				t.Errorf("code = %s, want %s", got, tt.code)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "no certificate from the CA at "+tt.addr) {
				t.Errorf("error %q does not name the CA and contain %q", err, tt.want)
			}
			if _, err := m.GetX509SVID(); err == nil {
				t.Error("GetX509SVID succeeded after a failed Start")
			}
		})
	}
}

func TestManagerConfigErrors(t *testing.T) {
	c := newTestCA(t, nil)
	valid := c.config(t, "127.0.0.1:1", "shop", "cart", "token")
	tests := []struct {
		name   string
		mutate func(*identity.Config)
		want   string
	}{
		{"no address", func(c *identity.Config) { c.CAAddress = "" }, "CAAddress: required"},
		{"no trust domain", func(c *identity.Config) { c.TrustDomain = spiffeid.TrustDomain{} }, "TrustDomain: required"},
		{"no token", func(c *identity.Config) { c.Token = nil }, "Token is required"},
		{"no roots", func(c *identity.Config) { c.RootCAs = nil }, "RootCAs: at least one root"},
		{"negative TTL", func(c *identity.Config) { c.TTL = -time.Second }, "TTL -1s: must not be negative"},
		{"bad retry", func(c *identity.Config) { c.RetryMax = time.Millisecond }, "want 0 < RetryInitial <= RetryMax"},
		{"no namespace", func(c *identity.Config) { c.Namespace = "" }, `Namespace "", ServiceAccount "cart"`},
		{"bad service account", func(c *identity.Config) { c.ServiceAccount = "a/b" }, `ServiceAccount "a/b"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid
			tt.mutate(&cfg)
			m := identity.New(cfg)
			err := m.Start(t.Context())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Start error = %v, want one containing %q", err, tt.want)
			}
			if err := m.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
}

func TestManagerLifecycle(t *testing.T) {
	c := newTestCA(t, map[string][2]string{"cart-token": {"shop", "cart"}})
	lis := listen(t)
	c.serve(t, lis, nil)

	m := identity.New(c.config(t, lis.Addr().String(), "shop", "cart", "cart-token"))
	if err := m.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := m.Start(t.Context()); err == nil || !strings.Contains(err.Error(), "already started") {
		t.Errorf("second Start: %v, want an already-started error", err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := m.GetX509SVID(); err != nil {
		t.Errorf("GetX509SVID after Close: %v, want the last SVID", err)
	}

	closed := identity.New(c.config(t, lis.Addr().String(), "shop", "cart", "cart-token"))
	if err := closed.Close(); err != nil {
		t.Fatal(err)
	}
	if err := closed.Start(t.Context()); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Start after Close: %v, want a closed error", err)
	}
}

// handshake connects client to server over mTLS on loopback, each side
// accepting only the other's ID, and returns the ID each side saw.
func handshake(t *testing.T, server, client *identity.Manager) (serverSaw, clientSaw spiffeid.ID) {
	t.Helper()
	serverTLS := tlsconfig.MTLSServerConfig(server, server, tlsconfig.AuthorizeID(client.ID()))
	clientTLS := tlsconfig.MTLSClientConfig(client, client, tlsconfig.AuthorizeID(server.ID()))
	lis, err := tls.Listen("tcp", "127.0.0.1:0", serverTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	seen := make(chan spiffeid.ID, 1)
	go func() {
		defer close(seen)
		conn, err := lis.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		tc := conn.(*tls.Conn)
		if err := tc.Handshake(); err != nil {
			return
		}
		id, err := x509svid.IDFromCert(tc.ConnectionState().PeerCertificates[0])
		if err != nil {
			return
		}
		seen <- id
		_, _ = io.Copy(conn, conn)
	}()
	presented := dialTLS(t, lis.Addr(), clientTLS)
	clientSaw, err = x509svid.IDFromCert(presented)
	if err != nil {
		t.Fatal(err)
	}
	serverSaw, ok := <-seen
	if !ok {
		t.Fatal("server side of the handshake failed")
	}
	return serverSaw, clientSaw
}

// handshakeWith runs one mTLS exchange with the given configurations and
// returns the certificate the server presented.
func handshakeWith(t *testing.T, serverTLS, clientTLS *tls.Config) *x509.Certificate {
	t.Helper()
	lis, err := tls.Listen("tcp", "127.0.0.1:0", serverTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		conn, err := lis.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = io.Copy(conn, conn)
	}()
	defer func() { <-done }()
	return dialTLS(t, lis.Addr(), clientTLS)
}

// dialTLS completes a handshake, echoes a message, and returns the server's
// leaf certificate.
func dialTLS(t *testing.T, addr net.Addr, cfg *tls.Config) *x509.Certificate {
	t.Helper()
	conn, err := tls.Dial("tcp", addr.String(), cfg)
	if err != nil {
		t.Fatalf("mTLS dial: %v", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo over mTLS: %q, %v", buf, err)
	}
	return conn.ConnectionState().PeerCertificates[0]
}
