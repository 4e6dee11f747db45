package integration

import (
	"bufio"
	"maps"
	"path/filepath"
	"testing"
	"time"
)

// TestMalformedConfigKeepsTheLastGood breaks the mesh YAML while traffic
// flows: the control plane must keep serving the last good configuration
// (no proxy gets a new version) and connections keep working; fixing the
// file is then picked up.
func TestMalformedConfigKeepsTheLastGood(t *testing.T) {
	f := newMesh(t, 75)
	conn := f.frontendDial()
	r := bufio.NewReader(conn)
	f.mustRoundTrip(conn, r, "before")
	before := ackedVersions(f)
	if len(before) < 5 { // CDS and LDS for both proxies, EDS for the frontend
		t.Fatalf("proxies acknowledged too little before the change: %v", before)
	}

	// A port out of range: a validation error on a known line.
	writeFile(t, filepath.Join(f.cpCfg.ConfigDir, "broken.yaml"), `apiVersion: v1
kind: Service
metadata: {name: broken, namespace: shop}
spec:
  selector: {app: backend}
  ports:
  - {name: tcp, port: 70000}
`)
	time.Sleep(1500 * time.Millisecond) // several debounce periods
	if after := ackedVersions(f); !maps.Equal(before, after) {
		t.Fatalf("a malformed file changed what proxies run:\nbefore %v\nafter  %v", before, after)
	}
	f.mustRoundTrip(conn, r, "while the file is broken")
	conn2 := f.frontendDial()
	f.mustRoundTrip(conn2, bufio.NewReader(conn2), "new connection while the file is broken")

	// Once fixed, the file is loaded. No workload calls the new service,
	// so look for it in the control plane's mesh.
	writeFile(t, filepath.Join(f.cpCfg.ConfigDir, "broken.yaml"), `apiVersion: v1
kind: Service
metadata: {name: fixed, namespace: shop}
spec:
  selector: {app: backend}
  ports:
  - {name: tcp, port: 7000}
`)
	waitFor(t, "the fixed file to be loaded", func() bool {
		m := f.cp.XDS().Mesh()
		return m != nil && len(m.Services) == 2
	})
}

// ackedVersions maps node and type URL to the version that proxy last
// acknowledged.
func ackedVersions(f *meshFixture) map[string]string {
	out := map[string]string{}
	for _, st := range f.cp.XDS().Status() {
		for typ, v := range st.Acked {
			out[st.Node+" "+typ] = v
		}
	}
	return out
}
