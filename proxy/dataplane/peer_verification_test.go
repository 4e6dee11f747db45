package dataplane_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/weftmesh/weft/proxy/dataplane"
)

// peerCase is a certificate a peer presents, and why the dataplane must
// refuse it, on either side of a connection.
type peerCase struct {
	name string
	// cert returns the certificate for role, the EKU the peer's role
	// needs (clientAuth for a client of an inbound listener, serverAuth
	// for an upstream server).
	cert func(t *testing.T, m *mesh, evil *testCA, role x509.ExtKeyUsage) *x509svid.SVID
	// narrow sends an inbound client to a listener that only admits the
	// frontend namespace, as a route expecting another workload does.
	narrow bool
	// reason is the handshake error reason on the inbound side; the
	// outbound side counts it with the prefix upstream_. Empty: accepted.
	reason string
	// cause is what the refusal's log line says.
	cause string
}

const narrowName = "inbound|9001"

var (
	otherWorkloadID = "spiffe://cluster.local/ns/default/sa/other"
	extraID         = "spiffe://cluster.local/ns/default/sa/extra"
)

// otherRole is the EKU of the opposite role.
func otherRole(role x509.ExtKeyUsage) x509.ExtKeyUsage {
	if role == x509.ExtKeyUsageClientAuth {
		return x509.ExtKeyUsageServerAuth
	}
	return x509.ExtKeyUsageClientAuth
}

// roleID is the SPIFFE ID the side under test expects of a peer in role.
func roleID(role x509.ExtKeyUsage) string {
	if role == x509.ExtKeyUsageClientAuth {
		return clientID
	}
	return serverID
}

var peerCases = []peerCase{
	{
		name: "valid mesh certificate (control)",
		cert: func(t *testing.T, m *mesh, _ *testCA, role x509.ExtKeyUsage) *x509svid.SVID {
			return m.ca.customSVID(t, nil, roleID(role))
		},
	},
	{
		name: "valid mesh certificate with only its role's EKU (control)",
		cert: func(t *testing.T, m *mesh, _ *testCA, role x509.ExtKeyUsage) *x509svid.SVID {
			return m.ca.customSVID(t, func(c *x509.Certificate) { c.ExtKeyUsage = []x509.ExtKeyUsage{role} }, roleID(role))
		},
	},
	{
		name: "foreign trust domain",
		cert: func(t *testing.T, _ *mesh, evil *testCA, _ x509.ExtKeyUsage) *x509svid.SVID {
			return evil.customSVID(t, nil, "spiffe://evil.example/ns/default/sa/echo")
		},
		reason: "bad_certificate",
		cause:  `trust domain "evil.example" is not the mesh's trust domain "cluster.local"`,
	},
	{
		name: "wrong EKU: the other role's only",
		cert: func(t *testing.T, m *mesh, _ *testCA, role x509.ExtKeyUsage) *x509svid.SVID {
			return m.ca.customSVID(t, func(c *x509.Certificate) { c.ExtKeyUsage = []x509.ExtKeyUsage{otherRole(role)} }, roleID(role))
		},
		reason: "bad_certificate",
		cause:  "certificate's extended key usage does not allow",
	},
	{
		name: "wrong EKU: code signing",
		cert: func(t *testing.T, m *mesh, _ *testCA, role x509.ExtKeyUsage) *x509svid.SVID {
			return m.ca.customSVID(t, func(c *x509.Certificate) { c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning} }, roleID(role))
		},
		reason: "bad_certificate",
		cause:  "certificate's extended key usage does not allow",
	},
	{
		name: "expired",
		cert: func(t *testing.T, m *mesh, _ *testCA, role x509.ExtKeyUsage) *x509svid.SVID {
			return m.ca.customSVID(t, func(c *x509.Certificate) {
				c.NotBefore, c.NotAfter = time.Now().Add(-50*time.Minute), time.Now().Add(-time.Minute)
			}, roleID(role))
		},
		reason: "bad_certificate",
		cause:  "certificate has expired or is not yet valid: current time",
	},
	{
		name: "not yet valid",
		cert: func(t *testing.T, m *mesh, _ *testCA, role x509.ExtKeyUsage) *x509svid.SVID {
			return m.ca.customSVID(t, func(c *x509.Certificate) {
				c.NotBefore, c.NotAfter = time.Now().Add(time.Minute), time.Now().Add(50*time.Minute)
			}, roleID(role))
		},
		reason: "bad_certificate",
		cause:  "is before",
	},
	{
		name: "two URI SANs",
		cert: func(t *testing.T, m *mesh, _ *testCA, role x509.ExtKeyUsage) *x509svid.SVID {
			return m.ca.customSVID(t, nil, roleID(role), extraID)
		},
		reason: "bad_certificate",
		cause:  "certificate contains more than one URI SAN",
	},
	{
		name: "valid mesh certificate of another workload",
		cert: func(t *testing.T, m *mesh, _ *testCA, _ x509.ExtKeyUsage) *x509svid.SVID {
			return m.ca.customSVID(t, nil, otherWorkloadID)
		},
		narrow: true,
		reason: "unauthorized",
		cause:  "peer " + otherWorkloadID + " is not authorized",
	},
}

