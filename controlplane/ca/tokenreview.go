package ca

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/serviceaccount"
	"k8s.io/client-go/kubernetes"
)

// TokenAudience is the audience a workload's projected ServiceAccount token
// must be issued for to be accepted by the CA in Kubernetes mode. A token
// for any other audience (the API server's own included) is refused, so a
// token stolen from the CA's callers cannot be replayed against the API
// server and the other way round.
const TokenAudience = "weft-ca"

// tokenReviewTimeout bounds one TokenReview when the caller's context has no
// earlier deadline.
const tokenReviewTimeout = 10 * time.Second

// TokenReviewAuthenticator accepts projected ServiceAccount tokens (Kubernetes
// mode). It asks the API server with a TokenReview whether the token is
// valid for TokenAudience and takes the namespace and service account from
// the review's verdict, never from the token's own (unverified) claims. A
// token the API server does not authenticate, one bound to a deleted
// service account or pod, an expired one, or one for another audience is
// refused with an error matching ErrUnauthenticated.
//
// The control plane's ServiceAccount needs RBAC permission to create
// tokenreviews.authentication.k8s.io.
type TokenReviewAuthenticator struct {
	client kubernetes.Interface
}

// NewTokenReviewAuthenticator returns an authenticator that sends its
// TokenReviews through client.
func NewTokenReviewAuthenticator(client kubernetes.Interface) *TokenReviewAuthenticator {
	return &TokenReviewAuthenticator{client: client}
}

// Authenticate implements Authenticator. Errors that refuse the token match
// ErrUnauthenticated and say why, in the API server's words where it gave
// some; an error reaching the API server does not (the caller reports an
// internal error and may retry).
func (a *TokenReviewAuthenticator) Authenticate(ctx context.Context, token string) (string, string, error) {
	if token == "" {
		return "", "", fmt.Errorf("%w: empty token", ErrUnauthenticated)
	}
	ctx, cancel := context.WithTimeout(ctx, tokenReviewTimeout)
	defer cancel()
	review, err := a.client.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{
		Spec: authenticationv1.TokenReviewSpec{
			Token:     token,
			Audiences: []string{TokenAudience},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", "", fmt.Errorf("kubernetes TokenReview: %w", err)
	}
	return reviewIdentity(&review.Status)
}

// reviewIdentity turns a TokenReview's verdict into the namespace and
// service account the token stands for.
func reviewIdentity(st *authenticationv1.TokenReviewStatus) (string, string, error) {
	if !st.Authenticated {
		reason := strings.TrimSpace(st.Error)
		if reason == "" {
			reason = "no reason given"
		}
		return "", "", fmt.Errorf("%w: the Kubernetes API server did not authenticate the ServiceAccount token for audience %q: %s",
			ErrUnauthenticated, TokenAudience, reason)
	}
	// An API server that ignores the requested audiences returns none; the
	// token then is only known to be valid for the API server itself.
	if !slices.Contains(st.Audiences, TokenAudience) {
		return "", "", fmt.Errorf("%w: the Kubernetes API server authenticated the token for audiences %q, not %q",
			ErrUnauthenticated, st.Audiences, TokenAudience)
	}
	username := st.User.Username
	ns, sa, err := serviceaccount.SplitUsername(username)
	if err != nil {
		return "", "", fmt.Errorf("%w: the token belongs to %q, not to a service account (want %s)",
			ErrUnauthenticated, username, serviceaccount.MakeUsername("<namespace>", "<name>"))
	}
	return ns, sa, nil
}
