package ca

import (
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
)

// TestReviewIdentity covers verdicts a real API server gives only with
// authenticators envtest does not run (a non-ServiceAccount user, an API
// server that ignores audiences); tokenreview_test.go covers the rest
// against a real one.
func TestReviewIdentity(t *testing.T) {
	authenticated := func(username string, audiences ...string) authenticationv1.TokenReviewStatus {
		return authenticationv1.TokenReviewStatus{
			Authenticated: true,
			Audiences:     audiences,
			User:          authenticationv1.UserInfo{Username: username},
		}
	}
	tests := []struct {
		name   string
		status authenticationv1.TokenReviewStatus
		wantNS string
		wantSA string
		// wantErr holds every part of the caller's message; empty means
		// accepted.
		wantErr []string
	}{
		{
			name:   "service account token for weft-ca",
			status: authenticated("system:serviceaccount:shop:cart", "weft-ca"),
			wantNS: "shop", wantSA: "cart",
		},
		{
			name:    "not authenticated, with the API server's reason",
			status:  authenticationv1.TokenReviewStatus{Error: "[invalid bearer token, service account token has expired]"},
			wantErr: []string{"did not authenticate", "has expired"},
		},
		{
			name:    "not authenticated, no reason",
			status:  authenticationv1.TokenReviewStatus{},
			wantErr: []string{"did not authenticate", "no reason given"},
		},
		{
			name:    "API server ignores audiences",
			status:  authenticated("system:serviceaccount:shop:cart"),
			wantErr: []string{"for audiences []", `not "weft-ca"`},
		},
		{
			name:    "another audience",
			status:  authenticated("system:serviceaccount:shop:cart", "vault"),
			wantErr: []string{`["vault"]`, `not "weft-ca"`},
		},
		{
			name:    "a user, not a service account",
			status:  authenticated("alice@example.com", "weft-ca"),
			wantErr: []string{`"alice@example.com"`, "not to a service account"},
		},
		{
			name:    "service account prefix without a name",
			status:  authenticated("system:serviceaccount:shop", "weft-ca"),
			wantErr: []string{"not to a service account"},
		},
		{
			name:    "invalid namespace name",
			status:  authenticated("system:serviceaccount:Shop!:cart", "weft-ca"),
			wantErr: []string{"not to a service account"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ns, sa, err := reviewIdentity(&tc.status)
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("reviewIdentity: %v", err)
				}
				if ns != tc.wantNS || sa != tc.wantSA {
					t.Errorf("identity = %s/%s, want %s/%s", ns, sa, tc.wantNS, tc.wantSA)
				}
				return
			}
			if !IsUnauthenticated(err) {
				t.Fatalf("error = %v, want one matching ErrUnauthenticated", err)
			}
			for _, part := range tc.wantErr {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("error %q does not contain %q", err, part)
				}
			}
		})
	}
}
