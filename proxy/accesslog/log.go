// Package accesslog writes the proxy's access log: one JSON object per
// line, for each HTTP request (package httpproxy) and each TCP connection
// (package dataplane), with the same field names, so that one parser
// reads both. docs/troubleshooting.md "Access logs" describes the lines.
package accesslog

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// ProtocolTCP is the protocol of a TCP connection's line; HTTP lines say
// the request's protocol ("HTTP/1.1", "HTTP/2.0").
const ProtocolTCP = "TCP"

// Log writes Entries to one writer, a line each. It is safe for concurrent
// use.
type Log struct {
	mu sync.Mutex
	w  io.Writer
}

// New returns a log writing to w.
func New(w io.Writer) *Log { return &Log{w: w} }

// NewFileWriter returns a writer appending each Write to the file at path,
// created if missing. The file is opened for each line, so that it may be
// rotated and nothing needs closing; it does no I/O now.
func NewFileWriter(path string) io.Writer { return appendFile(path) }

// Entry is one line of the access log. A TCP connection's line leaves
// the HTTP fields (method, path, response_code, x_request_id) empty.
type Entry struct {
	StartTime       time.Time `json:"start_time"`
	Method          string    `json:"method"`
	Path            string    `json:"path"`
	Protocol        string    `json:"protocol"`
	ResponseCode    int       `json:"response_code"`
	ResponseFlags   string    `json:"response_flags"`
	BytesReceived   int64     `json:"bytes_received"`
	BytesSent       int64     `json:"bytes_sent"`
	DurationMillis  int64     `json:"duration_ms"`
	UpstreamHost    string    `json:"upstream_host"`
	UpstreamCluster string    `json:"upstream_cluster"`
	// PeerID is the verified SPIFFE ID of the downstream mTLS client.
	PeerID     string `json:"peer_id"`
	XRequestID string `json:"x_request_id,omitempty"`
	// AuthzPolicy and AuthzReason tell what the RBAC filters decided: the
	// DENY policy key and "denied", "" and "not_allowed", or the ALLOW
	// policy key and "allowed"; AuthzAudit lists the AUDIT (LOG) policies
	// that matched, joined with ",". Empty without RBAC filters.
	AuthzPolicy string `json:"authz_policy,omitempty"`
	AuthzReason string `json:"authz_reason,omitempty"`
	AuthzAudit  string `json:"authz_audit,omitempty"`
}

// Write appends e as one line, with response_flags "-" when it has none.
// A failed write is dropped: logging must not fail what it logs.
func (l *Log) Write(e *Entry) {
	if e.ResponseFlags == "" {
		e.ResponseFlags = "-"
	}
	b, err := json.Marshal(e)
	if err != nil {
		return
	}
	b = append(b, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = l.w.Write(b)
}

// appendFile is an io.Writer appending each Write to a file.
type appendFile string

func (f appendFile) Write(p []byte) (int, error) {
	file, err := os.OpenFile(string(f), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return 0, fmt.Errorf("open access log: %w", err)
	}
	n, err := file.Write(p)
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return n, fmt.Errorf("write access log: %w", err)
	}
	return n, nil
}
