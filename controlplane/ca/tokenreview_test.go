package ca_test

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	cav1 "github.com/weftmesh/weft/api/ca/v1"
	"github.com/weftmesh/weft/controlplane/ca"
)

// startServiceWith serves a CA Service that authenticates with authn over
// gRPC/TLS on loopback and returns its authority and a client.
func startServiceWith(t *testing.T, authn ca.Authenticator) (*ca.Authority, cav1.CertificateServiceClient) {
	t.Helper()
	return serveCA(t, authn, ca.ServiceConfig{}, nil)
}

func TestTokenReviewAuthenticator(t *testing.T) {
	env := startEnvtest(t)
	env.createNamespace(t, "shop")
	cart := env.createServiceAccount(t, "shop", "cart")
	env.createServiceAccount(t, "shop", "gone")
	goneToken := env.requestToken(t, "shop", "gone", ca.TokenAudience)
	if err := env.client.CoreV1().ServiceAccounts("shop").Delete(t.Context(), "gone", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete service account shop/gone: %v", err)
	}
	env.waitUntilRefused(t, goneToken)

	auth, client := startServiceWith(t, ca.NewTokenReviewAuthenticator(env.client))
	cartID := workloadID(t, "shop", "cart")
	now := time.Now()

	tests := []struct {
		name  string
		token string
		// wantMsg is empty when the token is accepted; otherwise the
		// caller gets Unauthenticated with a message holding every part.
		wantMsg []string
	}{
		{
			name:  "projected token for weft-ca",
			token: env.requestToken(t, "shop", "cart", ca.TokenAudience),
		},
		{
			// Proves that mintToken makes tokens the API server accepts,
			// so that the expired case below fails for its expiry alone.
			name:  "token signed with the API server's key, valid now",
			token: env.mintToken(t, cart, ca.TokenAudience, now.Add(-time.Minute), now.Add(10*time.Minute)),
		},
		{
			name:    "token for another audience",
			token:   env.requestToken(t, "shop", "cart", "vault"),
			wantMsg: []string{"did not authenticate", `"weft-ca"`, "audiences"},
		},
		{
			name:    "token for the API server's own audience",
			token:   env.requestToken(t, "shop", "cart"),
			wantMsg: []string{"did not authenticate", `"weft-ca"`, "audiences"},
		},
		{
			name:    "expired token",
			token:   env.mintToken(t, cart, ca.TokenAudience, now.Add(-2*time.Hour), now.Add(-time.Hour)),
			wantMsg: []string{"did not authenticate", "expired"},
		},
		{
			name:    "token of a deleted service account",
			token:   goneToken,
			wantMsg: []string{"did not authenticate", `"gone" not found`},
		},
		{
			name:    "not a JWT",
			token:   "not-a-token",
			wantMsg: []string{"did not authenticate"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := withToken(t.Context(), "Bearer "+tc.token)
			resp, err := client.CreateCertificate(ctx, &cav1.CreateCertificateRequest{Csr: csrDER(t, cartID)})
			if len(tc.wantMsg) == 0 {
				if err != nil {
					t.Fatalf("CreateCertificate: %v", err)
				}
				id, _, err := x509svid.ParseAndVerify(resp.CertChain, x509bundle.FromX509Authorities(td, auth.Bundle()))
				if err != nil {
					t.Fatalf("issued chain does not verify: %v", err)
				}
				if id != cartID {
					t.Errorf("issued ID = %s, want %s (from the token's namespace and service account)", id, cartID)
				}
				return
			}
			if err == nil {
				t.Fatal("CreateCertificate succeeded; want Unauthenticated")
			}
			st := status.Convert(err)
			t.Logf("the caller sees: %s: %s", st.Code(), st.Message())
			if st.Code() != codes.Unauthenticated {
				t.Fatalf("code = %s (%q), want Unauthenticated", st.Code(), st.Message())
			}
			for _, part := range tc.wantMsg {
				if !strings.Contains(st.Message(), part) {
					t.Errorf("message %q does not contain %q", st.Message(), part)
				}
			}
		})
	}

	t.Run("identity comes from the review, not the CSR", func(t *testing.T) {
		// A cart token asking for another workload's ID is refused by the
		// CSR check: the ID is derived from the token.
		ctx := withToken(t.Context(), "Bearer "+env.requestToken(t, "shop", "cart", ca.TokenAudience))
		_, err := client.CreateCertificate(ctx, &cav1.CreateCertificateRequest{Csr: csrDER(t, workloadID(t, "shop", "payments"))})
		if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), cartID.String()) {
			t.Errorf("got %s %q; want InvalidArgument naming %s", st.Code(), st.Message(), cartID)
		}
	})

	t.Run("API server unreachable", func(t *testing.T) {
		// The caller sees an internal error, not a verdict on its token.
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		cfg := rest.CopyConfig(env.cfg)
		cfg.Host = "https://" + lis.Addr().String()
		_ = lis.Close()
		down, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		_, client := startServiceWith(t, ca.NewTokenReviewAuthenticator(down))
		ctx := withToken(t.Context(), "Bearer "+env.requestToken(t, "shop", "cart", ca.TokenAudience))
		_, err = client.CreateCertificate(ctx, &cav1.CreateCertificateRequest{Csr: csrDER(t, cartID)})
		if st := status.Convert(err); st.Code() != codes.Internal || st.Message() != "authentication failed" {
			t.Errorf("got %s %q; want Internal \"authentication failed\"", st.Code(), st.Message())
		}
	})
}
