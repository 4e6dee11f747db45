package httpproxy

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/weftmesh/weft/proxy/lb"
	"github.com/weftmesh/weft/proxy/route"
)

func TestRequestHash(t *testing.T) {
	header := route.HashPolicy{Kind: route.HashHeader, Name: "X-User"}
	cookie := route.HashPolicy{Kind: route.HashCookie, Name: "session"}
	source := route.HashPolicy{Kind: route.HashSourceIP}
	combined := func(hs ...uint64) lb.PickContext {
		var pc lb.PickContext
		for _, h := range hs {
			pc.AddHash(h)
		}
		return pc
	}
	tests := []struct {
		name     string
		policies []route.HashPolicy
		edit     func(r *http.Request)
		want     lb.PickContext
	}{
		{"no policies", nil, nil, lb.PickContext{}},
		{"header", []route.HashPolicy{header}, func(r *http.Request) { r.Header.Set("X-User", "ann") }, combined(lb.Hash("ann"))},
		{"header values sorted", []route.HashPolicy{header}, func(r *http.Request) {
			r.Header.Add("X-User", "b")
			r.Header.Add("X-User", "a")
		}, combined(lb.Hash("a", "b"))},
		{"missing header", []route.HashPolicy{header}, nil, lb.PickContext{}},
		{"authority", []route.HashPolicy{{Kind: route.HashHeader, Name: ":authority"}}, nil, combined(lb.Hash("app.example"))},
		{"cookie", []route.HashPolicy{cookie}, func(r *http.Request) { r.AddCookie(&http.Cookie{Name: "session", Value: "s1"}) }, combined(lb.Hash("s1"))},
		{"source IP", []route.HashPolicy{source}, nil, combined(lb.Hash("192.0.2.1"))},
		{"combined in order", []route.HashPolicy{header, source}, func(r *http.Request) { r.Header.Set("X-User", "ann") },
			combined(lb.Hash("ann"), lb.Hash("192.0.2.1"))},
		{"terminal stops", []route.HashPolicy{{Kind: route.HashHeader, Name: "X-User", Terminal: true}, source},
			func(r *http.Request) { r.Header.Set("X-User", "ann") }, combined(lb.Hash("ann"))},
		{"terminal without input goes on", []route.HashPolicy{{Kind: route.HashHeader, Name: "X-User", Terminal: true}, source},
			nil, combined(lb.Hash("192.0.2.1"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "http://app.example/", nil)
			if tt.edit != nil {
				tt.edit(r)
			}
			if got := requestHash(r, tt.policies); got != tt.want {
				t.Errorf("requestHash = %+v, want %+v", got, tt.want)
			}
		})
	}
}
