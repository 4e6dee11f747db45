package integration

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestAdminPort checks what an operator reads on a sidecar's admin port:
// readiness, the applied configuration, the certificates (never a private
// key) and Go's profiles.
func TestAdminPort(t *testing.T) {
	f := newMesh(t, 78)
	base := "http://" + f.frontend.AdminAddr().String()
	get := func(path string) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}

	if code, body := get("/ready"); code != http.StatusOK {
		t.Errorf("/ready = %d %q", code, body)
	}
	code, body := get("/config_dump")
	var dump map[string]json.RawMessage
	if code != http.StatusOK || json.Unmarshal([]byte(body), &dump) != nil || dump["listeners"] == nil {
		t.Errorf("/config_dump = %d, not JSON with listeners: %.200s", code, body)
	}
	if !strings.Contains(body, "outbound|backend.shop|9000") {
		t.Errorf("/config_dump lacks the outbound listener: %.300s", body)
	}
	code, body = get("/certs")
	if code != http.StatusOK || !strings.Contains(body, frontendID) {
		t.Errorf("/certs = %d without the frontend's SPIFFE ID: %.300s", code, body)
	}
	if strings.Contains(strings.ToLower(body), "private") {
		t.Errorf("/certs mentions a private key: %.300s", body)
	}
	if code, body := get("/debug/pprof/heap?debug=1"); code != http.StatusOK || !strings.Contains(body, "heap profile") {
		t.Errorf("/debug/pprof/heap = %d %.100q", code, body)
	}
}
