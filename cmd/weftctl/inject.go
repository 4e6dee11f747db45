package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/weftmesh/weft/injector"
)

// newInjectCmd is "weftctl inject": the injection engine the webhook runs,
// applied to manifests on disk, so users can see (or apply) what the
// webhook would do.
func newInjectCmd(s streams) *cobra.Command {
	var file, configFile string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "inject -f FILE",
		Short: "Print the workloads of FILE (- for stdin) with the Weft sidecar injected, as the webhook would",
		Example: `  weftctl inject -f deployment.yaml | kubectl apply -f -
  weftctl inject -f FILE --config config.yaml   # the ConfigMap weft-system/weft-injector's config.yaml`,
		RunE: func(_ *cobra.Command, args []string) error {
			if file == "" || len(args) > 0 {
				return usageErrorf("inject: -f FILE is required, and nothing else")
			}
			return inject(file, configFile, quiet, s.in, s.out, s.err)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&file, "file", "f", "", "YAML file of workloads to inject (- for stdin); multi-document files and Lists are read")
	f.StringVar(&configFile, "config", "", "mesh configuration: the config.yaml of the ConfigMap weft-system/weft-injector (default: built-in defaults)")
	f.BoolVarP(&quiet, "quiet", "q", false, "do not report on stderr what was injected or skipped")
	return cmd
}

func inject(file, configFile string, quiet bool, stdin io.Reader, stdout, stderr io.Writer) error {
	cfg := injector.DefaultConfig()
	if configFile != "" {
		text, err := os.ReadFile(configFile)
		if err != nil {
			return err
		}
		if cfg, err = injector.ParseConfig(text); err != nil {
			return fmt.Errorf("%s: %w", configFile, err)
		}
	}
	var in []byte
	var err error
	if file == "-" {
		in, err = io.ReadAll(stdin)
	} else {
		in, err = os.ReadFile(file)
	}
	if err != nil {
		return err
	}
	out, results, err := injector.InjectManifests(cfg, in)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if _, err := stdout.Write(out); err != nil {
		return err
	}
	if !quiet {
		for _, r := range results {
			what := "injected"
			if !r.Result.Injected {
				what = "skipped: " + r.Result.Skipped
			}
			name := r.Name
			if r.Namespace != "" {
				name = r.Namespace + "/" + r.Name
			}
			fmt.Fprintf(stderr, "%s %s: %s\n", r.Kind, name, what)
		}
	}
	return nil
}
