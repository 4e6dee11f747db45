package httpguard_test

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/weftmesh/weft/proxy/httpguard"
)

var chunkedBodies = []struct {
	name   string
	in     string
	want   string // decoded body when status is 0
	status int    // 0: accepted; -1: io.ErrUnexpectedEOF
}{
	{"empty", "0\r\n\r\n", "", 0},
	{"one chunk", "5\r\nhello\r\n0\r\n\r\n", "hello", 0},
	{"two chunks", "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", "abcde", 0},
	{"hex upper and lower", "A\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n", strings.Repeat("0123456789", 2), 0},
	{"leading zeros", "0005\r\nhello\r\n000\r\n\r\n", "hello", 0},
	{"extension", "5;name\r\nhello\r\n0\r\n\r\n", "hello", 0},
	{"extension value", "5;a=b;c=\"d;e\\\"f\"\r\nhello\r\n0;x=y\r\n\r\n", "hello", 0},
	{"extension bws", "5 ; a = b\r\nhello\r\n0\r\n\r\n", "hello", 0},
	{"trailer", "5\r\nhello\r\n0\r\nX-Sum: 1\r\n\r\n", "hello", 0},
	{"data with CRLF inside", "4\r\n\r\n\r\n\r\n0\r\n\r\n", "\r\n\r\n", 0},

	{"bare LF after size", "5\nhello\r\n0\r\n\r\n", "", 400},
	{"bare LF after data", "5\r\nhello\n0\r\n\r\n", "", 400},
	{"missing CRLF after data", "5\r\nhelloX\r\n0\r\n\r\n", "", 400},
	{"data longer than size", "3\r\nhello\r\n0\r\n\r\n", "", 400},
	{"CR only after data", "5\r\nhello\rX0\r\n\r\n", "", 400},
	{"empty size", "\r\nhello\r\n0\r\n\r\n", "", 400},
	{"non-hex size", "g\r\nhello\r\n0\r\n\r\n", "", 400},
	{"signed size", "+5\r\nhello\r\n0\r\n\r\n", "", 400},
	{"negative size", "-5\r\nhello\r\n0\r\n\r\n", "", 400},
	{"0x prefix", "0x5\r\nhello\r\n0\r\n\r\n", "", 400},
	{"space before size", " 5\r\nhello\r\n0\r\n\r\n", "", 400},
	{"trailing space after size", "5 \r\nhello\r\n0\r\n\r\n", "", 400},
	{"size overflow", "8000000000000000\r\nx\r\n", "", 400},
	{"size far overflow", "fffffffffffffffffff\r\nx\r\n", "", 400},
	{"extension without name", "5;\r\nhello\r\n0\r\n\r\n", "", 400},
	{"extension without semicolon", "5 x\r\nhello\r\n0\r\n\r\n", "", 400},
	{"extension bad value", "5;a=\r\nhello\r\n0\r\n\r\n", "", 400},
	{"extension unterminated quote", "5;a=\"b\r\nhello\r\n0\r\n\r\n", "", 400},
	{"extension control byte", "5;a=\"b\x01\"\r\nhello\r\n0\r\n\r\n", "", 400},
	{"extension too long", "5;" + strings.Repeat("a", 5000) + "\r\nhello\r\n0\r\n\r\n", "", 400},
	{"trailer obs-fold", "0\r\nX: a\r\n b\r\n\r\n", "", 400},
	{"trailer bare LF", "0\r\nX: a\n\r\n", "", 400},
	{"trailer too many", "0\r\n" + strings.Repeat("X: a\r\n", 101) + "\r\n", "", 431},
	{"trailer too large", "0\r\nX: " + strings.Repeat("a", 61<<10) + "\r\n\r\n", "", 431},

	{"cut in size", "5", "", -1},
	{"cut in data", "5\r\nhel", "", -1},
	{"cut before CRLF", "5\r\nhello", "", -1},
	{"cut in CRLF", "5\r\nhello\r", "", -1},
	{"cut before last chunk", "5\r\nhello\r\n", "", -1},
	{"cut in trailers", "0\r\n", "", -1},
	{"cut in trailer field", "0\r\nX: a\r\n", "", -1},
}

