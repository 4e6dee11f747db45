// Command weftctl is Weft's command-line tool: one cobra command per file of
// this directory, registered in newRootCmd. "weftctl completion bash|zsh|
// fish|powershell" prints a shell completion script.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// streams are the command's standard input and outputs, so that tests run
// commands in process.
type streams struct {
	in       io.Reader
	out, err io.Writer
}

// run runs weftctl with args and returns its exit status: 0 on success, 2
// for a usage error (unknown command or flag, missing argument), 1 when
// the command failed.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCmd(streams{in: stdin, out: stdout, err: stderr}) //nolint:contextcheck // commands take ctx from cmd.Context(), set by ExecuteContext below
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	code := 1
	var ue *usageError
	if errors.As(err, &ue) || strings.HasPrefix(err.Error(), "unknown command") {
		code = 2
	}
	fmt.Fprintf(stderr, "weftctl: %v\n", err)
	if code == 2 {
		fmt.Fprintln(stderr, `Run "weftctl --help" for usage.`)
	}
	return code
}

// newRootCmd is weftctl with every subcommand.
func newRootCmd(s streams) *cobra.Command {
	root := &cobra.Command{
		Use:   "weftctl",
		Short: "Weft's command-line tool",
		Long: `weftctl is Weft's command-line tool.

  weftctl demo               run the whole mesh on this machine and report
  weftctl check [--pre]      can this cluster run Weft, does Weft work in it
  weftctl install            install or upgrade Weft (--dry-run: print the YAML)
  weftctl inject -f FILE     print workloads with the Weft sidecar injected
  weftctl proxy-config POD   what a pod's sidecar applied
  weftctl stat [NAMESPACE]   golden metrics per workload
  weftctl explain --from POD METHOD URL
                             what a request would meet, without sending it`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_ = cmd.Usage()
			return &usageError{errors.New("a command is required")}
		},
	}
	root.SetIn(s.in)
	root.SetOut(s.out)
	root.SetErr(s.err)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	root.AddCommand(
		newDemoCmd(s),
		newInjectCmd(s),
		newExplainCmd(s),
		newCheckCmd(s),
		newProxyConfigCmd(s),
		newInstallCmd(s), newUninstallCmd(s),
		newStatCmd(s),
		newVersionCmd(s),
	)
	return root
}

// usageError is a command line weftctl cannot run: exit status 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usageErrorf is a usageError with a formatted message.
func usageErrorf(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}