// TestInboundPeerVerification connects clients presenting each case's
// certificate to a real inbound listener.
func TestInboundPeerVerification(t *testing.T) {
	logs := &logRecorder{}
	m := newLoggedMesh(t, logs)
	must(t, m.server.OnListeners(t.Context(), append(m.serverListeners(t),
		inboundListener(t, narrowName, "127.0.0.1:0", inboundName, "spiffe://cluster.local/ns/frontend/"))))
	evil := newCA(t, "evil.example")

	for _, tt := range peerCases {
		t.Run(tt.name, func(t *testing.T) {
			listener, addr := inboundName, listenerAddr(t, m.server, inboundName)
			if tt.narrow {
				listener, addr = narrowName, listenerAddr(t, m.server, narrowName)
			}
			svid := tt.cert(t, m, evil, x509.ExtKeyUsageClientAuth)
			reason := map[string]string{"listener": listener, "reason": tt.reason}
			before := metric(t, m.srvMetrics, "weft_proxy_tls_handshake_errors_total", reason)
			mark := logs.mark()

			c := tlsDial(t, m, addr, svid, tls.VersionTLS13)
			if tt.reason == "" {
				exchange(t, c, "!", "echo:hello!") // tlsDial wrote "hello"
				return
			}
			refused(t, c)
			eventually(t, func() string {
				if got := metric(t, m.srvMetrics, "weft_proxy_tls_handshake_errors_total", reason); got != before+1 {
					return fmt.Sprintf("%v handshake errors with reason %q, want %v", got, tt.reason, before+1)
				}
				if !logs.since(mark, "connection refused", tt.cause) {
					return fmt.Sprintf("no log line says why: want %q in the error", tt.cause)
				}
				return ""
			})
		})
	}
}

// TestOutboundPeerVerification points the client proxy's cluster at a real
// TLS server presenting each case's certificate.
func TestOutboundPeerVerification(t *testing.T) {
	logs := &logRecorder{}
	m := newLoggedMesh(t, logs)
	evil := newCA(t, "evil.example")

	for _, tt := range peerCases {
		t.Run(tt.name, func(t *testing.T) {
			svid := tt.cert(t, m, evil, x509.ExtKeyUsageServerAuth)
			srv := startTLSEcho(t, svid)
			must(t, m.client.OnEndpoints(t.Context(), []*endpointv3.ClusterLoadAssignment{assignment(t, outboundCluster, srv.addr())}))
			reason := map[string]string{"listener": outboundName, "reason": "upstream_" + tt.reason}
			failed := connections(outboundName, "outbound", "", "upstream_connect_failed")
			before := metric(t, m.clientMetrics, "weft_proxy_tls_handshake_errors_total", reason)
			beforeFailed := metric(t, m.clientMetrics, "weft_proxy_connections_total", failed)
			mark := logs.mark()

			got, _ := roundTrip(t, m.outbound, "hi")
			if tt.reason == "" {
				if got != "tls-echo:hi" {
					t.Fatalf("through a server with a valid certificate: got %q, want the echo", got)
				}
				return
			}
			if got != "" {
				t.Fatalf("got %q through a server whose certificate must be refused", got)
			}
			eventually(t, func() string {
				if got := metric(t, m.clientMetrics, "weft_proxy_tls_handshake_errors_total", reason); got != before+1 {
					return fmt.Sprintf("%v handshake errors with reason %q, want %v", got, "upstream_"+tt.reason, before+1)
				}
				if got := metric(t, m.clientMetrics, "weft_proxy_connections_total", failed); got != beforeFailed+1 {
					return fmt.Sprintf("%v upstream_connect_failed connections, want %v", got, beforeFailed+1)
				}
				if !logs.since(mark, "connection refused", tt.cause) {
					return fmt.Sprintf("no log line says why: want %q in the error", tt.cause)
				}
				return ""
			})
			if n := srv.served(); n != 0 {
				t.Errorf("the refused server exchanged data on %d connection(s)", n)
			}
		})
	}
}

