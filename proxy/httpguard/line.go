package httpguard

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// errLineTooLong is returned by readLine; callers turn it into the status
// that fits the line (414 for the request line, 431 for a field line).
var errLineTooLong = errors.New("line too long")

// readLine reads one CRLF-terminated line of at most max bytes, CRLF
// included, and returns it without the CRLF. It rejects a bare LF and a CR
// anywhere but before the final LF with a 400 *HeadError. It returns io.EOF
// when the reader ends before the first byte and io.ErrUnexpectedEOF when it
// ends inside the line. It never reads past the LF, so the bytes after the
// line stay in r.
func readLine(r *bufio.Reader, maxLen int) (string, error) {
	var long []byte
	for {
		frag, err := r.ReadSlice('\n')
		if len(long)+len(frag) > maxLen {
			return "", errLineTooLong
		}
		switch {
		case err == nil:
		case errors.Is(err, bufio.ErrBufferFull):
			long = append(long, frag...)
			continue
		case errors.Is(err, io.EOF):
			if len(long)+len(frag) == 0 {
				return "", io.EOF
			}
			return "", io.ErrUnexpectedEOF
		default:
			return "", fmt.Errorf("read line: %w", err)
		}
		if long != nil {
			frag = append(long, frag...)
		}
		n := len(frag)
		if n < 2 || frag[n-2] != '\r' {
			return "", badRequest("bare LF line ending")
		}
		line := frag[:n-2]
		for _, c := range line {
			if c == '\r' {
				return "", badRequest("CR not followed by LF")
			}
		}
		return string(line), nil
	}
}
