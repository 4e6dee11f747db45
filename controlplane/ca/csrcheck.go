package ca

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"net/url"
	"strings"
)

var (
	oidSubjectAltName   = asn1.ObjectIdentifier{2, 5, 29, 17}
	oidBasicConstraints = asn1.ObjectIdentifier{2, 5, 29, 19}
	oidECPublicKey      = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	oidCurveP256        = asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}
	oidCurveP384        = asn1.ObjectIdentifier{1, 3, 132, 0, 34}
)

// sanKinds names the GeneralName choices of RFC 5280 by context tag.
var sanKinds = [...]string{"otherName", "email", "DNS", "x400Address", "directoryName", "ediPartyName", "URI", "IP", "registeredID"}

// Context tags of the GeneralName choices that are IA5 strings.
const (
	tagEmail = 1
	tagDNS   = 2
	tagURI   = 6
)

// checkRequestedCA rejects a CSR whose requested extensions ask for
// basicConstraints CA:true. (Sign never copies requested extensions; the
// request is refused because it shows intent to abuse.)
func checkRequestedCA(csr *x509.CertificateRequest) error {
	for _, ext := range csr.Extensions {
		if !ext.Id.Equal(oidBasicConstraints) {
			continue
		}
		var bc struct {
			IsCA       bool `asn1:"optional"`
			MaxPathLen int  `asn1:"optional,default:-1"`
		}
		if rest, err := asn1.Unmarshal(ext.Value, &bc); err != nil || len(rest) > 0 {
			return reject(ReasonMalformed, "CSR basicConstraints extension does not parse")
		}
		if bc.IsCA {
			return reject(ReasonCARequested, "CSR requests a CA certificate (basicConstraints CA:true); workload certificates are never CAs")
		}
	}
	return nil
}

// rawSANs returns the GeneralNames of every subjectAltName extension the
// CSR requests, including the kinds crypto/x509 does not parse.
func rawSANs(csr *x509.CertificateRequest) ([]asn1.RawValue, error) {
	var names []asn1.RawValue
	for _, ext := range csr.Extensions {
		if !ext.Id.Equal(oidSubjectAltName) {
			continue
		}
		var seq asn1.RawValue
		if rest, err := asn1.Unmarshal(ext.Value, &seq); err != nil || len(rest) > 0 || seq.Tag != asn1.TagSequence {
			return nil, reject(ReasonMalformed, "CSR subjectAltName extension does not parse")
		}
		for rest := seq.Bytes; len(rest) > 0; {
			var v asn1.RawValue
			var err error
			if rest, err = asn1.Unmarshal(rest, &v); err != nil {
				return nil, reject(ReasonMalformed, "CSR subjectAltName extension does not parse")
			}
			names = append(names, v)
		}
	}
	return names, nil
}

// checkNUL rejects a NUL byte in any subject attribute or string SAN, raw or
// percent-encoded in a URI: names that compare differently in C and Go are
// a classic way to fool a peer's check.
func checkNUL(csr *x509.CertificateRequest) error {
	for _, atv := range csr.Subject.Names {
		if s, ok := atv.Value.(string); ok && strings.IndexByte(s, 0) >= 0 {
			return reject(ReasonNULByte, "CSR subject attribute %s (%q) contains a NUL byte", atv.Type, s)
		}
	}
	names, err := rawSANs(csr)
	if err != nil {
		return err
	}
	for _, n := range names {
		if n.Class == asn1.ClassContextSpecific && (n.Tag == tagEmail || n.Tag == tagDNS || n.Tag == tagURI) && bytes.IndexByte(n.Bytes, 0) >= 0 {
			return reject(ReasonNULByte, "CSR %s SAN %q contains a NUL byte", sanKinds[n.Tag], n.Bytes)
		}
	}
	for _, u := range csr.URIs {
		if uriHasNUL(u) {
			return reject(ReasonNULByte, "CSR URI SAN %q contains a NUL byte (percent-encoded)", u.String())
		}
	}
	return nil
}

func uriHasNUL(u *url.URL) bool {
	parts := []string{u.Host, u.Path, u.Opaque, u.RawQuery, u.Fragment}
	if u.User != nil {
		parts = append(parts, u.User.String())
	}
	for _, p := range parts {
		if strings.IndexByte(p, 0) >= 0 {
			return true
		}
	}
	return false
}

// checkSANKinds rejects every SAN that is not a URI.
func checkSANKinds(csr *x509.CertificateRequest) error {
	if n := len(csr.DNSNames); n > 0 {
		return reject(ReasonBadSAN, "CSR has %d DNS SAN(s) (%q); only a URI SAN is allowed", n, csr.DNSNames)
	}
	if n := len(csr.IPAddresses); n > 0 {
		return reject(ReasonBadSAN, "CSR has %d IP SAN(s) (%v); only a URI SAN is allowed", n, csr.IPAddresses)
	}
	if n := len(csr.EmailAddresses); n > 0 {
		return reject(ReasonBadSAN, "CSR has %d email SAN(s) (%q); only a URI SAN is allowed", n, csr.EmailAddresses)
	}
	names, err := rawSANs(csr)
	if err != nil {
		return err
	}
	for _, n := range names {
		if n.Class != asn1.ClassContextSpecific || n.Tag >= len(sanKinds) {
			return reject(ReasonBadSAN, "CSR has a SAN of unknown kind (class %d, tag %d); only a URI SAN is allowed", n.Class, n.Tag)
		}
		if n.Tag != tagURI {
			return reject(ReasonBadSAN, "CSR has a SAN of kind %s; only a URI SAN is allowed", sanKinds[n.Tag])
		}
	}
	return nil
}

// unparsableKey explains a CSR that crypto/x509 refused when the reason is
// its key: an elliptic curve Go does not know. It returns nil otherwise.
func unparsableKey(der []byte) error {
	var req struct {
		Info struct {
			Version   int
			Subject   asn1.RawValue
			PublicKey struct {
				Algorithm pkix.AlgorithmIdentifier
				PublicKey asn1.BitString
			}
		}
	}
	if _, err := asn1.Unmarshal(der, &req); err != nil {
		return nil
	}
	alg := req.Info.PublicKey.Algorithm
	if !alg.Algorithm.Equal(oidECPublicKey) {
		return nil
	}
	var curve asn1.ObjectIdentifier
	if _, err := asn1.Unmarshal(alg.Parameters.FullBytes, &curve); err != nil {
		return reject(ReasonBadKey, "CSR key is ECDSA with parameters that are not a named curve; want P-256 or P-384")
	}
	if curve.Equal(oidCurveP256) || curve.Equal(oidCurveP384) {
		return nil
	}
	return reject(ReasonBadKey, "CSR key is ECDSA on curve %s, which is not supported; want P-256 or P-384", curve)
}
