package route_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// FuzzMatch feeds arbitrary authorities, paths and header values to a
// table using every feature and checks that Match never panics and always
// returns a well-formed Decision.
func FuzzMatch(f *testing.F) {
	for _, s := range [][3]string{
		{"web.example", "/api/x?q", "1"},
		{"a.web.example:80", "/split", ""},
		{"[::1]:80", "/re?x", "x"},
		{"WEB.EXAMPLE", "/plain/abc", "A"},
		{"", "*", ""},
		{"web.", "/re", "%zz"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	tbl := compile(f, parse(f, fullConfig))
	f.Fuzz(func(t *testing.T, host, target, value string) {
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return
		}
		r := &http.Request{Method: "GET", URL: u, Host: host, Header: http.Header{"X-A": {value}}}
		var n uint64
		d, ok := tbl.Match(r, func() uint64 { n += 7; return n })
		if !ok {
			return
		}
		set := 0
		if d.Cluster != "" {
			set++
		}
		if d.Redirect != nil {
			set++
			if !strings.HasPrefix(d.Redirect.Location, "https://") {
				t.Errorf("redirect Location %q", d.Redirect.Location)
			}
		}
		if d.Direct != nil {
			set++
		}
		if set != 1 || d.Route == nil {
			t.Errorf("malformed decision %+v", d)
		}
		if d.Path != "" && d.Path[0] != '/' {
			t.Errorf("rewritten path %q", d.Path)
		}
	})
}
