package ca_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"sync"
	"testing"

	"github.com/weftmesh/weft/controlplane/ca"
)

func digest(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func TestTokenAuthenticator(t *testing.T) {
	entries := []ca.TokenEntry{
		{SHA256Hex: "not hex", Namespace: "bad", ServiceAccount: "bad"},
		{SHA256Hex: digest("cart-token"), Namespace: "shop", ServiceAccount: "cart"},
		{SHA256Hex: strings.ToUpper(digest("upper-token")), Namespace: "shop", ServiceAccount: "upper"},
		{SHA256Hex: digest("dup-token"), Namespace: "shop", ServiceAccount: "dup"},
		{SHA256Hex: digest("dup-token"), Namespace: "shop", ServiceAccount: "dup"},
		{SHA256Hex: digest("shared-token"), Namespace: "shop", ServiceAccount: "one"},
		{SHA256Hex: digest("shared-token"), Namespace: "shop", ServiceAccount: "two"},
	}
	authn := ca.NewTokenAuthenticator(func(context.Context) []ca.TokenEntry { return entries })

	tests := []struct {
		token   string
		wantNS  string
		wantSA  string
		wantErr string
	}{
		{token: "cart-token", wantNS: "shop", wantSA: "cart"},
		{token: "upper-token", wantNS: "shop", wantSA: "upper"},
		{token: "dup-token", wantNS: "shop", wantSA: "dup"},
		{token: "shared-token", wantErr: "token is registered for more than one identity"},
		{token: "wrong-token", wantErr: "token not accepted"},
		{token: "", wantErr: "empty token"},
		{token: digest("cart-token"), wantErr: "token not accepted"}, // the digest is not the token
	}
	for _, tt := range tests {
		t.Run(tt.token, func(t *testing.T) {
			ns, sa, err := authn.Authenticate(t.Context(), tt.token)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("Authenticate = %s/%s, want error %q", ns, sa, tt.wantErr)
				}
				if !ca.IsUnauthenticated(err) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %q: want ErrUnauthenticated containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Authenticate: %v", err)
			}
			if ns != tt.wantNS || sa != tt.wantSA {
				t.Errorf("Authenticate = %s/%s, want %s/%s", ns, sa, tt.wantNS, tt.wantSA)
			}
		})
	}
}

func TestTokenAuthenticatorSeesReload(t *testing.T) {
	var mu sync.Mutex
	entries := []ca.TokenEntry{{SHA256Hex: digest("old"), Namespace: "ns", ServiceAccount: "sa"}}
	authn := ca.NewTokenAuthenticator(func(context.Context) []ca.TokenEntry {
		mu.Lock()
		defer mu.Unlock()
		return entries
	})
	if _, _, err := authn.Authenticate(t.Context(), "old"); err != nil {
		t.Fatalf("old token before reload: %v", err)
	}
	mu.Lock()
	entries = []ca.TokenEntry{{SHA256Hex: digest("new"), Namespace: "ns", ServiceAccount: "sa"}}
	mu.Unlock()
	if _, _, err := authn.Authenticate(t.Context(), "old"); err == nil {
		t.Error("old token still accepted after reload")
	}
	if _, _, err := authn.Authenticate(t.Context(), "new"); err != nil {
		t.Errorf("new token after reload: %v", err)
	}
}
