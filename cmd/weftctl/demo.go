package main

import (
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/weftmesh/weft/demo"
)

// newDemoCmd is "weftctl demo": the whole mesh on this machine, no cluster.
func newDemoCmd(s streams) *cobra.Command {
	cfg := demo.Default()
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a control plane, two workloads with sidecars and an ingress gateway on this machine, send traffic through them, and report",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Out = s.out
			return demo.Run(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.BinDir, "bin-dir", defaultBinDir(), "directory holding weft-controlplane and weft-proxy")
	f.IntVar(&cfg.Connections, "connections", cfg.Connections, "kept-alive connections from frontend to backend")
	f.IntVar(&cfg.RoundTrips, "round-trips", cfg.RoundTrips, "request/response exchanges on each kept-alive connection")
	f.IntVar(&cfg.NewConnections, "new-connections", cfg.NewConnections, "extra connections, one exchange each")
	f.IntVar(&cfg.GatewayRequests, "gateway-requests", cfg.GatewayRequests, "HTTPS requests from outside through the ingress gateway")
	f.DurationVar(&cfg.Timeout, "timeout", cfg.Timeout, "time limit for the whole demo")
	f.BoolVar(&cfg.KeepDir, "keep", cfg.KeepDir, "keep the demo's configuration and logs")
	return cmd
}

// defaultBinDir is the directory of weftctl itself: `make build` puts
// every binary side by side in bin/.
func defaultBinDir() string {
	exe, err := os.Executable()
	if err != nil {
		return "bin"
	}
	return filepath.Dir(exe)
}
