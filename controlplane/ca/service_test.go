package ca_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	cav1 "github.com/weftmesh/weft/api/ca/v1"
	"github.com/weftmesh/weft/controlplane/ca"
	"github.com/weftmesh/weft/meshid"
)

// caServer is a CA Service served over gRPC/TLS on loopback.
type caServer struct {
	auth   *ca.Authority
	reg    *prometheus.Registry
	client cav1.CertificateServiceClient
}

func startCAServer(t *testing.T, cfg ca.ServiceConfig, entries []ca.TokenEntry) *caServer {
	t.Helper()
	reg := prometheus.NewRegistry()
	authn := ca.NewTokenAuthenticator(func(context.Context) []ca.TokenEntry { return entries })
	auth, client := serveCA(t, authn, cfg, reg)
	return &caServer{auth: auth, reg: reg, client: client}
}

// serveCA serves a CA Service with a fresh authority over gRPC/TLS on
// loopback and returns the authority and a client that checks the
// control plane's identity. reg may be nil.
func serveCA(t *testing.T, authn ca.Authenticator, cfg ca.ServiceConfig, reg prometheus.Registerer) (*ca.Authority, cav1.CertificateServiceClient) {
	t.Helper()
	auth := newAuthority(t, nil)
	svc, err := ca.NewService(auth, authn, cfg, nil, reg)
	if err != nil {
		t.Fatalf("NewService: %v", err)
	}
	src := auth.NewServingCertSource([]string{"localhost"}, time.Hour)
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{
		GetCertificate: src.GetCertificate,
		MinVersion:     tls.VersionTLS13,
	})))
	cav1.RegisterCertificateServiceServer(srv, svc)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	t.Cleanup(func() {
		srv.Stop()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(credentials.NewTLS(
		tlsconfig.TLSClientConfig(x509bundle.FromX509Authorities(td, auth.Bundle()), tlsconfig.AuthorizeID(meshid.ControlPlane(td))),
	)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return auth, cav1.NewCertificateServiceClient(conn)
}

func csrDER(t *testing.T, ids ...spiffeid.ID) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{URIs: uris(ids...)}, p256Key(t))
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func withToken(ctx context.Context, authorization string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", authorization)
}

func TestServiceIssues(t *testing.T) {
	s := startCAServer(t, ca.ServiceConfig{}, []ca.TokenEntry{
		{SHA256Hex: digest("cart-token"), Namespace: "shop", ServiceAccount: "cart"},
	})
	id := workloadID(t, "shop", "cart")
	ctx := withToken(t.Context(), "Bearer cart-token")

	resp, err := s.client.CreateCertificate(ctx, &cav1.CreateCertificateRequest{Csr: csrDER(t, id)})
	if err != nil {
		t.Fatalf("CreateCertificate: %v", err)
	}
	if len(resp.TrustBundle) != 1 || !bytes.Equal(resp.TrustBundle[0], s.auth.Bundle()[0].Raw) {
		t.Error("trust bundle is not the authority's root")
	}
	gotID, _, err := x509svid.ParseAndVerify(resp.CertChain, x509bundle.FromX509Authorities(td, s.auth.Bundle()))
	if err != nil {
		t.Fatalf("chain does not verify: %v", err)
	}
	if gotID != id {
		t.Errorf("issued ID = %s, want %s", gotID, id)
	}
	leaf, err := x509.ParseCertificate(resp.CertChain[0])
	if err != nil {
		t.Fatal(err)
	}
	if lifetime := leaf.NotAfter.Sub(leaf.NotBefore); lifetime != 24*time.Hour+time.Minute {
		t.Errorf("default lifetime = %s, want 24h (+1m backdating)", lifetime)
	}

	resp, err = s.client.CreateCertificate(ctx, &cav1.CreateCertificateRequest{Csr: csrDER(t, id), Ttl: durationpb.New(time.Hour)})
	if err != nil {
		t.Fatalf("CreateCertificate with TTL: %v", err)
	}
	leaf, err = x509.ParseCertificate(resp.CertChain[0])
	if err != nil {
		t.Fatal(err)
	}
	if lifetime := leaf.NotAfter.Sub(leaf.NotBefore); lifetime != time.Hour+time.Minute {
		t.Errorf("requested lifetime = %s, want 1h (+1m backdating)", lifetime)
	}
	if got := counter(t, s.reg, "issued", "ok"); got != 2 {
		t.Errorf("issued counter = %v, want 2", got)
	}
}

func TestServiceRejects(t *testing.T) {
	s := startCAServer(t, ca.ServiceConfig{MaxTTL: 48 * time.Hour}, []ca.TokenEntry{
		{SHA256Hex: digest("cart-token"), Namespace: "shop", ServiceAccount: "cart"},
		{SHA256Hex: digest("admin-token"), Namespace: "shop", ServiceAccount: "admin"},
	})
	cart := workloadID(t, "shop", "cart")
	admin := workloadID(t, "shop", "admin")

	tests := []struct {
		name          string
		authorization string // empty: no metadata
		req           *cav1.CreateCertificateRequest
		code          codes.Code
		want          string
		reason        string
	}{
		{
			name:   "no token",
			req:    &cav1.CreateCertificateRequest{Csr: csrDER(t, cart)},
			code:   codes.Unauthenticated,
			want:   "missing authorization metadata",
			reason: "unauthenticated",
		},
		{
			name:          "wrong token",
			authorization: "Bearer not-a-token",
			req:           &cav1.CreateCertificateRequest{Csr: csrDER(t, cart)},
			code:          codes.Unauthenticated,
			want:          "token not accepted",
			reason:        "unauthenticated",
		},
		{
			name:          "not a bearer token",
			authorization: "Basic cart-token",
			req:           &cav1.CreateCertificateRequest{Csr: csrDER(t, cart)},
			code:          codes.Unauthenticated,
			want:          `not of the form "Bearer <token>"`,
			reason:        "unauthenticated",
		},
		{
			name:          "CSR claims another identity",
			authorization: "Bearer cart-token",
			req:           &cav1.CreateCertificateRequest{Csr: csrDER(t, admin)},
			code:          codes.InvalidArgument,
			want:          `CSR asks for "spiffe://cluster.test/ns/shop/sa/admin" but the caller is spiffe://cluster.test/ns/shop/sa/cart`,
			reason:        string(ca.ReasonWrongIdentity),
		},
		{
			name:          "garbage CSR",
			authorization: "Bearer cart-token",
			req:           &cav1.CreateCertificateRequest{Csr: []byte("garbage")},
			code:          codes.InvalidArgument,
			want:          "CSR is not DER PKCS#10",
			reason:        string(ca.ReasonMalformed),
		},
		{
			name:          "no CSR",
			authorization: "Bearer cart-token",
			req:           &cav1.CreateCertificateRequest{},
			code:          codes.InvalidArgument,
			want:          "no CSR in the request",
			reason:        string(ca.ReasonMalformed),
		},
		{
			name:          "TTL above the service maximum",
			authorization: "Bearer cart-token",
			req:           &cav1.CreateCertificateRequest{Csr: csrDER(t, cart), Ttl: durationpb.New(49 * time.Hour)},
			code:          codes.InvalidArgument,
			want:          "TTL 49h0m0s exceeds the maximum of 48h0m0s",
			reason:        string(ca.ReasonBadTTL),
		},
		{
			name:          "negative TTL",
			authorization: "Bearer cart-token",
			req:           &cav1.CreateCertificateRequest{Csr: csrDER(t, cart), Ttl: durationpb.New(-time.Second)},
			code:          codes.InvalidArgument,
			want:          "TTL -1s is not positive",
			reason:        string(ca.ReasonBadTTL),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			if tt.authorization != "" {
				ctx = withToken(ctx, tt.authorization)
			}
			before := counter(t, s.reg, "rejected", tt.reason)
			resp, err := s.client.CreateCertificate(ctx, tt.req)
			if err == nil {
				t.Fatalf("CreateCertificate issued %d certificate(s), want %s", len(resp.CertChain), tt.code)
			}
			st := status.Convert(err)
			if st.Code() != tt.code {
				t.Errorf("code = %s, want %s (%s)", st.Code(), tt.code, st.Message())
			}
			if !strings.Contains(st.Message(), tt.want) {
				t.Errorf("message %q does not contain %q", st.Message(), tt.want)
			}
			if got := counter(t, s.reg, "rejected", tt.reason); got != before+1 {
				t.Errorf("rejected{reason=%q} went from %v to %v, want +1", tt.reason, before, got)
			}
		})
	}
	if got := counter(t, s.reg, "issued", "ok"); got != 0 {
		t.Errorf("issued counter = %v, want 0", got)
	}
}

