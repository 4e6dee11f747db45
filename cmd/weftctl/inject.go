package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/weftmesh/weft/injector"
)

// runInject is "weftctl inject": the injection engine the webhook runs,
// applied to manifests on disk, so users can see (or apply) what the
// webhook would do.
func runInject(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("weftctl inject", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("f", "", "YAML file of workloads to inject (- for stdin); multi-document files and Lists are read")
	configFile := fs.String("config", "", "mesh configuration: the config.yaml of the ConfigMap weft-system/weft-injector (default: built-in defaults)")
	quiet := fs.Bool("q", false, "do not report on stderr what was injected or skipped")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *file == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "weftctl inject: -f FILE is required, and nothing else")
		fs.Usage()
		return 2
	}
	if err := inject(*file, *configFile, *quiet, stdin, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "weftctl inject: %v\n", err)
		return 1
	}
	return 0
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
