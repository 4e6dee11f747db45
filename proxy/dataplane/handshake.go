package dataplane

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"

	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

// handshake runs the TLS handshake of c, bounded by ctx, and returns the
// peer's SPIFFE ID, verified and authorized by c's configuration.
func handshake(ctx context.Context, c *tls.Conn) (string, error) {
	if err := c.HandshakeContext(ctx); err != nil {
		return "", err
	}
	certs := c.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return "", errors.New("peer presented no certificate")
	}
	id, err := x509svid.IDFromCert(certs[0])
	if err != nil {
		return "", fmt.Errorf("peer certificate: %w", err)
	}
	return id.String(), nil
}

// handshakeReason names why a handshake failed, for the
// tls_handshake_errors_total metric.
func handshakeReason(err error) string {
	var (
		unauthorized *unauthorizedError
		badCert      *peerCertificateError
		record       tls.RecordHeaderError
		alert        tls.AlertError
		op           *net.OpError
	)
	msg := err.Error()
	switch {
	case errors.As(err, &unauthorized):
		return "unauthorized"
	case errors.As(err, &badCert):
		return "bad_certificate"
	case errors.As(err, &record):
		return "plaintext"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	case errors.As(err, &op) && op.Op == "remote error", errors.As(err, &alert):
		return "peer_alert" // the peer refused us, e.g. our certificate
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, net.ErrClosed):
		return "peer_closed"
	// crypto/tls has no typed errors for these two.
	case strings.Contains(msg, "didn't provide a certificate"):
		return "no_client_certificate"
	case strings.Contains(msg, "unsupported versions"), strings.Contains(msg, "protocol version"):
		return "protocol_version"
	}
	return "other"
}
