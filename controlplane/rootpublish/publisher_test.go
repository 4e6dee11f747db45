package rootpublish_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/weftmesh/weft/controlplane/kube/kubetest"
	"github.com/weftmesh/weft/controlplane/rootpublish"
)

func newRoot(t *testing.T, cn string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func pemOf(certs ...*x509.Certificate) string {
	var s string
	for _, c := range certs {
		s += string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
	}
	return s
}

// TestPublisherFollowsNamespacesAndRoots: against a real API server, a
// namespace labelled for injection gets the ConfigMap the injected proxies
// mount, an unlabelled one does not unless it is included (a Gateway's),
// a hand edit is put back, and a root rotation (two roots, then the new
// one alone) reaches the ConfigMaps.
func TestPublisherFollowsNamespacesAndRoots(t *testing.T) {
	if testing.Short() {
		t.Skip("envtest: skipped with -short")
	}
	env := kubetest.StartT(t, kubetest.Options{WithoutGatewayAPI: true})
	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	oldRoot, newRootCert := newRoot(t, "old"), newRoot(t, "new")
	var mu sync.Mutex
	roots := []*x509.Certificate{oldRoot}
	p := rootpublish.New(rootpublish.Config{Client: cs, Roots: func() []*x509.Certificate {
		mu.Lock()
		defer mu.Unlock()
		return roots
	}})
	ctx := t.Context()
	for name, labels := range map[string]map[string]string{
		"meshed":   {"weft.dev/inject": "enabled"},
		"unmeshed": nil,
		"gateways": nil,
	} {
		if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() { // t.Context ends first
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})

	published := func(ns string) string {
		cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, rootpublish.ConfigMapName, metav1.GetOptions{})
		if err != nil {
			return "<" + err.Error() + ">"
		}
		return cm.Data[rootpublish.Key]
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFor("the roots in the labelled namespace", func() bool { return published("meshed") == pemOf(oldRoot) })
	if got := published("unmeshed"); got[0] != '<' {
		t.Errorf("the unlabelled namespace got a ConfigMap: %q", got)
	}

	// A namespace included (a Gateway's) gets the roots without the label.
	p.Include("gateways")
	waitFor("the roots in an included namespace", func() bool { return published("gateways") == pemOf(oldRoot) })

	// Labelling a namespace later publishes there too.
	ns, err := cs.CoreV1().Namespaces().Get(ctx, "unmeshed", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ns.Labels = map[string]string{"weft.dev/inject": "enabled"}
	if _, err := cs.CoreV1().Namespaces().Update(ctx, ns, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor("the roots once the namespace is labelled", func() bool { return published("unmeshed") == pemOf(oldRoot) })

	// A hand edit is put back.
	cm, err := cs.CoreV1().ConfigMaps("meshed").Get(ctx, rootpublish.ConfigMapName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Data[rootpublish.Key] = "tampered"
	if _, err := cs.CoreV1().ConfigMaps("meshed").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	p.RootsChanged()
	waitFor("the hand edit repaired", func() bool { return published("meshed") == pemOf(oldRoot) })

	// Rotation: both roots, then the new one alone.
	for _, step := range [][]*x509.Certificate{{oldRoot, newRootCert}, {newRootCert}} {
		mu.Lock()
		roots = step
		mu.Unlock()
		p.RootsChanged()
		want := pemOf(step...)
		waitFor("the rotated roots", func() bool {
			return published("meshed") == want && published("unmeshed") == want && published("gateways") == want
		})
	}
}
