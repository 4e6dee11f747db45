package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/weftmesh/weft/version"
)

// newVersionCmd is "weftctl version": which build of weftctl this is, in
// the form every Weft binary's --version prints, so a bug report can name
// the exact build.
func newVersionCmd(s streams) *cobra.Command {
	var short bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print weftctl's version, commit and Go version",
		Example: `  weftctl version           # weftctl v0.1.0 (commit abc1234, go1.26.8)
  weftctl version --short   # v0.1.0`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErrorf("version takes no arguments, got %q", args)
			}
			return nil
		},
		RunE: func(_ *cobra.Command, _ []string) error {
			info := version.Get()
			if short {
				_, err := fmt.Fprintln(s.out, info.Version)
				return err
			}
			_, err := fmt.Fprintln(s.out, info.String("weftctl"))
			return err
		},
	}
	cmd.Flags().BoolVar(&short, "short", false, "print the version only")
	return cmd
}
