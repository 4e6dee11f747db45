package ca

import (
	"errors"
	"fmt"
)

// ErrInvalidCSR is matched (with errors.Is) by every error that rejects a
// certificate request because of what the caller sent: the CSR itself or the
// lifetime it asked for. Such errors are *RejectionError values.
var ErrInvalidCSR = errors.New("invalid certificate request")

// IsInvalidCSR reports whether err rejects a certificate request because of
// what the caller sent.
func IsInvalidCSR(err error) bool { return errors.Is(err, ErrInvalidCSR) }

// Reason classifies a rejection. Reasons are few and stable so that they can
// label metrics.
type Reason string

// Reasons a certificate request is rejected.
const (
	ReasonMalformed     Reason = "malformed_csr"
	ReasonBadSignature  Reason = "bad_signature"
	ReasonBadSAN        Reason = "bad_san"
	ReasonWrongIdentity Reason = "wrong_identity"
	ReasonBadKey        Reason = "bad_key"
	ReasonBadTTL        Reason = "bad_ttl"
	ReasonWildcard      Reason = "wildcard"
	ReasonNULByte       Reason = "nul_byte"
	ReasonCARequested   Reason = "ca_requested"
)

// RejectionError says why a certificate request was rejected.
type RejectionError struct {
	Reason Reason
	// Detail is a sentence for the caller, e.g. "CSR has 2 URI SANs, want
	// exactly 1".
	Detail string
}

func (e *RejectionError) Error() string {
	return fmt.Sprintf("%v: %s", ErrInvalidCSR, e.Detail)
}

// Is makes errors.Is(err, ErrInvalidCSR) true.
func (e *RejectionError) Is(target error) bool { return target == ErrInvalidCSR }

func reject(reason Reason, format string, args ...any) error {
	return &RejectionError{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}
