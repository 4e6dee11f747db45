package dataplane

import "testing"

func TestClassify(t *testing.T) {
	tests := []struct {
		in       string
		protocol string
		done     bool
	}{
		{"", "", false},
		{"G", "", false},
		{"GET / HTTP/1.1\r\n", protoHTTP11, true},
		{"GET / HTTP/1.1\r", protoHTTP11, false},
		{"POST /x?y=1 HTTP/1.0\r\nHost: a\r\n", protoHTTP10, true},
		{"M-SEARCH * HTTP/1.1\r\n", protoHTTP11, true},
		{"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", protoH2C, true},
		{"PRI * HTTP/2.0\r\n", protoH2C, false},
		{"PUT /a HTTP/2.0\r\n", "", true},
		{"PING\r\n", "", true},
		{"get / HTTP/1.1\r\n", "", true},
		{"GET  / HTTP/1.1\r\n", "", true},
		{"GET / HTTP/1.1 \r\n", "", true},
		{"\x16\x03\x01\x02\x00", "", true},
		{"SSH-2.0-OpenSSH_9.6\r\n", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			protocol, done := classify([]byte(tt.in))
			if done != tt.done || (done && protocol != tt.protocol) {
				t.Errorf("classify(%q) = %q, %v; want %q, %v", tt.in, protocol, done, tt.protocol, tt.done)
			}
		})
	}
}
