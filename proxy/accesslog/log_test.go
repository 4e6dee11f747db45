package accesslog_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/weftmesh/weft/proxy/accesslog"
)

// TestWriteToFile: concurrent writers append whole lines to the file,
// one JSON object each, with response_flags "-" when they set none.
func TestWriteToFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	log := accesslog.New(accesslog.NewFileWriter(path))
	const n = 50
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			e := &accesslog.Entry{Protocol: accesslog.ProtocolTCP, BytesSent: int64(i)}
			if i%2 == 1 {
				e.ResponseFlags = "UF"
			}
			log.Write(e)
		})
	}
	wg.Wait()

	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != n {
		t.Fatalf("%d lines, want %d", len(lines), n)
	}
	seen := make(map[int64]bool, n)
	for _, line := range lines {
		var e accesslog.Entry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		want := map[bool]string{false: "-", true: "UF"}[e.BytesSent%2 == 1]
		if e.ResponseFlags != want || e.Protocol != "TCP" {
			t.Errorf("line %q: flags %q, protocol %q; want %q, TCP", line, e.ResponseFlags, e.Protocol, want)
		}
		seen[e.BytesSent] = true
	}
	if len(seen) != n {
		t.Errorf("%d distinct lines, want %d", len(seen), n)
	}
}
