package webhook

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/weftmesh/weft/controlplane/ca"
	"github.com/weftmesh/weft/injector"
)

var testTD = spiffeid.RequireTrustDomainFromString("cluster.local")

func newAuthority(t *testing.T) *ca.Authority {
	t.Helper()
	root, key, err := ca.GenerateRoot(testTD, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	a, err := ca.New(testTD, root, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// startServer runs a Server against the shared API server on loopback,
// named after t, until t ends.
func startServer(t *testing.T, kc kubernetes.Interface, a *ca.Authority) (*Server, Config) {
	t.Helper()
	name := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	cfg := Default()
	cfg.Address = "127.0.0.1:0"
	cfg.DNSNames = []string{"localhost"}
	cfg.ConfigurationName = name
	cfg.ConfigMapNamespace, cfg.ConfigMapName = "default", name
	cfg.BundleCheckInterval = 100 * time.Millisecond
	s := New(cfg, a, kc, slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err := s.Listen(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return s, cfg
}

// eventually calls check until it returns "", failing t with its last
// answer after a generous deadline.
func eventually(t *testing.T, check func() string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		msg := check()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(msg)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestServerKeepsTheCABundle(t *testing.T) {
	kc := startKube(t)
	a := newAuthority(t)
	s, cfg := startServer(t, kc, a)
	api := kc.AdmissionregistrationV1().MutatingWebhookConfigurations()

	// Created after the server started, as on a first install; with a
	// second webhook, which gets the bundle too, and a URL instead of the
	// Service.
	mwc := installedConfiguration(t)
	mwc.Name = cfg.ConfigurationName
	url := "https://localhost:" + portOf(t, s.Addr()) + Path
	mwc.Webhooks[0].ClientConfig = admissionregistrationv1.WebhookClientConfig{URL: &url}
	second := *mwc.Webhooks[0].DeepCopy()
	second.Name = "second.weft.dev"
	// Selects nothing, so that no other test's pods reach this server.
	second.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"weft.dev/test": t.Name()}}
	mwc.Webhooks[0].NamespaceSelector = second.NamespaceSelector
	mwc.Webhooks = append(mwc.Webhooks, second)
	created, err := api.Create(t.Context(), mwc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = api.Delete(context.WithoutCancel(t.Context()), mwc.Name, metav1.DeleteOptions{}) })

	// waitBundle waits for every webhook to carry the CA's roots and
	// nothing else to have changed, and returns the bundle.
	waitBundle := func(what string) []byte {
		t.Helper()
		want := bundlePEM(a.Bundle())
		var got *admissionregistrationv1.MutatingWebhookConfiguration
		eventually(t, func() string {
			if got, err = api.Get(t.Context(), mwc.Name, metav1.GetOptions{}); err != nil {
				return err.Error()
			}
			for _, w := range got.Webhooks {
				if string(w.ClientConfig.CABundle) != string(want) {
					return what + ": webhook " + w.Name + " has caBundle\n" + string(w.ClientConfig.CABundle) + "\nwant\n" + string(want)
				}
			}
			return ""
		})
		stripped := got.DeepCopy()
		for i := range stripped.Webhooks {
			stripped.Webhooks[i].ClientConfig.CABundle = nil
		}
		if !equality.Semantic.DeepEqual(stripped.Webhooks, created.Webhooks) || !equality.Semantic.DeepEqual(stripped.Labels, created.Labels) {
			t.Fatalf("%s: the configuration changed beyond caBundle:\n%+v\nwas\n%+v", what, stripped.Webhooks, created.Webhooks)
		}
		return want
	}
	bundle := waitBundle("first write")
	checkServes(t, s.Addr(), bundle, a.Bundle()[0])

	// Re-applied without caBundle: written again, without waiting for the
	// next check.
	cur, err := api.Get(t.Context(), mwc.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cur.Webhooks[1].ClientConfig.CABundle = nil
	if _, err := api.Update(t.Context(), cur, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitBundle("after the caBundle was erased")

	// A root rotation: the new root signs, both are trusted; the bundle
	// carries both and the serving certificate chains to the new one.
	oldRoot := a.Bundle()[0]
	newRoot, newKey, err := ca.GenerateRoot(testTD, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if changed, err := a.Update(ca.Material{Cert: newRoot, Key: newKey, Roots: []*x509.Certificate{newRoot, oldRoot}}); err != nil || !changed {
		t.Fatalf("rotate the root: changed %v, %v", changed, err)
	}
	bundle = waitBundle("after the root rotation")
	if n := strings.Count(string(bundle), "BEGIN CERTIFICATE"); n != 2 {
		t.Fatalf("the bundle after the rotation holds %d certificates, want 2", n)
	}
	checkServes(t, s.Addr(), bundle, newRoot)
	if got := counter(t, s.metrics.bundles.WithLabelValues(updatePatched)); got < 3 {
		t.Errorf("weft_injector_cabundle_updates_total{result=patched} = %v, want at least 3", got)
	}
}

func portOf(t *testing.T, a net.Addr) string {
	t.Helper()
	_, port, err := net.SplitHostPort(a.String())
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// checkServes connects to the webhook as the API server does, trusting
// bundle and checking the name localhost, and checks that its certificate
// was signed by signer.
func checkServes(t *testing.T, addr net.Addr, bundle []byte, signer *x509.Certificate) {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(bundle) {
		t.Fatal("the caBundle holds no certificate")
	}
	d := tls.Dialer{Config: &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}}
	conn, err := d.DialContext(t.Context(), "tcp", addr.String())
	if err != nil {
		t.Fatalf("TLS to the webhook with its caBundle: %v", err)
	}
	defer conn.Close()
	leaf := conn.(*tls.Conn).ConnectionState().PeerCertificates[0]
	if err := leaf.CheckSignatureFrom(signer); err != nil {
		t.Fatalf("the webhook's certificate was not signed by the expected root: %v", err)
	}
}

func TestServerFollowsTheConfigMap(t *testing.T) {
	kc := startKube(t)
	s, cfg := startServer(t, kc, newAuthority(t))
	cms := kc.CoreV1().ConfigMaps(cfg.ConfigMapNamespace)
	image := func(want string) func() string {
		return func() string {
			if got := s.Config().ProxyImage; got != want {
				return "proxy image " + got + ", want " + want
			}
			return ""
		}
	}
	eventually(t, image(injector.DefaultConfig().ProxyImage))

	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: cfg.ConfigMapNamespace, Name: cfg.ConfigMapName},
		Data:       map[string]string{ConfigMapKey: "proxyImage: example.com/weft-proxy:1\n"},
	}
	cm, err := cms.Create(t.Context(), cm, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, image("example.com/weft-proxy:1"))

	// An invalid configuration is refused; the last good one stays.
	for i, bad := range []map[string]string{
		{ConfigMapKey: "proxyImage: example.com/weft-proxy:2\nnoSuchField: 1\n"},
		{"config.yml": "proxyImage: example.com/weft-proxy:3\n"},
	} {
		cm.Data = bad
		if cm, err = cms.Update(t.Context(), cm, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, func() string {
			if got := counter(t, s.metrics.loads.WithLabelValues(loadInvalid)); got != float64(i+1) {
				return "the invalid configuration was not refused"
			}
			return ""
		})
		if got := s.Config().ProxyImage; got != "example.com/weft-proxy:1" {
			t.Fatalf("after an invalid configuration the proxy image is %s, want the last good one", got)
		}
	}

	if err := cms.Delete(t.Context(), cm.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, image(injector.DefaultConfig().ProxyImage))
}
