package xdsclient

import "fmt"

// Protocol is the ADS variant a Client speaks. Both keep the same state and
// hand the Handler the same complete sets; they differ in what crosses the
// wire.
type Protocol string

// Protocols.
const (
	// ProtocolSotW is state of the world (StreamAggregatedResources):
	// every CDS and LDS response carries the whole set of its type, and a
	// control plane that versions its snapshots as a whole resends every
	// type on every change. The zero Protocol is SotW.
	ProtocolSotW Protocol = "sotw"
	// ProtocolDelta is incremental xDS (DeltaAggregatedResources):
	// responses carry only the resources that changed and the names of
	// those removed, and a reconnect names the versions the client holds.
	ProtocolDelta Protocol = "delta"
)

// String returns the protocol's name; the zero Protocol is "sotw".
func (p Protocol) String() string {
	if p == "" {
		return string(ProtocolSotW)
	}
	return string(p)
}

// MarshalText and UnmarshalText make Protocol a flag.TextVar.
func (p Protocol) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText accepts "delta" and "sotw".
func (p *Protocol) UnmarshalText(b []byte) error {
	v := Protocol(b)
	if v == "" {
		return v.errInvalid()
	}
	if err := v.Validate(); err != nil {
		return err
	}
	*p = v
	return nil
}

// Validate accepts the Protocols above and the zero Protocol.
func (p Protocol) Validate() error {
	switch p {
	case "", ProtocolSotW, ProtocolDelta:
		return nil
	}
	return p.errInvalid()
}

func (p Protocol) errInvalid() error {
	return fmt.Errorf("xDS protocol %q: want %s or %s", string(p), ProtocolDelta, ProtocolSotW)
}
