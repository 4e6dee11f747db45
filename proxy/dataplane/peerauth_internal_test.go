package dataplane

import (
	"net"
	"testing"
	"time"
)

func TestClassifyTLS(t *testing.T) {
	tests := []struct {
		in        string
		tls, done bool
	}{
		{"", false, false},
		{"\x16", false, false},
		{"\x16\x03", false, false},
		{"\x16\x03\x01", true, true}, // TLS 1.0 record version, as ClientHellos send
		{"\x16\x03\x04\x02\x00", true, true},
		{"\x16\x03\x05", false, true},
		{"\x16\x02\x00", false, true},
		{"\x17\x03\x03", false, true}, // application data: not a handshake
		{"GET / HTTP/1.1\r\n", false, true},
		{"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			tls, done := classifyTLS([]byte(tt.in))
			if done != tt.done || tls != tt.tls {
				t.Errorf("classifyTLS(%q) = %v, %v; want %v, %v", tt.in, tls, done, tt.tls, tt.done)
			}
		})
	}
}

// TestInspectTLS checks the decision and the replay of what was read on
// a real socket pair: a byte-at-a-time ClientHello, plaintext, a client
// that sends nothing, and one that closes at once.
func TestInspectTLS(t *testing.T) {
	tests := []struct {
		name      string
		send      []string // written one by one, 10 ms apart
		close     bool
		transport string
		result    string
	}{
		{"TLS record sent byte by byte", []string{"\x16", "\x03", "\x01\x00\x05"}, false, transportTLS, detectedTLS},
		{"HTTP", []string{"GET / HTTP/1.1\r\n"}, false, transportRaw, detectedPlaintext},
		{"nothing in time", nil, false, transportRaw, detectedTimeout},
		{"EOF", nil, true, transportRaw, detectedPlaintext},
		{"EOF in the record header", []string{"\x16\x03"}, true, transportRaw, detectedPlaintext},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, server := tcpPair(t)
			go func() {
				for _, s := range tt.send {
					_, _ = client.Write([]byte(s))
					time.Sleep(10 * time.Millisecond)
				}
				if tt.close {
					_ = client.Close()
				}
			}()
			transport, result, replay := inspectTLS(server, time.Now().Add(sniffBudget))
			if transport != tt.transport || result != tt.result {
				t.Fatalf("inspectTLS = %q, %q; want %q, %q", transport, result, tt.transport, tt.result)
			}
			// Whatever was sent reaches the chain, the inspected bytes first.
			var want string
			for _, s := range tt.send {
				want += s
			}
			got := make([]byte, len(want))
			_ = replay.SetReadDeadline(time.Now().Add(5 * time.Second))
			if n, err := readFull(replay, got); err != nil || string(got[:n]) != want {
				t.Errorf("replayed %q (%v), want %q", got[:n], err, want)
			}
		})
	}
}

func readFull(c net.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := c.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var d net.Dialer
	client, err = d.DialContext(t.Context(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		client.Close()
		server.Close()
	})
	return client, server
}

// TestChainPrecedence checks Envoy's order: transport_protocol first, the
// chains naming it or else those naming none, then application_protocols
// within them, without backtracking.
func TestChainPrecedence(t *testing.T) {
	mtlsHTTP := &chainConfig{transport: transportTLS, protocols: []string{protoHTTP11, protoH2C}}
	mtlsTCP := &chainConfig{transport: transportTLS}
	plainHTTP := &chainConfig{transport: transportRaw, protocols: []string{protoHTTP11}}
	anyTCP := &chainConfig{}
	lc := &listenerConfig{chains: []*chainConfig{mtlsHTTP, mtlsTCP, plainHTTP, anyTCP}}
	tests := []struct {
		transport, protocol string
		want                *chainConfig
	}{
		{transportTLS, protoH2C, mtlsHTTP},
		{transportTLS, "", mtlsTCP},
		{transportRaw, protoHTTP11, plainHTTP},
		// raw_buffer chains exist, none is a default: no backtracking
		// to the chain that names no transport protocol.
		{transportRaw, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.transport+" "+tt.protocol, func(t *testing.T) {
			if got := chooseChain(lc.group(tt.transport), tt.protocol); got != tt.want {
				t.Errorf("chain = %+v, want %+v", got, tt.want)
			}
		})
	}
	// Without raw_buffer chains, plaintext takes those naming none.
	lc.chains = []*chainConfig{mtlsTCP, anyTCP}
	if got := chooseChain(lc.group(transportRaw), ""); got != anyTCP {
		t.Errorf("plaintext took %+v, want the chain without transport_protocol", got)
	}
}
