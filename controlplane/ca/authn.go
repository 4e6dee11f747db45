package ca

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
)

// ErrUnauthenticated is matched (with errors.Is) by errors of an
// Authenticator that refuses a token.
var ErrUnauthenticated = errors.New("token not accepted")

// IsUnauthenticated reports whether err refuses a token.
func IsUnauthenticated(err error) bool { return errors.Is(err, ErrUnauthenticated) }

// Authenticator decides who presents a bearer token. It returns the
// Kubernetes namespace and service account the token stands for, or an
// error matching ErrUnauthenticated when the token is not accepted; any
// other error means it could not decide (the caller reports an internal
// error). A Kubernetes TokenReview authenticator implements it too.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (namespace, serviceAccount string, err error)
}

// TokenEntry is a bootstrap token known to the CA, stored as the hex SHA-256
// digest of the token (as in model.Workload.BootstrapTokenSHA256).
type TokenEntry struct {
	SHA256Hex      string
	Namespace      string
	ServiceAccount string
}

// TokenAuthenticator accepts the bootstrap tokens of standalone mode. It asks
// its registry function for the current entries on every call, so a reloaded
// configuration takes effect at once.
type TokenAuthenticator struct {
	entries func(context.Context) []TokenEntry
}

// NewTokenAuthenticator returns an authenticator over the entries that
// registry returns.
func NewTokenAuthenticator(registry func(context.Context) []TokenEntry) *TokenAuthenticator {
	return &TokenAuthenticator{entries: registry}
}

// Authenticate hashes the token and compares the digest with every entry's
// in constant time. A token that matches entries of two different identities
// is refused.
func (a *TokenAuthenticator) Authenticate(ctx context.Context, token string) (string, string, error) {
	if token == "" {
		return "", "", fmt.Errorf("%w: empty token", ErrUnauthenticated)
	}
	digest := sha256.Sum256([]byte(token))
	var match *TokenEntry
	ambiguous := false
	entries := a.entries(ctx)
	for i := range entries {
		e := &entries[i]
		want, err := hex.DecodeString(e.SHA256Hex)
		if err != nil || len(want) != sha256.Size {
			continue
		}
		// Every entry is compared, so the time taken does not tell which
		// one matched.
		if subtle.ConstantTimeCompare(digest[:], want) != 1 {
			continue
		}
		if match != nil && (match.Namespace != e.Namespace || match.ServiceAccount != e.ServiceAccount) {
			ambiguous = true
		}
		match = e
	}
	switch {
	case ambiguous:
		return "", "", fmt.Errorf("%w: token is registered for more than one identity", ErrUnauthenticated)
	case match == nil:
		return "", "", ErrUnauthenticated
	}
	return match.Namespace, match.ServiceAccount, nil
}
