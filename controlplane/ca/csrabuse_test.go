package ca_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"net"
	"net/url"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	cav1 "github.com/weftmesh/weft/api/ca/v1"
	"github.com/weftmesh/weft/controlplane/ca"
)

// rawCSR returns the DER of a CSR signed by key.
func rawCSR(t *testing.T, key crypto.Signer, tmpl *x509.CertificateRequest) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatalf("CreateCertificateRequest: %v", err)
	}
	return der
}

// generalName is one RFC 5280 GeneralName: context tag and content.
type generalName struct {
	tag      int
	compound bool
	content  []byte
}

// sanExtension builds a subjectAltName extension from raw GeneralNames, so
// that tests can request what crypto/x509 would never write.
func sanExtension(t *testing.T, names ...generalName) pkix.Extension {
	t.Helper()
	var raw []asn1.RawValue
	for _, n := range names {
		raw = append(raw, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: n.tag, IsCompound: n.compound, Bytes: n.content})
	}
	val, err := asn1.Marshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	return pkix.Extension{Id: asn1.ObjectIdentifier{2, 5, 29, 17}, Value: val}
}

func basicConstraints(t *testing.T, isCA bool) pkix.Extension {
	t.Helper()
	val, err := asn1.Marshal(struct {
		IsCA bool `asn1:"optional"`
	}{isCA})
	if err != nil {
		t.Fatal(err)
	}
	return pkix.Extension{Id: asn1.ObjectIdentifier{2, 5, 29, 19}, Critical: true, Value: val}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := asn1.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCSRAbuse sends every kind of hostile request through real gRPC/TLS
// and checks what the caller is told and what the metric counts.
func TestCSRAbuse(t *testing.T) {
	s := startCAServer(t, ca.ServiceConfig{MaxTTL: 48 * time.Hour}, []ca.TokenEntry{
		{SHA256Hex: digest("cart-token"), Namespace: "shop", ServiceAccount: "cart"},
	})
	cart := workloadID(t, "shop", "cart")
	cartURI := cart.URL()
	key := p256Key(t)
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p521, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	uri := func(s string) *url.URL {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	good := func() []byte { return rawCSR(t, key, &x509.CertificateRequest{URIs: []*url.URL{cartURI}}) }
	// A P-256 CSR whose curve OID is turned into P-192's
	// (1.2.840.10045.3.1.1), which crypto/x509 does not know.
	p192 := func() []byte {
		der := good()
		p256 := []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}
		i := bytes.Index(der, p256)
		if i < 0 {
			t.Fatal("P-256 OID not found in CSR")
		}
		der[i+len(p256)-1] = 0x01
		return der
	}
	uriName := generalName{tag: 6, content: []byte(cart.String())}
	otherName := generalName{tag: 0, compound: true, content: append(
		mustMarshal(t, asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 20, 2, 3}),
		mustMarshal(t, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: mustMarshal(t, "admin@shop")})...)}
	registeredID := generalName{tag: 8, content: mustMarshal(t, asn1.ObjectIdentifier{1, 2, 3, 4})[2:]}
	dirName := generalName{tag: 4, compound: true, content: mustMarshal(t, pkix.Name{CommonName: "admin"}.ToRDNSequence())}

	const prefix = "invalid certificate request: "
	tests := []struct {
		name   string
		csr    func() []byte
		ttl    *durationpb.Duration
		reason ca.Reason
		want   string // the whole status message, after prefix
	}{
		{name: "wildcard service account", reason: ca.ReasonWildcard,
			csr: func() []byte {
				return rawCSR(t, key, &x509.CertificateRequest{URIs: []*url.URL{uri("spiffe://cluster.test/ns/shop/sa/*")}})
			},
			want: `CSR URI SAN "spiffe://cluster.test/ns/shop/sa/*" contains a wildcard; want exactly spiffe://cluster.test/ns/shop/sa/cart`},
		{name: "wildcard namespace", reason: ca.ReasonWildcard,
			csr: func() []byte {
				return rawCSR(t, key, &x509.CertificateRequest{URIs: []*url.URL{uri("spiffe://cluster.test/ns/*/sa/cart")}})
			},
			want: `CSR URI SAN "spiffe://cluster.test/ns/*/sa/cart" contains a wildcard; want exactly spiffe://cluster.test/ns/shop/sa/cart`},
		{name: "NUL in subject", reason: ca.ReasonNULByte,
			csr: func() []byte {
				return rawCSR(t, key, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "cart\x00.admin"}, URIs: []*url.URL{cartURI}})
			},
			want: `CSR subject attribute 2.5.4.3 ("cart\x00.admin") contains a NUL byte`},
		{name: "percent-encoded NUL in URI SAN", reason: ca.ReasonNULByte,
			csr: func() []byte {
				return rawCSR(t, key, &x509.CertificateRequest{URIs: []*url.URL{uri("spiffe://cluster.test/ns/shop/sa/cart%00.admin")}})
			},
			want: `CSR URI SAN "spiffe://cluster.test/ns/shop/sa/cart%00.admin" contains a NUL byte (percent-encoded)`},
		{name: "NUL in DNS SAN", reason: ca.ReasonNULByte,
			csr: func() []byte {
				return rawCSR(t, key, &x509.CertificateRequest{ExtraExtensions: []pkix.Extension{
					sanExtension(t, uriName, generalName{tag: 2, content: []byte("cart.shop\x00.evil")})}})
			},
			want: `CSR DNS SAN "cart.shop\x00.evil" contains a NUL byte`},
		{name: "NUL in email SAN", reason: ca.ReasonNULByte,
			csr: func() []byte {
				return rawCSR(t, key, &x509.CertificateRequest{ExtraExtensions: []pkix.Extension{
					sanExtension(t, uriName, generalName{tag: 1, content: []byte("a@shop\x00.evil")})}})
			},
			want: `CSR email SAN "a@shop\x00.evil" contains a NUL byte`},
		{name: "raw NUL in URI SAN", reason: ca.ReasonMalformed,
			csr: func() []byte {
				return rawCSR(t, key, &x509.CertificateRequest{ExtraExtensions: []pkix.Extension{
					sanExtension(t, generalName{tag: 6, content: []byte("spiffe://cluster.test/ns/shop/sa/cart\x00")})}})
			},
			want: `CSR is not DER PKCS#10: x509: cannot parse URI "spiffe://cluster.test/ns/shop/sa/cart\x00": parse "spiffe://cluster.test/ns/shop/sa/cart\x00": net/url: invalid control character in URL`},
		{name: "CA:true requested", reason: ca.ReasonCARequested,
			csr: func() []byte {
				return rawCSR(t, key, &x509.CertificateRequest{URIs: []*url.URL{cartURI}, ExtraExtensions: []pkix.Extension{basicConstraints(t, true)}})
			},
			want: "CSR requests a CA certificate (basicConstraints CA:true); workload certificates are never CAs"},
		{name: "DNS SAN", reason: ca.ReasonBadSAN,
			csr: func() []byte {
				return rawCSR(t, key, &x509.CertificateRequest{URIs: []*url.URL{cartURI}, DNSNames: []string{"*.shop.svc"}})
			},
			want: `CSR has 1 DNS SAN(s) (["*.shop.svc"]); only a URI SAN is allowed`},
		{name: "IP SAN", reason: ca.ReasonBadSAN,
			csr: func() []byte {
				return rawCSR(t, key, &x509.CertificateRequest{URIs: []*url.URL{cartURI}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}})
			},
			want: "CSR has 1 IP SAN(s) ([127.0.0.1]); only a URI SAN is allowed"},
		{name: "email SAN", reason: ca.ReasonBadSAN,
			csr: func() []byte {
				return rawCSR(t, key, &x509.CertificateRequest{URIs: []*url.URL{cartURI}, EmailAddresses: []string{"cart@shop"}})
			},
			want: `CSR has 1 email SAN(s) (["cart@shop"]); only a URI SAN is allowed`},
		{name: "otherName SAN", reason: ca.ReasonBadSAN,
			csr: func() []byte {
				return rawCSR(t, key, &x509.CertificateRequest{ExtraExtensions: []pkix.Extension{sanExtension(t, uriName, otherName)}})
			},
			want: "CSR has a SAN of kind otherName; only a URI SAN is allowed"},
		{name: "directoryName SAN", reason: ca.ReasonBadSAN,
			csr: func() []byte {
				return rawCSR(t, key, &x509.CertificateRequest{ExtraExtensions: []pkix.Extension{sanExtension(t, uriName, dirName)}})
			},
			want: "CSR has a SAN of kind directoryName; only a URI SAN is allowed"},
		{name: "registeredID SAN", reason: ca.ReasonBadSAN,
			csr: func() []byte {
				return rawCSR(t, key, &x509.CertificateRequest{ExtraExtensions: []pkix.Extension{sanExtension(t, uriName, registeredID)}})
			},
			want: "CSR has a SAN of kind registeredID; only a URI SAN is allowed"},
		{name: "two URI SANs", reason: ca.ReasonBadSAN,
			csr: func() []byte {
				return rawCSR(t, key, &x509.CertificateRequest{URIs: []*url.URL{cartURI, workloadID(t, "shop", "admin").URL()}})
			},
			want: "CSR has 2 URI SANs, want exactly 1 (spiffe://cluster.test/ns/shop/sa/cart)"},
		{name: "no SAN", reason: ca.ReasonBadSAN,
			csr:  func() []byte { return rawCSR(t, key, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "cart"}}) },
			want: "CSR has 0 URI SANs, want exactly 1 (spiffe://cluster.test/ns/shop/sa/cart)"},
		{name: "another identity", reason: ca.ReasonWrongIdentity,
			csr:  func() []byte { return csrDER(t, workloadID(t, "shop", "admin")) },
			want: `CSR asks for "spiffe://cluster.test/ns/shop/sa/admin" but the caller is spiffe://cluster.test/ns/shop/sa/cart`},
		{name: "another trust domain", reason: ca.ReasonWrongIdentity,
			csr:  func() []byte { return csrDER(t, spiffeIDIn(t, "evil.test")) },
			want: `CSR asks for "spiffe://evil.test/ns/default/sa/app" but the caller is spiffe://cluster.test/ns/shop/sa/cart`},
		{name: "RSA 1024", reason: ca.ReasonBadKey,
			csr:  func() []byte { return rawCSR(t, rsa1024, &x509.CertificateRequest{URIs: []*url.URL{cartURI}}) },
			want: "CSR key is RSA with 1024 bits; want at least 2048"},
		{name: "P-224", reason: ca.ReasonBadKey,
			csr:  func() []byte { return rawCSR(t, p224, &x509.CertificateRequest{URIs: []*url.URL{cartURI}}) },
			want: "CSR key is ECDSA on curve P-224; want P-256 or P-384"},
		{name: "P-521", reason: ca.ReasonBadKey,
			csr:  func() []byte { return rawCSR(t, p521, &x509.CertificateRequest{URIs: []*url.URL{cartURI}}) },
			want: "CSR key is ECDSA on curve P-521; want P-256 or P-384"},
		{name: "unknown curve", reason: ca.ReasonBadKey, csr: p192,
			want: "CSR key is ECDSA on curve 1.2.840.10045.3.1.1, which is not supported; want P-256 or P-384"},
		{name: "garbage", reason: ca.ReasonMalformed,
			csr:  func() []byte { return []byte("garbage") },
			want: "CSR is not DER PKCS#10: asn1: structure error: tags don't match (16 vs {class:1 tag:7 length:97 isCompound:true}) {optional:false explicit:false application:false private:false defaultValue:<nil> tag:<nil> stringType:0 timeType:0 set:false omitEmpty:false} certificateRequest @2"},
		{name: "no CSR", reason: ca.ReasonMalformed,
			csr:  func() []byte { return nil },
			want: "no CSR in the request"},
		{name: "oversized CSR", reason: ca.ReasonMalformed,
			csr:  func() []byte { return make([]byte, 64<<10+1) },
			want: "CSR of 65537 bytes exceeds 65536"},
		{name: "TTL above the maximum", reason: ca.ReasonBadTTL, csr: good, ttl: durationpb.New(48*time.Hour + time.Second),
			want: "TTL 48h0m1s exceeds the maximum of 48h0m0s"},
		{name: "TTL of ten thousand years", reason: ca.ReasonBadTTL, csr: good, ttl: &durationpb.Duration{Seconds: 315576000001},
			want: "TTL of 315576000001 seconds and 0 nanoseconds is not a valid duration"},
		{name: "zero TTL", reason: ca.ReasonBadTTL, csr: good, ttl: durationpb.New(0),
			want: "TTL 0s is not positive"},
		{name: "negative TTL", reason: ca.ReasonBadTTL, csr: good, ttl: durationpb.New(-time.Hour),
			want: "TTL -1h0m0s is not positive"},
		{name: "TTL below the minimum", reason: ca.ReasonBadTTL, csr: good, ttl: durationpb.New(time.Millisecond),
			want: "TTL 1ms is below the minimum of 1s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := counter(t, s.reg, "rejected", string(tt.reason))
			resp, err := s.client.CreateCertificate(withToken(t.Context(), "Bearer cart-token"),
				&cav1.CreateCertificateRequest{Csr: tt.csr(), Ttl: tt.ttl})
			if err == nil {
				t.Fatalf("CreateCertificate issued %d certificate(s), want InvalidArgument", len(resp.GetCertChain()))
			}
			st := status.Convert(err)
			if st.Code() != codes.InvalidArgument {
				t.Errorf("code = %s, want InvalidArgument (%s)", st.Code(), st.Message())
			}
			if want := prefix + tt.want; st.Message() != want {
				t.Errorf("the caller is told\n%q\nwant\n%q", st.Message(), want)
			}
			if got := counter(t, s.reg, "rejected", string(tt.reason)); got != before+1 {
				t.Errorf("weft_ca_certificates_total{result=rejected,reason=%q} went from %v to %v, want +1", tt.reason, before, got)
			}
		})
	}
	if got := counter(t, s.reg, "issued", "ok"); got != 0 {
		t.Errorf("issued counter = %v, want 0", got)
	}
	// The control case: the same client, token and key are accepted.
	if _, err := s.client.CreateCertificate(withToken(t.Context(), "Bearer cart-token"), &cav1.CreateCertificateRequest{Csr: good()}); err != nil {
		t.Fatalf("a well-formed request was refused: %v", err)
	}
}
