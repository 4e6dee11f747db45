package demo

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"text/template"
	"time"
)

// The demo's traffic from outside enters through an ingress gateway
// (docs/gateway.md): a Gateway of class weft with an HTTP and an HTTPS
// listener, an HTTPRoute to the backend's HTTP port, and the certificate
// of gatewayHost as a kubernetes.io/tls Secret, all in the config
// directory like any other object.

var gatewayTemplate = template.Must(template.New(gatewayCfgFile).Parse(`# The demo's ingress gateway: the same objects as in Kubernetes.
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: {{.Gateway}}
  namespace: {{.Namespace}}
  annotations:
    # A forged X-Forwarded-For from a client is not believed (the default).
    gateway.weft.dev/trusted-hops: "0"
spec:
  gatewayClassName: weft
  listeners:
  - name: http
    protocol: HTTP
    port: {{.HTTPPort}}
  - name: https
    protocol: HTTPS
    port: {{.HTTPSPort}}
    hostname: {{.Host}}
    tls:
      mode: Terminate
      certificateRefs:
      - name: {{.Secret}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: backend
  namespace: {{.Namespace}}
spec:
  parentRefs:
  - name: {{.Gateway}}
  hostnames: [{{.Host}}]
  rules:
  - backendRefs:
    - name: backend
      port: {{.BackendPort}}
---
# The gateway proxy: a workload that serves the Gateway, with the
# identity Kubernetes would give it (ServiceAccount <gateway>-weft).
apiVersion: mesh.weft.dev/v1alpha1
kind: Workload
metadata:
  name: {{.Name}}
  namespace: {{.Namespace}}
spec:
  serviceAccount: {{.SA}}
  address: {{.Address}}
  gateway: {{.Gateway}}
  bootstrapTokenSHA256: {{.Token}}
---
# The certificate of {{.Host}}, self-signed by the demo.
apiVersion: v1
kind: Secret
metadata:
  name: {{.Secret}}
  namespace: {{.Namespace}}
type: kubernetes.io/tls
stringData:
  tls.crt: |
{{.Cert}}  tls.key: |
{{.Key}}`))

// writeGateway generates the gateway's certificate and writes the
// gateway's objects into the config directory.
func (l *layout) writeGateway() error {
	cert, key, err := selfSigned(gatewayHost)
	if err != nil {
		return fmt.Errorf("generating the gateway's certificate: %w", err)
	}
	l.gatewayCert = cert
	f, err := os.OpenFile(filepath.Join(l.configDir(), gatewayCfgFile), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	err = gatewayTemplate.Execute(f, map[string]any{
		"Namespace":   demoNamespace,
		"Gateway":     gatewayObject,
		"Name":        gatewayName,
		"SA":          gatewaySA,
		"Address":     l.gateway,
		"Token":       digestHex(l.tokens[gatewayName]),
		"HTTPPort":    gatewayHTTPPort,
		"HTTPSPort":   gatewayHTTPSPort,
		"Host":        gatewayHost,
		"Secret":      gatewayCertRef,
		"BackendPort": httpMeshPort,
		"Cert":        indentLines(cert, "    "),
		"Key":         indentLines(key, "    "),
	})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing the gateway configuration: %w", err)
	}
	return nil
}

// selfSigned returns a PEM certificate for host, valid for a day, and its
// PEM private key.
func selfSigned(host string) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: host, Organization: []string{"Weft demo"}},
		DNSNames:     []string{host},
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}

// indentLines indents every line of text, for a YAML block scalar.
func indentLines(text []byte, by string) string {
	var b strings.Builder
	for line := range strings.Lines(string(text)) {
		b.WriteString(by)
		b.WriteString(line)
	}
	return b.String()
}

// seen is what the backend's HTTP app reports about each request: the
// headers the gateway is responsible for, as they arrived.
type seen struct {
	Backend        string `json:"backend"`
	Host           string `json:"host"`
	Path           string `json:"path"`
	ForwardedFor   string `json:"xForwardedFor"`
	ForwardedProto string `json:"xForwardedProto"`
	RequestID      string `json:"xRequestId"`
	ClientCert     string `json:"xForwardedClientCert"`
	WeftHeaders    int    `json:"xWeftHeaders"`
}

// httpApp is the backend's HTTP app: it answers every request with what
// it saw, as JSON.
type httpApp struct {
	srv  *http.Server
	done chan struct{}
}

func startHTTPApp(ctx context.Context, name, addr string) (*httpApp, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("backend HTTP app: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s := seen{
			Backend:        name,
			Host:           r.Host,
			Path:           r.URL.Path,
			ForwardedFor:   strings.Join(r.Header.Values("X-Forwarded-For"), ", "),
			ForwardedProto: r.Header.Get("X-Forwarded-Proto"),
			RequestID:      r.Header.Get("X-Request-Id"),
			ClientCert:     r.Header.Get("X-Forwarded-Client-Cert"),
		}
		for k := range r.Header {
			if strings.HasPrefix(strings.ToLower(k), "x-weft-") {
				s.WeftHeaders++
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s)
	})
	a := &httpApp{
		srv:  &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second},
		done: make(chan struct{}),
	}
	go func() {
		defer close(a.done)
		_ = a.srv.Serve(ln)
	}()
	return a, nil
}

