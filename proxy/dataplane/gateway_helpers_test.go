package dataplane_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	proxyprotocolv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/proxy_protocol/v3"
	tlsinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// webCA issues the certificates of external host names, as a public CA
// would for a gateway's Secrets.
type webCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newWebCA(t *testing.T) *webCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test web CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &webCA{cert: cert, key: key, pool: pool}
}

// issue returns the PEM chain and key of a server certificate for names,
// with serial as its serial number (to tell versions apart).
func (ca *webCA) issue(t *testing.T, serial int64, names ...string) (chainPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

// tlsCert is issue as a tls.Certificate, for test TLS servers.
func (ca *webCA) tlsCert(t *testing.T, serial int64, names ...string) tls.Certificate {
	t.Helper()
	c, k := ca.issue(t, serial, names...)
	cert, err := tls.X509KeyPair(c, k)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// secret is an SDS Secret as docs/gateway.md has it.
func secret(name string, chainPEM, keyPEM []byte) *tlsv3.Secret {
	return &tlsv3.Secret{Name: name, Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
		CertificateChain: &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: chainPEM}},
		PrivateKey:       &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: keyPEM}},
	}}}
}

// edgeTLS is a gateway's transport socket serving the named secrets.
func edgeTLS(t *testing.T, alpn []string, secrets ...string) *corev3.TransportSocket {
	t.Helper()
	common := &tlsv3.CommonTlsContext{
		AlpnProtocols: alpn,
		TlsParams:     &tlsv3.TlsParameters{TlsMinimumProtocolVersion: tlsv3.TlsParameters_TLSv1_2},
	}
	for _, s := range secrets {
		common.TlsCertificateSdsSecretConfigs = append(common.TlsCertificateSdsSecretConfigs, sds(s))
	}
	return &corev3.TransportSocket{
		Name: "envoy.transport_sockets.tls",
		ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(t, &tlsv3.DownstreamTlsContext{
			RequireClientCertificate: wrapperspb.Bool(false),
			CommonTlsContext:         common,
		})},
	}
}

// tlsInspector and proxyProtocol are listener filters.
func tlsInspector(t *testing.T) *listenerv3.ListenerFilter {
	t.Helper()
	return &listenerv3.ListenerFilter{Name: "envoy.filters.listener.tls_inspector",
		ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: mustAny(t, &tlsinspectorv3.TlsInspector{})}}
}

func proxyProtocolFilter(t *testing.T) *listenerv3.ListenerFilter {
	t.Helper()
	return &listenerv3.ListenerFilter{Name: "envoy.filters.listener.proxy_protocol",
		ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: mustAny(t, &proxyprotocolv3.ProxyProtocol{})}}
}

// gatewayListener is a gateway listener on loopback with chains.
func gatewayListener(t *testing.T, name string, filters []*listenerv3.ListenerFilter, chains ...*listenerv3.FilterChain) *listenerv3.Listener {
	t.Helper()
	return &listenerv3.Listener{
		Name:             name,
		Address:          socketAddress(t, "127.0.0.1:0"),
		TrafficDirection: corev3.TrafficDirection_INBOUND,
		ListenerFilters:  filters,
		FilterChains:     chains,
	}
}

// sniChain is a chain for server names terminating TLS with secrets (none:
// passthrough), then filter.
func sniChain(t *testing.T, names []string, ts *corev3.TransportSocket, filter *listenerv3.Filter) *listenerv3.FilterChain {
	t.Helper()
	fc := &listenerv3.FilterChain{Filters: []*listenerv3.Filter{filter}, TransportSocket: ts}
	if len(names) > 0 || ts != nil {
		fc.FilterChainMatch = &listenerv3.FilterChainMatch{ServerNames: names}
		if ts != nil {
			fc.FilterChainMatch.TransportProtocol = "tls"
		}
	}
	return fc
}

// edgeHCM is a gateway's HTTP connection manager filter with an inline
// route to cluster.
func edgeHCM(t *testing.T, cluster string, hops uint32) *listenerv3.Filter {
	t.Helper()
	h := hcm(t, "gateway", "", routeTo("gw", "gw", cluster))
	h.UseRemoteAddress = wrapperspb.Bool(true)
	h.XffNumTrustedHops = hops
	h.ForwardClientCertDetails = hcmv3.HttpConnectionManager_SANITIZE
	h.GenerateRequestId = wrapperspb.Bool(true)
	h.PreserveExternalRequestId = hops > 0
	return &listenerv3.Filter{
		Name:       "envoy.filters.network.http_connection_manager",
		ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(t, h)},
	}
}

// startHeaderApp serves, over HTTP/1.1 on loopback, the request's headers
// as JSON, with Host as "Host". Every request it received is sent on got
// when got is not nil.
func startHeaderApp(t *testing.T, got chan<- http.Header) string {
	t.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := r.Header.Clone()
			h.Set("Host", r.Host)
			if got != nil {
				select {
				case got <- h:
				default:
				}
			}
			_ = json.NewEncoder(w).Encode(h)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("app: %v", err)
		}
	})
	t.Cleanup(func() {
		_ = srv.Close()
		wg.Wait()
	})
	return ln.Addr().String()
}