// TestServiceIDFromToken checks that the identity comes from the token: the
// same CSR is signed for its holder and refused to another caller.
func TestServiceIDFromToken(t *testing.T) {
	s := startCAServer(t, ca.ServiceConfig{}, []ca.TokenEntry{
		{SHA256Hex: digest("cart-token"), Namespace: "shop", ServiceAccount: "cart"},
		{SHA256Hex: digest("admin-token"), Namespace: "shop", ServiceAccount: "admin"},
	})
	adminCSR := csrDER(t, workloadID(t, "shop", "admin"))

	if _, err := s.client.CreateCertificate(withToken(t.Context(), "Bearer cart-token"), &cav1.CreateCertificateRequest{Csr: adminCSR}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("cart's token with admin's CSR: %v, want InvalidArgument", err)
	}
	resp, err := s.client.CreateCertificate(withToken(t.Context(), "Bearer admin-token"), &cav1.CreateCertificateRequest{Csr: adminCSR})
	if err != nil {
		t.Fatalf("admin's token with admin's CSR: %v", err)
	}
	id, _, err := x509svid.ParseAndVerify(resp.CertChain, x509bundle.FromX509Authorities(td, s.auth.Bundle()))
	if err != nil || id != workloadID(t, "shop", "admin") {
		t.Errorf("issued ID = %v (%v), want spiffe://cluster.test/ns/shop/sa/admin", id, err)
	}
}