func TestChunkedReader(t *testing.T) {
	readers := []struct {
		name string
		wrap func(io.Reader) io.Reader
	}{
		{"whole", func(r io.Reader) io.Reader { return r }},
		{"one byte at a time", iotest.OneByteReader},
	}
	for _, rd := range readers {
		for _, tt := range chunkedBodies {
			t.Run(rd.name+"/"+tt.name, func(t *testing.T) {
				br := bufio.NewReaderSize(rd.wrap(strings.NewReader(tt.in+"NEXT")), 16)
				if tt.status == -1 {
					br = bufio.NewReaderSize(rd.wrap(strings.NewReader(tt.in)), 16)
				}
				cr := httpguard.NewChunkedReader(br, httpguard.Limits{})
				got, err := io.ReadAll(iotest.OneByteReader(cr))
				switch tt.status {
				case 0:
					if err != nil || string(got) != tt.want {
						t.Fatalf("read %q, %v; want %q", got, err, tt.want)
					}
					rest, _ := io.ReadAll(br)
					if string(rest) != "NEXT" {
						t.Fatalf("reader left at %q; want the next request", rest)
					}
				case -1:
					if !errors.Is(err, io.ErrUnexpectedEOF) {
						t.Fatalf("read %q, %v; want unexpected EOF", got, err)
					}
				default:
					he, ok := httpguard.AsHeadError(err)
					if !ok || he.Status != tt.status {
						t.Fatalf("read %q, %v; want status %d", got, err, tt.status)
					}
				}
			})
		}
	}
}

func TestChunkedReaderTrailer(t *testing.T) {
	br := bufio.NewReader(strings.NewReader("2\r\nhi\r\n0\r\ngrpc-status: 0\r\nX-A: b\r\n\r\n"))
	cr := httpguard.NewChunkedReader(br, httpguard.Limits{})
	if cr.Trailer() != nil {
		t.Fatal("trailer before EOF")
	}
	if _, err := io.ReadAll(cr); err != nil {
		t.Fatal(err)
	}
	tr := cr.Trailer()
	if tr.Get("Grpc-Status") != "0" || tr.Get("X-A") != "b" || len(tr) != 2 {
		t.Fatalf("trailer = %v", tr)
	}
}

// TestChunkedReaderNoDataBeforeValidation checks that no byte of a chunk is
// returned before its size line is validated.
func TestChunkedReaderNoDataBeforeValidation(t *testing.T) {
	br := bufio.NewReader(strings.NewReader("5;bad ext\r\nhello\r\n0\r\n\r\n"))
	n, err := httpguard.NewChunkedReader(br, httpguard.Limits{}).Read(make([]byte, 10))
	if n != 0 || err == nil {
		t.Fatalf("Read = %d, %v; want 0 bytes and an error", n, err)
	}
}

func TestLimitBody(t *testing.T) {
	tests := []struct {
		body    string
		max     int64
		tooLong bool
	}{
		{"", 0, false},
		{"abc", 3, false},
		{"abc", 2, true},
		{strings.Repeat("x", 100000), 99999, true},
		{strings.Repeat("x", 100000), 100000, false},
	}
	for _, tt := range tests {
		got, err := io.ReadAll(httpguard.LimitBody(strings.NewReader(tt.body), tt.max))
		he, _ := httpguard.AsHeadError(err)
		if tt.tooLong {
			if he == nil || he.Status != 413 || int64(len(got)) > tt.max {
				t.Errorf("len %d max %d: read %d bytes, %v; want 413", len(tt.body), tt.max, len(got), err)
			}
			continue
		}
		if err != nil || string(got) != tt.body {
			t.Errorf("len %d max %d: read %d bytes, %v", len(tt.body), tt.max, len(got), err)
		}
	}
}