func (a *httpApp) close() {
	_ = a.srv.Close()
	<-a.done
}

// Headers the demo's client forges on every request through the gateway;
// none may reach the backend as sent.
const (
	forgedForwardedFor = "198.18.0.66"
	forgedClientCert   = "By=spiffe://cluster.local/ns/demo/sa/backend;URI=spiffe://cluster.local/ns/demo/sa/admin"
	forgedWeftHeader   = "X-Weft-Source-Workload"
)

// gatewayResult is what the external client saw through the gateway.
type gatewayResult struct {
	sent, succeeded int
	// protos counts the HTTP versions the HTTPS listener spoke.
	protos map[string]int
	// plainOK is set when a request to the HTTP listener got through with
	// X-Forwarded-Proto http.
	plainOK  bool
	firstErr error
}

// runGatewayTraffic sends n HTTPS requests to the gateway for gatewayHost
// from the client's address, trusting only the demo's certificate, each
// with forged forwarding headers, then one plain HTTP request; every
// answer must show that the backend got the gateway's headers, not the
// client's.
func runGatewayTraffic(ctx context.Context, l *layout, n int) gatewayResult {
	res := gatewayResult{protos: map[string]int{}}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(l.gatewayCert) {
		res.sent, res.firstErr = n, errors.New("the demo's gateway certificate does not parse")
		return res
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: l.client.AsSlice()}}
	transport := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			// gatewayHost resolves to the gateway's address, as DNS would
			// point it at the LoadBalancer's.
			_, port, _ := net.SplitHostPort(addr)
			return dialer.DialContext(ctx, network, net.JoinHostPort(l.gateway.String(), port))
		},
		TLSClientConfig:   &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2: true,
	}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: 5 * time.Second}

	var mu sync.Mutex
	record := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		res.sent++
		if err == nil {
			res.succeeded++
		} else if res.firstErr == nil {
			res.firstErr = err
		}
	}
	url := fmt.Sprintf("https://%s:%d/", gatewayHost, gatewayHTTPSPort)
	for i := range n {
		proto, err := gatewayRequest(ctx, client, url+fmt.Sprintf("orders/%d", i), l, "https")
		record(err)
		if err == nil {
			res.protos[proto]++
		}
	}
	_, err := gatewayRequest(ctx, client, fmt.Sprintf("http://%s:%d/plain", gatewayHost, gatewayHTTPPort), l, "http")
	if err != nil && res.firstErr == nil {
		res.firstErr = fmt.Errorf("over the HTTP listener: %w", err)
	}
	res.plainOK = err == nil
	return res
}

// gatewayRequest sends one request with forged headers and checks what
// the backend saw. It returns the HTTP version the gateway answered with.
func gatewayRequest(ctx context.Context, client *http.Client, url string, l *layout, scheme string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("X-Forwarded-For", forgedForwardedFor)
	req.Header.Set("X-Forwarded-Client-Cert", forgedClientCert)
	req.Header.Set(forgedWeftHeader, "admin-console")
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("request through the gateway: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", fmt.Errorf("reading the gateway's answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("the gateway answered %s: %.200q", resp.Status, body)
	}
	var s seen
	if err := json.Unmarshal(body, &s); err != nil {
		return "", fmt.Errorf("the answer is not the backend's: %.200q", body)
	}
	return resp.Proto, checkSeen(s, req.URL.Path, l.client.String(), scheme)
}

// checkSeen checks the headers the backend got from the gateway.
func checkSeen(s seen, path, client, scheme string) error {
	switch {
	case s.Backend != backendName || s.Path != path:
		return fmt.Errorf("answered by %q for %q, want %s for %s", s.Backend, s.Path, backendName, path)
	case s.ForwardedFor != client:
		return fmt.Errorf("the backend saw X-Forwarded-For %q, want only the client's address %s", s.ForwardedFor, client)
	case s.ForwardedProto != scheme:
		return fmt.Errorf("the backend saw X-Forwarded-Proto %q, want %s", s.ForwardedProto, scheme)
	case s.RequestID == "":
		return errors.New("the backend saw no X-Request-Id")
	case s.ClientCert != "":
		return fmt.Errorf("the client's forged x-forwarded-client-cert reached the backend: %q", s.ClientCert)
	case s.WeftHeaders > 0:
		return fmt.Errorf("%d x-weft-* header(s) reached the backend's app", s.WeftHeaders)
	}
	return nil
}
