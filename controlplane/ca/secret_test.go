package ca_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"maps"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/weftmesh/weft/controlplane/ca"
)

func TestLoadOrCreateSecret(t *testing.T) {
	env := startEnvtest(t)
	env.createNamespace(t, ca.SecretNamespace)

	t.Run("first start creates, later starts load the same root", func(t *testing.T) {
		ref := ca.DefaultSecretRef()
		first, err := ca.LoadOrCreateSecret(t.Context(), env.client, ref, td, nil)
		if err != nil {
			t.Fatalf("first start: %v", err)
		}
		root := onlyRoot(t, first)
		if root.NotAfter.Sub(root.NotBefore) < ca.RootLifetime {
			t.Errorf("root lifetime = %s, want at least %s", root.NotAfter.Sub(root.NotBefore), ca.RootLifetime)
		}

		s, err := env.client.CoreV1().Secrets(ca.SecretNamespace).Get(t.Context(), ca.SecretName, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("the root's Secret %s: %v", ref, err)
		}
		if s.Type != corev1.SecretTypeTLS {
			t.Errorf("Secret type = %q, want %q", s.Type, corev1.SecretTypeTLS)
		}
		for _, key := range []string{"tls.crt", "ca.crt"} {
			if got := pemCert(t, s.Data[key]); !got.Equal(root) {
				t.Errorf("Secret's %s is not the root the Authority signs with", key)
			}
		}
		if block, _ := pem.Decode(s.Data["tls.key"]); block == nil || block.Type != "PRIVATE KEY" {
			t.Errorf("Secret's tls.key is not a PEM PRIVATE KEY")
		}

		second, err := ca.LoadOrCreateSecret(t.Context(), env.client, ref, td, nil)
		if err != nil {
			t.Fatalf("second start: %v", err)
		}
		if !onlyRoot(t, second).Equal(root) {
			t.Error("second start has another root than the first; want the one in the Secret")
		}
		// Both sign with the same key: a leaf of one verifies with the other's bundle.
		if _, err := signFor(t, second).Verify(x509.VerifyOptions{Roots: pool(first.Bundle())}); err != nil {
			t.Errorf("certificate from the second start does not verify with the first's root: %v", err)
		}
	})

	t.Run("replicas racing agree on one root", func(t *testing.T) {
		ref := ca.SecretRef{Namespace: ca.SecretNamespace, Name: "weft-ca-race"}
		// Each replica's first read of the Secret is held until every
		// replica has read it, so all see it missing and all try to
		// create it: exactly one create wins.
		const replicas = 3
		var read sync.WaitGroup
		read.Add(replicas)
		var creates createCodes
		authorities := make([]*ca.Authority, replicas)
		errs := make([]error, replicas)
		var wg sync.WaitGroup
		for i := range replicas {
			client := env.clientWith(t, holdFirstGet(t.Context(), &read, &creates))
			wg.Go(func() {
				authorities[i], errs[i] = ca.LoadOrCreateSecret(t.Context(), client, ref, td, nil)
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("replica %d: %v", i, err)
			}
		}
		// The race did happen: one create won, the others found the Secret.
		if got, want := creates.get(), map[int]int{http.StatusCreated: 1, http.StatusConflict: replicas - 1}; !maps.Equal(got, want) {
			t.Errorf("create responses by HTTP status = %v, want %v", got, want)
		}
		s, err := env.client.CoreV1().Secrets(ref.Namespace).Get(t.Context(), ref.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		stored := pemCert(t, s.Data["tls.crt"])
		for i, a := range authorities {
			if !onlyRoot(t, a).Equal(stored) {
				t.Errorf("replica %d signs with root %s, the Secret holds %s", i, onlyRoot(t, a).SerialNumber, stored.SerialNumber)
			}
		}
	})

	other := newAuthority(t, nil) // a valid root whose key is not the Secret's
	otherRoot := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: other.Bundle()[0].Raw})
	good := func(t *testing.T) map[string][]byte {
		t.Helper()
		ref := ca.SecretRef{Namespace: ca.SecretNamespace, Name: "weft-ca-source"}
		if _, err := ca.LoadOrCreateSecret(t.Context(), env.client, ref, td, nil); err != nil {
			t.Fatal(err)
		}
		s, err := env.client.CoreV1().Secrets(ref.Namespace).Get(t.Context(), ref.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return s.Data
	}(t)

	corrupt := []struct {
		name   string
		typ    corev1.SecretType
		change func(map[string][]byte)
		// wantErr holds every part the error must name.
		wantErr []string
	}{
		{
			name:    "certificate is not PEM",
			change:  func(d map[string][]byte) { d["tls.crt"] = []byte("garbage") },
			wantErr: []string{"key tls.crt", "no PEM certificate"},
		},
		{
			name:    "certificate DER is truncated",
			change:  func(d map[string][]byte) { d["tls.crt"] = truncatedCert(t, d["tls.crt"]) },
			wantErr: []string{"key tls.crt", "certificate 1"},
		},
		{
			name:    "key is missing",
			change:  func(d map[string][]byte) { delete(d, "tls.key") },
			wantErr: []string{"key tls.key", "missing or empty", "delete it"},
		},
		{
			name:    "key is not PEM",
			change:  func(d map[string][]byte) { d["tls.key"] = []byte("not a key") },
			wantErr: []string{"key tls.key", "no PEM data"},
		},
		{
			name: "key belongs to another certificate",
			change: func(d map[string][]byte) {
				d["tls.crt"] = otherRoot
				d["ca.crt"] = otherRoot
			},
			wantErr: []string{"key tls.key", "does not match"},
		},
		{
			name:    "wrong Secret type",
			typ:     corev1.SecretTypeDockerConfigJson,
			change:  func(d map[string][]byte) { d[".dockerconfigjson"] = []byte("{}") },
			wantErr: []string{"kubernetes.io/dockerconfigjson", "want \"kubernetes.io/tls\""},
		},
	}
	for i, tc := range corrupt {
		t.Run(tc.name, func(t *testing.T) {
			ref := ca.SecretRef{Namespace: ca.SecretNamespace, Name: fmt.Sprintf("weft-ca-corrupt-%d", i)}
			data := map[string][]byte{}
			for k, v := range good {
				data[k] = v
			}
			tc.change(data)
			typ := tc.typ
			if typ == "" {
				typ = corev1.SecretTypeOpaque // kubernetes.io/tls insists on both keys
			}
			_, err := env.client.CoreV1().Secrets(ref.Namespace).Create(t.Context(), &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Namespace: ref.Namespace, Name: ref.Name},
				Type:       typ,
				Data:       data,
			}, metav1.CreateOptions{})
			if err != nil {
				t.Fatalf("create corrupt Secret: %v", err)
			}

			_, err = ca.LoadOrCreateSecret(t.Context(), env.client, ref, td, nil)
			if err == nil {
				t.Fatal("LoadOrCreateSecret accepted a corrupt Secret")
			}
			for _, part := range append([]string{"CA Secret " + ref.String()}, tc.wantErr...) {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("error %q does not contain %q", err, part)
				}
			}
			after, err := env.client.CoreV1().Secrets(ref.Namespace).Get(t.Context(), ref.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range data {
				if string(after.Data[k]) != string(v) {
					t.Errorf("the corrupt Secret's %s was overwritten; it must be left for the operator", k)
				}
			}
		})
	}

	t.Run("cert-manager Secret with an intermediate", func(t *testing.T) {
		// As cert-manager's CA issuer writes it: tls.crt the intermediate
		// and its chain, ca.crt the root. Leaves chain to the root through
		// the intermediate, which is sent with every leaf.
		root, rootKey, err := ca.GenerateRoot(td, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		interKey := p256Key(t)
		interDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
			SerialNumber:          big.NewInt(2),
			Subject:               pkix.Name{CommonName: "weft intermediate"},
			NotBefore:             time.Now().Add(-time.Minute),
			NotAfter:              time.Now().Add(24 * time.Hour),
			BasicConstraintsValid: true,
			IsCA:                  true,
			KeyUsage:              x509.KeyUsageCertSign,
		}, root, interKey.Public(), rootKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, err := x509.MarshalPKCS8PrivateKey(interKey)
		if err != nil {
			t.Fatal(err)
		}
		rootPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Raw})
		ref := ca.SecretRef{Namespace: ca.SecretNamespace, Name: "weft-ca-cert-manager"}
		_, err = env.client.CoreV1().Secrets(ref.Namespace).Create(t.Context(), &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: ref.Namespace, Name: ref.Name},
			Type:       corev1.SecretTypeTLS,
			Data: map[string][]byte{
				"tls.crt": append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: interDER}), rootPEM...),
				"tls.key": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
				"ca.crt":  rootPEM,
			},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}

		a, err := ca.LoadOrCreateSecret(t.Context(), env.client, ref, td, nil)
		if err != nil {
			t.Fatalf("LoadOrCreateSecret: %v", err)
		}
		if !onlyRoot(t, a).Equal(root) {
			t.Error("trust bundle is not the Secret's ca.crt")
		}
		id := workloadID(t, "shop", "cart")
		chain, err := a.Sign(makeCSR(t, p256Key(t), &x509.CertificateRequest{URIs: uris(id)}), id, time.Hour)
		if err != nil {
			t.Fatalf("Sign: %v", err)
		}
		if len(chain) != 2 || !bytes.Equal(chain[1].Raw, interDER) {
			t.Fatalf("chain has %d certificates; want the leaf and the intermediate (the root is not sent)", len(chain))
		}
		inter := x509.NewCertPool()
		inter.AddCert(chain[1])
		if _, err := chain[0].Verify(x509.VerifyOptions{Roots: pool([]*x509.Certificate{root}), Intermediates: inter}); err != nil {
			t.Errorf("leaf does not verify through the intermediate to the root: %v", err)
		}
	})

	t.Run("namespace missing", func(t *testing.T) {
		ref := ca.SecretRef{Namespace: "no-such-namespace", Name: ca.SecretName}
		_, err := ca.LoadOrCreateSecret(t.Context(), env.client, ref, td, nil)
		if err == nil || !strings.Contains(err.Error(), `namespace "no-such-namespace" does not exist`) {
			t.Errorf("error = %v; want one saying the namespace does not exist", err)
		}
	})
}

