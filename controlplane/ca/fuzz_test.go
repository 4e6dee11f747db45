package ca_test

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"testing"
	"time"
)

// FuzzSignCSR signs CSRs whose subject, subjectAltName and
// basicConstraints extensions are arbitrary bytes (signed with a real key,
// so that they reach every check past the signature): Sign must never
// panic, and whatever it accepts must be a request for exactly the
// caller's SPIFFE ID, answered by a leaf naming that ID alone that is no
// CA.
func FuzzSignCSR(f *testing.F) {
	a := newAuthority(f, time.Now)
	key := p256Key(f)
	want := workloadID(f, "ns", "sa")
	id := want.String()
	san := func(names ...asn1.RawValue) []byte {
		b, err := asn1.Marshal(names)
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	uri := asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 6, Bytes: []byte(id)}
	dns := asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 2, Bytes: []byte("api.example.com")}
	caTrue, err := asn1.Marshal(struct{ IsCA bool }{true})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("workload", san(uri), []byte(nil))
	f.Add("", san(uri, dns), []byte(nil))
	f.Add("x", san(uri), caTrue)
	f.Add("a\x00b", san(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 6, Bytes: []byte(id + "\x00/evil")}), []byte(nil))
	f.Add("", []byte{0x30, 0x03, 0x86, 0x01}, []byte{0x30})

	f.Fuzz(func(t *testing.T, cn string, sanDER, bcDER []byte) {
		tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}
		if len(sanDER) > 0 {
			tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, pkix.Extension{Id: asn1.ObjectIdentifier{2, 5, 29, 17}, Value: sanDER})
		}
		if len(bcDER) > 0 {
			tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, pkix.Extension{Id: asn1.ObjectIdentifier{2, 5, 29, 19}, Value: bcDER})
		}
		der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
		if err != nil {
			return
		}
		csr, err := x509.ParseCertificateRequest(der)
		if err != nil {
			return
		}
		chain, err := a.Sign(csr, want, time.Hour)
		if err != nil {
			return
		}
		if len(csr.URIs) != 1 || csr.URIs[0].String() != want.String() {
			t.Fatalf("Sign accepted a CSR for %v; the caller is %s", csr.URIs, want)
		}
		leaf := chain[0]
		if leaf.IsCA || len(leaf.URIs) != 1 || leaf.URIs[0].String() != want.String() ||
			len(leaf.DNSNames)+len(leaf.IPAddresses)+len(leaf.EmailAddresses) != 0 {
			t.Fatalf("leaf: CA %v, URIs %v, DNS %v, IPs %v, emails %v; want a non-CA naming %s alone",
				leaf.IsCA, leaf.URIs, leaf.DNSNames, leaf.IPAddresses, leaf.EmailAddresses, want)
		}
	})
}
