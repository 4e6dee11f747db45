package ca_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/weftmesh/weft/controlplane/ca"
)

// kubeEnv is a real kube-apiserver and etcd (envtest) whose ServiceAccount
// tokens are signed with a key the test holds, so that it can mint tokens
// the API server accepts but TokenRequest will not issue (expired ones).
type kubeEnv struct {
	cfg    *rest.Config
	client kubernetes.Interface
	saKey  *ecdsa.PrivateKey
}

// startEnvtest starts kube-apiserver and etcd from KUBEBUILDER_ASSETS and
// stops them when the test ends. It skips under -short and fails when the
// binaries are not there, saying how to get them.
func startEnvtest(t *testing.T) *kubeEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("skipping a test against a real kube-apiserver (envtest) under -short")
	}
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Fatal("KUBEBUILDER_ASSETS is unset: this test runs a real kube-apiserver and etcd. " +
			"Run `make test`, or build them with hack/envtest.sh and run " +
			"KUBEBUILDER_ASSETS=$(hack/envtest.sh) go test ./controlplane/ca/")
	}

	// The ServiceAccount signing key is the test's, not envtest's.
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	// kube-apiserver reads SEC 1 ("EC PRIVATE KEY") to sign and a public
	// key to verify.
	keyDER, err := x509.MarshalECPrivateKey(saKey)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keyFile, pubFile := filepath.Join(dir, "sa.key"), filepath.Join(dir, "sa.pub")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o600); err != nil {
		t.Fatal(err)
	}

	useExisting := false
	env := &envtest.Environment{
		UseExistingCluster:       &useExisting,
		ControlPlaneStartTimeout: 2 * time.Minute,
	}
	apiserver := env.ControlPlane.GetAPIServer()
	apiserver.Configure().
		// Advertise loopback, never this machine's other addresses; no
		// kubernetes Service endpoints are kept for it.
		Set("advertise-address", "127.0.0.1").
		Set("endpoint-reconciler-type", "none").
		Set("service-account-key-file", pubFile).
		Set("service-account-signing-key-file", keyFile)
	// The API server's log is shown only when it does not start.
	var apiserverLog lockedBuffer
	apiserver.Out, apiserver.Err = &apiserverLog, &apiserverLog
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("start envtest (kube-apiserver and etcd from %s): %v\nkube-apiserver's output:\n%s",
			os.Getenv("KUBEBUILDER_ASSETS"), err, apiserverLog.tail(4000))
	}
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		httpClient.CloseIdleConnections()
		if err := env.Stop(); err != nil {
			t.Errorf("stop envtest: %v", err)
		}
	})
	client, err := kubernetes.NewForConfigAndClient(cfg, httpClient)
	if err != nil {
		t.Fatal(err)
	}
	return &kubeEnv{cfg: cfg, client: client, saKey: saKey}
}

// lockedBuffer collects a process's output.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// tail returns the last n bytes written.
func (b *lockedBuffer) tail(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.buf.Bytes()
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return string(out)
}

// clientWith returns a client whose transport is wrapped by wrap.
func (e *kubeEnv) clientWith(t *testing.T, wrap func(http.RoundTripper) http.RoundTripper) kubernetes.Interface {
	t.Helper()
	cfg := rest.CopyConfig(e.cfg)
	cfg.Wrap(wrap)
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(httpClient.CloseIdleConnections)
	c, err := kubernetes.NewForConfigAndClient(cfg, httpClient)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (e *kubeEnv) createNamespace(t *testing.T, name string) {
	t.Helper()
	_, err := e.client.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
}

func (e *kubeEnv) createServiceAccount(t *testing.T, ns, name string) *corev1.ServiceAccount {
	t.Helper()
	sa, err := e.client.CoreV1().ServiceAccounts(ns).Create(t.Context(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create service account %s/%s: %v", ns, name, err)
	}
	return sa
}

// requestToken asks the API server for a projected token of the service
// account, as the kubelet does for a projected volume. No audiences means
// the API server's own.
func (e *kubeEnv) requestToken(t *testing.T, ns, sa string, audiences ...string) string {
	t.Helper()
	expiry := int64((10 * time.Minute).Seconds()) // TokenRequest's minimum
	tr, err := e.client.CoreV1().ServiceAccounts(ns).CreateToken(t.Context(), sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{Audiences: audiences, ExpirationSeconds: &expiry},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("TokenRequest for %s/%s: %v", ns, sa, err)
	}
	return tr.Status.Token
}

// waitUntilRefused waits until the API server no longer authenticates token
// for TokenAudience: it looks service accounts up in an informer cache, which
// learns of a deletion a moment after the delete returns.
func (e *kubeEnv) waitUntilRefused(t *testing.T, token string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		tr, err := e.client.AuthenticationV1().TokenReviews().Create(t.Context(), &authenticationv1.TokenReview{
			Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: []string{ca.TokenAudience}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("TokenReview: %v", err)
		}
		if !tr.Status.Authenticated {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the API server still authenticates the token 30s after its service account was deleted")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// mintToken signs a ServiceAccount token for sa with the API server's
// signing key, with the issuer the API server uses (read from a token it
// issued) and the given validity. It is what TokenRequest would return,
// except that its lifetime may lie in the past.
func (e *kubeEnv) mintToken(t *testing.T, sa *corev1.ServiceAccount, audience string, notBefore, expires time.Time) string {
	t.Helper()
	issuer := tokenClaims(t, e.requestToken(t, sa.Namespace, sa.Name))["iss"]
	pubDER, err := x509.MarshalPKIXPublicKey(&e.saKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	kid := sha256.Sum256(pubDER) // how kube-apiserver names its keys
	header := map[string]any{"alg": "ES256", "typ": "JWT", "kid": base64.RawURLEncoding.EncodeToString(kid[:])}
	claims := map[string]any{
		"iss": issuer,
		"sub": "system:serviceaccount:" + sa.Namespace + ":" + sa.Name,
		"aud": []string{audience},
		"iat": notBefore.Unix(),
		"nbf": notBefore.Unix(),
		"exp": expires.Unix(),
		"kubernetes.io": map[string]any{
			"namespace":      sa.Namespace,
			"serviceaccount": map[string]any{"name": sa.Name, "uid": string(sa.UID)},
		},
	}
	signingInput := jwtPart(t, header) + "." + jwtPart(t, claims)
	digest := sha256.Sum256([]byte(signingInput))
	r, s, err := ecdsa.Sign(rand.Reader, e.saKey, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signingInput + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func jwtPart(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// tokenClaims decodes a JWT's payload without verifying it (test use only).
func tokenClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts, want 3", len(parts))
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("decode token payload: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatalf("parse token payload: %v", err)
	}
	return claims
}
