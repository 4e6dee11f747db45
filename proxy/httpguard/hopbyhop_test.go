package httpguard_test

import (
	"net/http"
	"reflect"
	"testing"

	"github.com/weftmesh/weft/proxy/httpguard"
)

func TestStripHopByHop(t *testing.T) {
	tests := []struct {
		name string
		in   http.Header
		want http.Header
	}{
		{
			name: "fixed list",
			in: http.Header{
				"Connection": {"keep-alive"}, "Keep-Alive": {"timeout=5"}, "Proxy-Connection": {"close"},
				"Transfer-Encoding": {"chunked"}, "Upgrade": {"websocket"}, "Te": {"gzip"},
				"Content-Type": {"text/plain"},
			},
			want: http.Header{"Content-Type": {"text/plain"}},
		},
		{
			name: "connection-named fields",
			in: http.Header{
				"Connection": {"X-A, x-b", "X-C"}, "X-A": {"1"}, "X-B": {"2"}, "X-C": {"3"}, "X-D": {"4"},
			},
			want: http.Header{"X-D": {"4"}},
		},
		{
			name: "te trailers kept",
			in:   http.Header{"Te": {"trailers"}, "Connection": {"TE"}},
			want: http.Header{"Te": {"trailers"}},
		},
		{
			name: "te trailers among others",
			in:   http.Header{"Te": {"gzip;q=0.5, Trailers"}},
			want: http.Header{"Te": {"trailers"}},
		},
		{
			name: "end-to-end fields kept",
			in: http.Header{
				"Trailer": {"X-Sum"}, "Proxy-Authorization": {"Basic x"}, "Content-Length": {"3"},
			},
			want: http.Header{"Trailer": {"X-Sum"}, "Proxy-Authorization": {"Basic x"}, "Content-Length": {"3"}},
		},
		{
			name: "malformed connection list",
			in:   http.Header{"Connection": {" , X-A ,"}, "X-A": {"1"}},
			want: http.Header{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			httpguard.StripHopByHop(tt.in)
			if !reflect.DeepEqual(tt.in, tt.want) {
				t.Fatalf("got %v, want %v", tt.in, tt.want)
			}
		})
	}
}

func TestValidateH2ToH1(t *testing.T) {
	tests := []struct {
		name string
		h    http.Header
		ok   bool
	}{
		{"plain", http.Header{"Content-Type": {"a/b"}, "X-Empty": {""}}, true},
		{"equal content-length", http.Header{"Content-Length": {"3", "3"}}, true},
		{"obs-text", http.Header{"X-A": {"caf\xc3\xa9"}}, true},
		{"CRLF in value", http.Header{"X-A": {"a\r\nX-Injected: 1"}}, false},
		{"LF in value", http.Header{"X-A": {"a\nb"}}, false},
		{"CR in value", http.Header{"X-A": {"a\rb"}}, false},
		{"NUL in value", http.Header{"X-A": {"a\x00b"}}, false},
		{"other control", http.Header{"X-A": {"a\x1bb"}}, false},
		{"leading space", http.Header{"X-A": {" a"}}, false},
		{"trailing tab", http.Header{"X-A": {"a\t"}}, false},
		{"CRLF in name", http.Header{"X-A\r\nX-B": {"1"}}, false},
		{"colon in name", http.Header{"X-A:b": {"1"}}, false},
		{"space in name", http.Header{"X A": {"1"}}, false},
		{"empty name", http.Header{"": {"1"}}, false},
		{"differing content-length", http.Header{"Content-Length": {"3", "4"}}, false},
		{"bad content-length", http.Header{"Content-Length": {"-3"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := httpguard.ValidateH2ToH1(tt.h)
			if tt.ok {
				if err != nil {
					t.Fatalf("ValidateH2ToH1: %v", err)
				}
				return
			}
			if he, ok := httpguard.AsHeadError(err); !ok || he.Status != http.StatusBadRequest {
				t.Fatalf("ValidateH2ToH1 = %v; want a 400 HeadError", err)
			}
		})
	}
}
