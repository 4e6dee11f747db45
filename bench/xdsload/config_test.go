package xdsload

import (
	"strings"
	"testing"
)

func TestValidateServerMemoryLimit(t *testing.T) {
	tests := []struct {
		limit   string
		wantErr string // what the user reads; empty: valid
	}{
		{limit: ""},
		{limit: "280MiB"},
		{limit: "300000000"},
		{limit: "1GiB"},
		{limit: "off"},
		{limit: "280MB", wantErr: `server memory limit: "280MB" is not a GOMEMLIMIT`},
		{limit: "-1", wantErr: "is not a GOMEMLIMIT"},
		{limit: "lots", wantErr: "is not a GOMEMLIMIT"},
	}
	for _, tt := range tests {
		t.Run(tt.limit, func(t *testing.T) {
			cfg := Default()
			cfg.ServerMemoryLimit = tt.limit
			err := cfg.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Validate() = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}