// createCodes counts the HTTP status of create (POST) responses.
type createCodes struct {
	mu    sync.Mutex
	codes map[int]int
}

func (c *createCodes) add(code int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.codes == nil {
		c.codes = map[int]int{}
	}
	c.codes[code]++
}

func (c *createCodes) get() map[int]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.codes)
}

// holdFirstGet returns a transport wrapper whose first GET waits, once its
// response is in, until every other holder's first GET is in too. It counts
// the status of every create in creates.
func holdFirstGet(ctx context.Context, all *sync.WaitGroup, creates *createCodes) func(http.RoundTripper) http.RoundTripper {
	var once sync.Once
	return func(next http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			resp, err := next.RoundTrip(req)
			if req.Method == http.MethodPost && err == nil {
				creates.add(resp.StatusCode)
			}
			if req.Method == http.MethodGet {
				once.Do(func() {
					all.Done()
					waitGroupOrDone(ctx, all)
				})
			}
			return resp, err
		})
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

func waitGroupOrDone(ctx context.Context, wg *sync.WaitGroup) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	case <-time.After(30 * time.Second):
	}
}

func onlyRoot(t *testing.T, a *ca.Authority) *x509.Certificate {
	t.Helper()
	b := a.Bundle()
	if len(b) != 1 {
		t.Fatalf("bundle has %d roots, want 1", len(b))
	}
	return b[0]
}

func pemCert(t *testing.T, data []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("not a PEM certificate: %q", data)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func truncatedCert(t *testing.T, data []byte) []byte {
	t.Helper()
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatal("no PEM block")
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: block.Bytes[:len(block.Bytes)/2]})
}

func pool(certs []*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

// signFor issues a workload certificate from a.
func signFor(t *testing.T, a *ca.Authority) *x509.Certificate {
	t.Helper()
	id := workloadID(t, "shop", "cart")
	chain, err := a.Sign(makeCSR(t, p256Key(t), &x509.CertificateRequest{URIs: uris(id)}), id, time.Hour)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return chain[0]
}
