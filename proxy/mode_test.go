package proxy

import (
	"strings"
	"testing"
)

func TestConfigValidateMode(t *testing.T) {
	for _, tt := range []struct {
		name string
		mode Mode
		want string // "" for valid
	}{
		{"zero is a sidecar", "", ""},
		{"gateway", ModeGateway, ""},
		{"unknown", Mode("edge"), `--mode "edge": want sidecar or gateway`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Default()
			cfg.Name = "gw-1"
			cfg.Mode = tt.mode
			err := cfg.Validate()
			if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
}
