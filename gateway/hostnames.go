package gateway

import (
	"strings"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// Hostnames returns the hostnames a route with hostnames route serves on
// a listener with hostname listener (nil: none), lower-cased, by Gateway
// API's rules: a wildcard ("*.example.com") stands for every name below
// it, and where one name covers the other the more specific is kept. An
// empty result with ok true means every hostname (neither names one);
// ok false means they share none, and the route does not attach.
func Hostnames(listener *gwv1.Hostname, route []gwv1.Hostname) (names []string, ok bool) {
	l := ""
	if listener != nil {
		l = strings.ToLower(string(*listener))
	}
	switch {
	case len(route) == 0 && l == "":
		return nil, true
	case len(route) == 0:
		return []string{l}, true
	}
	for _, h := range route {
		h := strings.ToLower(string(h))
		name, hit := h, l == ""
		if !hit {
			name, hit = intersect(l, h)
		}
		if hit && !contains(names, name) {
			names = append(names, name)
		}
	}
	return names, len(names) > 0
}

// intersect returns the more specific of a and b when one covers the
// other (equal, or a wildcard covering the other).
func intersect(a, b string) (string, bool) {
	switch {
	case a == b:
		return a, true
	case covers(a, b):
		return b, true
	case covers(b, a):
		return a, true
	}
	return "", false
}

// covers reports whether wildcard w ("*.example.com") covers h: h ends in
// ".example.com" and has at least one label before it. A wildcard h
// ("*.a.example.com") is covered as the names it stands for are.
func covers(w, h string) bool {
	if !strings.HasPrefix(w, "*.") {
		return false
	}
	suffix := w[1:]
	return len(h) > len(suffix) && strings.HasSuffix(h, suffix)
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