// customSVID issues an SVID with the URI SANs ids (the first is its ID),
// after edit changes the template (nil: the mesh's usual certificate).
func (ca *testCA) customSVID(t *testing.T, edit func(*x509.Certificate), ids ...string) *x509svid.SVID {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, id := range ids {
		tmpl.URIs = append(tmpl.URIs, &url.URL{Scheme: "spiffe", Host: spiffeid.RequireFromString(id).TrustDomain().Name(), Path: spiffeid.RequireFromString(id).Path()})
	}
	if edit != nil {
		edit(tmpl)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &x509svid.SVID{ID: spiffeid.RequireFromString(ids[0]), Certificates: []*x509.Certificate{cert}, PrivateKey: key}
}

// newLoggedMesh is newMesh with both dataplanes logging to logs.
func newLoggedMesh(t *testing.T, logs *logRecorder) *mesh {
	t.Helper()
	ca := newCA(t, "cluster.local")
	m := &mesh{ca: ca, backend: startBackend(t, "echo")}
	logTo := func(c *dataplane.Config) { c.Logger = slog.New(logs.handler(t)) }
	m.server, m.srvMetrics = newDataplane(t, ca, serverID, logTo)
	m.client, m.clientMetrics = newDataplane(t, ca, clientID, logTo)
	ctx := t.Context()
	must(t, m.server.OnClusters(ctx, m.serverClusters(t)))
	must(t, m.server.OnListeners(ctx, m.serverListeners(t)))
	m.inbound = listenerAddr(t, m.server, inboundName)
	must(t, m.client.OnClusters(ctx, m.clientClusters(t)))
	must(t, m.client.OnEndpoints(ctx, m.clientEndpoints(t)))
	must(t, m.client.OnListeners(ctx, m.clientListeners(t)))
	m.outbound = listenerAddr(t, m.client, outboundName)
	return m
}

// tlsEcho is a TLS 1.3 server presenting a chosen certificate, as a peer
// proxy would, that answers "tls-echo:" and echoes.
type tlsEcho struct {
	ln        net.Listener
	wg        sync.WaitGroup
	mu        sync.Mutex
	exchanged int
}

func startTLSEcho(t *testing.T, svid *x509svid.SVID) *tlsEcho {
	t.Helper()
	raw := make([][]byte, 0, len(svid.Certificates))
	for _, c := range svid.Certificates {
		raw = append(raw, c.Raw)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{{Certificate: raw, PrivateKey: svid.PrivateKey, Leaf: svid.Certificates[0]}},
		ClientAuth:   tls.RequireAnyClientCert, // the test checks the client side only
	})
	if err != nil {
		t.Fatal(err)
	}
	s := &tlsEcho{ln: ln}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(func() {
		_ = ln.Close()
		s.wg.Wait()
	})
	return s
}

func (s *tlsEcho) addr() string { return s.ln.Addr().String() }

func (s *tlsEcho) served() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.exchanged
}

func (s *tlsEcho) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			if err := c.(*tls.Conn).HandshakeContext(context.Background()); err != nil {
				return
			}
			if _, err := c.Write([]byte("tls-echo:")); err != nil {
				return
			}
			if n, _ := io.Copy(c, c); n > 0 {
				s.mu.Lock()
				s.exchanged++
				s.mu.Unlock()
			}
		}()
	}
}

// logRecorder keeps the message and error of every log record.
type logRecorder struct {
	mu      sync.Mutex
	entries []logEntry
}

type logEntry struct{ msg, err string }

func (r *logRecorder) handler(t *testing.T) slog.Handler {
	return recordHandler{Handler: slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}), r: r}
}

// mark is the number of records so far.
func (r *logRecorder) mark() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.entries)
}

// since reports whether a record after mark has message msg and an error
// containing cause.
func (r *logRecorder) since(mark int, msg, cause string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.ContainsFunc(r.entries[mark:], func(e logEntry) bool {
		return e.msg == msg && strings.Contains(e.err, cause)
	})
}

type recordHandler struct {
	slog.Handler
	r *logRecorder
}

func (h recordHandler) Handle(ctx context.Context, rec slog.Record) error {
	e := logEntry{msg: rec.Message}
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == "error" {
			e.err = a.Value.String()
		}
		return true
	})
	h.r.mu.Lock()
	h.r.entries = append(h.r.entries, e)
	h.r.mu.Unlock()
	return h.Handler.Handle(ctx, rec)
}

func (h recordHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return recordHandler{Handler: h.Handler.WithAttrs(attrs), r: h.r}
}

func (h recordHandler) WithGroup(name string) slog.Handler {
	return recordHandler{Handler: h.Handler.WithGroup(name), r: h.r}
}
