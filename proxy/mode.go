package proxy

import (
	"errors"
	"fmt"
)

// Mode is what the proxy stands in front of: a pod (sidecar) or the mesh
// itself, as an ingress gateway behind a LoadBalancer Service
// (docs/gateway.md). Both are driven by xDS alone; a gateway's traffic is
// never captured, so it refuses Capture.
type Mode string

// Modes.
const (
	// ModeSidecar is the default; the zero Mode is a sidecar too.
	ModeSidecar Mode = "sidecar"
	// ModeGateway serves the listeners of a Gateway (weft-proxy
	// --mode=gateway).
	ModeGateway Mode = "gateway"
)

// String returns the mode's name; the zero Mode is "sidecar".
func (m Mode) String() string {
	if m == "" {
		return string(ModeSidecar)
	}
	return string(m)
}

// MarshalText and UnmarshalText make Mode a flag.TextVar.
func (m Mode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText accepts "sidecar" and "gateway".
func (m *Mode) UnmarshalText(b []byte) error {
	switch v := Mode(b); v {
	case ModeSidecar, ModeGateway:
		*m = v
		return nil
	default:
		return fmt.Errorf("mode %q: want %s or %s", b, ModeSidecar, ModeGateway)
	}
}

// validateMode checks Mode and what it excludes.
func (c Config) validateMode() []error {
	switch c.Mode {
	case "", ModeSidecar:
		return nil
	case ModeGateway:
		if c.Capture {
			return []error{errors.New("--mode=gateway refuses --capture: a gateway's traffic comes from its LoadBalancer Service, never from capture rules")}
		}
		return nil
	}
	return []error{fmt.Errorf("--mode %q: want %s or %s", string(c.Mode), ModeSidecar, ModeGateway)}
}