func TestServiceConfigValidate(t *testing.T) {
	tests := []struct {
		cfg  ca.ServiceConfig
		want string
	}{
		{ca.ServiceConfig{MaxTTL: ca.MaxTTL + 1}, "MaxTTL 168h0m0.000000001s: must be in (0, 168h0m0s]"},
		{ca.ServiceConfig{MaxTTL: -1}, "MaxTTL -1ns"},
		{ca.ServiceConfig{DefaultTTL: 2 * time.Hour, MaxTTL: time.Hour}, "DefaultTTL 2h0m0s: must be in (0, MaxTTL=1h0m0s]"},
	}
	auth := newAuthority(t, nil)
	authn := ca.NewTokenAuthenticator(func(context.Context) []ca.TokenEntry { return nil })
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			_, err := ca.NewService(auth, authn, tt.cfg, nil, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewService error = %v, want one containing %q", err, tt.want)
			}
		})
	}
	reg := prometheus.NewRegistry()
	if _, err := ca.NewService(auth, authn, ca.ServiceConfig{}, nil, reg); err != nil {
		t.Fatal(err)
	}
	if _, err := ca.NewService(auth, authn, ca.ServiceConfig{}, nil, reg); err == nil {
		t.Error("second NewService on the same registry succeeded, want a duplicate-registration error")
	}
}

func counter(t *testing.T, reg *prometheus.Registry, result, reason string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "weft_ca_certificates_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["result"] == result && labels["reason"] == reason {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}
