package ca_test

import (
	"slices"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/weftmesh/weft/meshid"
)

func TestServingCertificate(t *testing.T) {
	clk := newClock()
	a := newAuthority(t, clk.Now)
	cert, err := a.ServingCertificate([]string{"weft-controlplane.weft-system.svc"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	id, _, err := x509svid.ParseAndVerify(cert.Certificate, x509bundle.FromX509Authorities(td, a.Bundle()), x509svid.WithTime(clk.Now()))
	if err != nil {
		t.Fatalf("serving certificate does not verify as an SVID: %v", err)
	}
	if want := meshid.ControlPlane(td); id != want {
		t.Errorf("serving certificate ID = %s, want %s", id, want)
	}
	if want := []string{"weft-controlplane.weft-system.svc"}; !slices.Equal(cert.Leaf.DNSNames, want) {
		t.Errorf("DNS names = %v, want %v", cert.Leaf.DNSNames, want)
	}
	if cert.PrivateKey == nil {
		t.Error("no private key")
	}
	if _, err := a.ServingCertificate(nil, 0); err == nil {
		t.Error("ServingCertificate with TTL 0 succeeded, want an error")
	}
}

func TestServingCertSourceRenewsAtHalfLife(t *testing.T) {
	clk := newClock()
	a := newAuthority(t, clk.Now)
	src := a.NewServingCertSource(nil, time.Hour)

	first, err := src.GetCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(29 * time.Minute)
	same, err := src.GetCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	if same != first {
		t.Error("certificate replaced before half of its lifetime passed")
	}
	clk.Advance(2 * time.Minute)
	renewed, err := src.GetCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	if renewed.Leaf.SerialNumber.Cmp(first.Leaf.SerialNumber) == 0 {
		t.Error("certificate not replaced after half of its lifetime passed")
	}
	if want := clk.Now().Add(time.Hour); !renewed.Leaf.NotAfter.Equal(want) {
		t.Errorf("renewed NotAfter = %v, want %v", renewed.Leaf.NotAfter, want)
	}
}
