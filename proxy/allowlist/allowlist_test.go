package allowlist

import (
	"errors"
	"io/fs"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
)

func TestOnlyFieldsNamesEveryUnsupportedField(t *testing.T) {
	p := New("cluster", "c1")
	addr := &corev3.SocketAddress{Address: "192.0.2.1", Protocol: corev3.SocketAddress_UDP, ResolverName: "dns", Ipv4Compat: true}
	p.OnlyFields(Index("endpoints", 0)+".address", addr, "address", "port_value")
	want := []string{
		`cluster "c1": endpoints[0].address.protocol: unsupported field`,
		`cluster "c1": endpoints[0].address.resolver_name: unsupported field`,
		`cluster "c1": endpoints[0].address.ipv4_compat: unsupported field`,
	}
	if got := p.Err(); got == nil || got.Error() != strings.Join(want, "\n") {
		t.Fatalf("Err() =\n%v\nwant\n%s", got, strings.Join(want, "\n"))
	}
	if p.OK() || p.Len() != 3 {
		t.Errorf("OK() = %v, Len() = %d after three problems", p.OK(), p.Len())
	}
}

func TestAddfAndWrap(t *testing.T) {
	p := New("listener", "l")
	if !p.OK() || p.Err() != nil {
		t.Fatal("a new collection has problems")
	}
	p.Addf("", "no filter chain")
	p.Wrap(Field("address", "port_value"), fs.ErrInvalid)
	if got := p.Errs()[0].Error(); got != `listener "l": no filter chain` {
		t.Errorf("resource-level problem = %q", got)
	}
	if !errors.Is(p.Err(), fs.ErrInvalid) {
		t.Error("a wrapped error is not reachable with errors.Is")
	}
	if got := Field("", "name"); got != "name" {
		t.Errorf("Field on an empty path = %q", got)
	}
}
