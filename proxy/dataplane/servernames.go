package dataplane

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
)

// Chains behind the TLS inspector may match the client's SNI with
// filter_chain_match.server_names, as a gateway's HTTPS and TLS listeners
// do (docs/gateway.md). As in Envoy, server names are matched before the
// transport protocol: the chains naming the SNI exactly, else those whose
// wildcard ("*.example.com") is the longest suffix of it, else the chains
// without server_names.

// maxClientHello bounds what the inspector reads to find the SNI.
const maxClientHello = 64 << 10

// parseServerNames checks filter_chain_match.server_names: exact names or
// a leading "*." wildcard, behind the TLS inspector.
func parseServerNames(p *problems, mpath string, m *listenerv3.FilterChainMatch, lc *listenerConfig) []string {
	names := m.GetServerNames()
	if len(names) == 0 {
		return nil
	}
	path := field(mpath, "server_names")
	if !lc.tlsInspect {
		p.Addf(path, "needs the TLS inspector listener filter")
	}
	out := make([]string, 0, len(names))
	for i, n := range names {
		name := strings.ToLower(strings.TrimSuffix(n, "."))
		rest := strings.TrimPrefix(name, "*.")
		if name == "" || rest == "" || strings.Contains(rest, "*") {
			p.Addf(index(path, i), "%q is not a host name or a *.domain wildcard", n)
			continue
		}
		out = append(out, name)
	}
	return out
}

// checkServerNames refuses two chains of a destination port that claim
// the same server name with the same transport protocol: the choice
// between them would be arbitrary.
func checkServerNames(p *problems, lc *listenerConfig) {
	type key struct {
		port            uint16
		name, transport string
	}
	seen := make(map[key]int)
	for i, c := range lc.chains {
		if len(c.protocols) > 0 {
			continue
		}
		for _, n := range c.serverNames {
			k := key{c.destPort, n, c.transport}
			if j, dup := seen[k]; dup {
				p.Addf(index("filter_chains", i), "server name %q is also matched by filter_chains[%d]", n, j)
				continue
			}
			seen[k] = i
		}
	}
}

// hasServerNames reports whether any chain of lc matches server names.
func (lc *listenerConfig) hasServerNames() bool {
	for _, c := range lc.chains {
		if len(c.serverNames) > 0 {
			return true
		}
	}
	return false
}

// serverNameChains returns the chains a connection with this SNI may
// take: those naming it exactly, else those with the most specific
// wildcard matching it, else those without server_names.
func serverNameChains(chains []*chainConfig, sni string) []*chainConfig {
	name := strings.ToLower(strings.TrimSuffix(sni, "."))
	if name != "" {
		candidates := []string{name}
		for i := strings.IndexByte(name, '.'); i >= 0; {
			candidates = append(candidates, "*"+name[i:])
			j := strings.IndexByte(name[i+1:], '.')
			if j < 0 {
				break
			}
			i += 1 + j
		}
		for _, want := range candidates {
			var out []*chainConfig
			for _, c := range chains {
				for _, n := range c.serverNames {
					if n == want {
						out = append(out, c)
						break
					}
				}
			}
			if len(out) > 0 {
				return out
			}
		}
	}
	var out []*chainConfig
	for _, c := range chains {
		if len(c.serverNames) == 0 {
			out = append(out, c)
		}
	}
	return out
}

// inspectClientHello is inspectTLS reading the whole ClientHello, to
// return its SNI ("" without one, or on plaintext) too.
func inspectClientHello(ctx context.Context, c net.Conn, deadline time.Time) (transport, result, sni string, replay net.Conn) {
	buf, end, replay := peek(c, deadline, func(b []byte) bool {
		isTLS, done := classifyTLS(b)
		return done && (!isTLS || clientHelloComplete(b) || len(b) >= maxClientHello)
	})
	isTLS, done := classifyTLS(buf)
	switch {
	case done && isTLS:
		return transportTLS, detectedTLS, clientHelloServerName(ctx, buf), replay
	case !done && end == peekTimeout:
		return transportRaw, detectedTimeout, "", replay
	}
	return transportRaw, detectedPlaintext, "", replay
}

// clientHelloComplete reports whether b holds the whole first handshake
// message, which may span several records; a record of another type ends
// the wait.
func clientHelloComplete(b []byte) bool {
	var hs []byte
	for len(b) >= 5 {
		if b[0] != 0x16 {
			return true
		}
		n := int(b[3])<<8 | int(b[4])
		if len(b) < 5+n {
			return false
		}
		hs = append(hs, b[5:5+n]...)
		b = b[5+n:]
		if len(hs) >= 4 && len(hs) >= 4+(int(hs[1])<<16|int(hs[2])<<8|int(hs[3])) {
			return true
		}
	}
	return false
}

// errHelloRead stops the handshake clientHelloServerName runs once the
// ClientHello is parsed.
var errHelloRead = errors.New("client hello read")

// clientHelloServerName parses a peeked ClientHello with crypto/tls and
// returns its SNI; "" when it has none or does not parse.
func clientHelloServerName(ctx context.Context, hello []byte) string {
	var sni string
	conn := &helloConn{r: bytes.NewReader(hello)}
	_ = tls.Server(conn, &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			sni = h.ServerName
			return nil, errHelloRead
		},
	}).HandshakeContext(ctx)
	return sni
}

// helloConn is a net.Conn that reads bytes already peeked and discards
// what is written (the alert of the aborted handshake).
type helloConn struct {
	r *bytes.Reader
}

func (c *helloConn) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err != nil {
		return n, fmt.Errorf("client hello: %w", err)
	}
	return n, nil
}
func (c *helloConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *helloConn) Close() error                     { return nil }
func (c *helloConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *helloConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *helloConn) SetDeadline(time.Time) error      { return nil }
func (c *helloConn) SetReadDeadline(time.Time) error  { return nil }
func (c *helloConn) SetWriteDeadline(time.Time) error { return nil }
