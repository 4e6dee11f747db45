package httpguard_test

import (
	"net/http"
	"testing"

	"github.com/weftmesh/weft/proxy/httpguard"
)

func TestNormalizePath(t *testing.T) {
	keep := httpguard.PathOptions{EscapedSlashes: httpguard.KeepEscapedSlashes}
	noMerge := httpguard.PathOptions{KeepAdjacentSlashes: true}
	tests := []struct {
		name string
		in   string
		opts httpguard.PathOptions
		want string // "" means an error is expected
	}{
		{"root", "/", httpguard.PathOptions{}, "/"},
		{"plain", "/a/b/c", httpguard.PathOptions{}, "/a/b/c"},
		{"trailing slash kept", "/a/b/", httpguard.PathOptions{}, "/a/b/"},
		{"query untouched", "/a/./b?x=%2f&y=/../z&%41", httpguard.PathOptions{}, "/a/b?x=%2f&y=/../z&%41"},
		{"empty query kept", "/a?", httpguard.PathOptions{}, "/a?"},
		{"dot", "/a/./b", httpguard.PathOptions{}, "/a/b"},
		{"dot dot", "/a/b/../c", httpguard.PathOptions{}, "/a/c"},
		{"dot dot at end", "/a/b/..", httpguard.PathOptions{}, "/a/"},
		{"dot at end", "/a/.", httpguard.PathOptions{}, "/a/"},
		{"above root", "/../../a", httpguard.PathOptions{}, "/a"},
		{"only dot dot", "/..", httpguard.PathOptions{}, "/"},
		{"only dot", "/.", httpguard.PathOptions{}, "/"},
		{"rfc 5.2.4 example", "/a/b/c/./../../g", httpguard.PathOptions{}, "/a/g"},
		{"dot-like segments kept", "/a/.../..b/b../.c", httpguard.PathOptions{}, "/a/.../..b/b../.c"},
		{"encoded dots", "/a/%2e%2E/b", httpguard.PathOptions{}, "/b"},
		{"mixed encoded dot", "/a/.%2e/b", httpguard.PathOptions{}, "/b"},
		{"encoded dot segment", "/a/%2E/b", httpguard.PathOptions{}, "/a/b"},
		{"unreserved decoded", "/%41%7a%30%2D%5F%7E", httpguard.PathOptions{}, "/Az0-_~"},
		{"reserved escapes upper-cased", "/a%3fb%23c%25d", httpguard.PathOptions{}, "/a%3Fb%23c%25d"},
		{"double encoding not decoded twice", "/%252e%252e/x", httpguard.PathOptions{}, "/%252e%252e/x"},
		{"merge slashes", "//a///b//", httpguard.PathOptions{}, "/a/b/"},
		{"merge after dots", "/a//../b", httpguard.PathOptions{}, "/a/b"},
		{"keep slashes", "//a///b", noMerge, "//a///b"},
		{"keep slashes with dots", "/a//./b/..", noMerge, "/a//"},
		{"case preserved", "/A/b/C", httpguard.PathOptions{}, "/A/b/C"},
		{"disallowed bytes encoded", "/a\"b{c}|^`<>[]", httpguard.PathOptions{}, "/a%22b%7Bc%7D%7C%5E%60%3C%3E%5B%5D"},
		{"non-ascii encoded", "/caf\xc3\xa9", httpguard.PathOptions{}, "/caf%C3%A9"},
		{"sub-delims kept", "/a!$&'()*+,;=:@b", httpguard.PathOptions{}, "/a!$&'()*+,;=:@b"},
		{"encoded control kept escaped", "/a%0Ab", httpguard.PathOptions{}, "/a%0Ab"},
		{"kept escaped slash upper-cased", "/a%2fb%5cc", keep, "/a%2Fb%5Cc"},
		{"kept escaped slash not a separator", "/a%2F..%2Fb/../c", keep, "/c"},
		{"kept escaped slash no dot", "/a/..%2F/b", keep, "/a/..%2F/b"},

		{"empty", "", httpguard.PathOptions{}, ""},
		{"relative", "a/b", httpguard.PathOptions{}, ""},
		{"asterisk", "*", httpguard.PathOptions{}, ""},
		{"query only", "?a", httpguard.PathOptions{}, ""},
		{"escaped slash rejected", "/a%2Fb", httpguard.PathOptions{}, ""},
		{"escaped slash lower rejected", "/a%2fb", httpguard.PathOptions{}, ""},
		{"escaped backslash rejected", "/a%5Cb", httpguard.PathOptions{}, ""},
		{"escaped backslash lower rejected", "/a%5cb", httpguard.PathOptions{}, ""},
		{"literal backslash", "/a\\..\\b", httpguard.PathOptions{}, ""},
		{"literal backslash with keep", "/a\\b", keep, ""},
		{"encoded NUL", "/a%00b", httpguard.PathOptions{}, ""},
		{"raw NUL", "/a\x00b", httpguard.PathOptions{}, ""},
		{"raw CR", "/a\rb", httpguard.PathOptions{}, ""},
		{"raw LF", "/a\nb", httpguard.PathOptions{}, ""},
		{"raw tab", "/a\tb", httpguard.PathOptions{}, ""},
		{"raw DEL", "/a\x7fb", httpguard.PathOptions{}, ""},
		{"space", "/a b", httpguard.PathOptions{}, ""},
		{"fragment", "/a#b", httpguard.PathOptions{}, ""},
		{"fragment in query", "/a?b#c", httpguard.PathOptions{}, ""},
		{"control in query", "/a?b\x01", httpguard.PathOptions{}, ""},
		{"truncated escape", "/a%4", httpguard.PathOptions{}, ""},
		{"bare percent", "/a%", httpguard.PathOptions{}, ""},
		{"non-hex escape", "/a%zz", httpguard.PathOptions{}, ""},
		{"half-hex escape", "/a%4g", httpguard.PathOptions{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := httpguard.NormalizePath(tt.in, tt.opts)
			if tt.want == "" {
				he, ok := httpguard.AsHeadError(err)
				if !ok || he.Status != http.StatusBadRequest {
					t.Fatalf("NormalizePath(%q) = %q, %v; want a 400 HeadError", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("NormalizePath(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
			again, err := httpguard.NormalizePath(got, tt.opts)
			if err != nil || again != got {
				t.Fatalf("not idempotent: NormalizePath(%q) = %q, %v", got, again, err)
			}
		})
	}
}

// TestNormalizePathIdempotent checks the property on a generated set of
// paths built from the pieces that interact: dots, slashes, escapes.
func TestNormalizePathIdempotent(t *testing.T) {
	pieces := []string{"/", "//", ".", "..", "%2e", "%2E%2e", "a", "%41", "%2f", "%5C", "%25", "%2", "~", "\"", "\xff", "?", "?/../", ";", "%00"}
	optsList := []httpguard.PathOptions{
		{},
		{KeepAdjacentSlashes: true},
		{EscapedSlashes: httpguard.KeepEscapedSlashes},
		{KeepAdjacentSlashes: true, EscapedSlashes: httpguard.KeepEscapedSlashes},
	}
	checked := 0
	var walk func(prefix string, depth int)
	walk = func(prefix string, depth int) {
		for _, opts := range optsList {
			once, err := httpguard.NormalizePath(prefix, opts)
			if err != nil {
				continue
			}
			twice, err := httpguard.NormalizePath(once, opts)
			if err != nil || twice != once {
				t.Fatalf("opts %+v: NormalizePath(%q) = %q, but NormalizePath(%q) = %q, %v", opts, prefix, once, once, twice, err)
			}
			checked++
		}
		if depth == 0 {
			return
		}
		for _, p := range pieces {
			walk(prefix+p, depth-1)
		}
	}
	walk("/", 4)
	if checked < 10000 {
		t.Fatalf("only %d normalizable paths checked", checked)
	}
}

func TestNormalizePathNoAllocWhenNormal(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := httpguard.NormalizePath("/api/v1/users/42?x=1", httpguard.PathOptions{}); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("normal path allocated %v times", allocs)
	}
}

func TestPathOptionsValidate(t *testing.T) {
	if err := (httpguard.PathOptions{}).Validate(); err != nil {
		t.Fatalf("zero options: %v", err)
	}
	if err := (httpguard.PathOptions{EscapedSlashes: 7}).Validate(); err == nil {
		t.Fatal("unknown action accepted")
	}
}
