package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/weftmesh/weft/proxy/identity"
)

// The kinds of configuration proxy-config shows; secrets come from the
// admin port's /certs, the others from /config_dump.
var proxyConfigKinds = []string{"listeners", "routes", "clusters", "endpoints", "secrets"}

func newProxyConfigCmd(s streams) *cobra.Command {
	var (
		kf       kubeFlags
		output   string
		adminURL string
	)
	cmd := &cobra.Command{
		Use:   "proxy-config POD [listeners|routes|clusters|endpoints|secrets]",
		Short: "Show the configuration a pod's sidecar applied",
		Long: `proxy-config shows what a pod's weft-proxy sidecar has applied, read from
its admin port (15000, loopback only) through a port-forward by the API
server, or from --admin-url: listeners (address, bound or virtual, filter
chains), routes (virtual hosts, domains, match → cluster), clusters (type,
endpoints, TLS), endpoints (address, health, weight) and secrets (the
workload certificate and the trust bundle's roots, never a private key).
Without a kind, all of them.

-o table (default) is for reading; -o yaml and -o json print the resources
as the proxy holds them (Envoy v3, protojson).`,
		Example: `  weftctl proxy-config web-5d9c7-abcde -n shop routes
  weftctl proxy-config web-5d9c7-abcde -n shop clusters -o yaml
  weftctl proxy-config web --admin-url http://127.0.0.1:15000 secrets`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) < 1 || len(args) > 2 {
				return usageErrorf("proxy-config takes a pod and optionally a kind (%s), got %d arguments", strings.Join(proxyConfigKinds, ", "), len(args))
			}
			if len(args) == 2 && !slices.Contains(proxyConfigKinds, args[1]) {
				return usageErrorf("unknown kind %q: want one of %s", args[1], strings.Join(proxyConfigKinds, ", "))
			}
			return nil
		},
		ValidArgsFunction: func(_ *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
			if len(args) == 1 {
				return proxyConfigKinds, cobra.ShellCompDirectiveNoFileComp
			}
			return nil, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if !slices.Contains([]string{"table", "yaml", "json"}, output) {
				return usageErrorf("-o %q: want table, yaml or json", output)
			}
			target := proxyTarget{Pod: args[0], URL: adminURL}
			var cfg *rest.Config
			if adminURL == "" {
				var err error
				if cfg, target.Namespace, err = kf.restConfig(); err != nil {
					return err
				}
			}
			kinds := proxyConfigKinds
			if len(args) == 2 {
				kinds = args[1:]
			}
			pc, err := fetchProxyConfig(cmd.Context(), cfg, target, kinds)
			if err != nil {
				return err
			}
			return pc.write(s.out, kinds, output, time.Now())
		},
	}
	kf.register(cmd.Flags())
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table, yaml or json")
	cmd.Flags().StringVar(&adminURL, "admin-url", "", "read the sidecar's admin port at this URL (e.g. http://127.0.0.1:15000 after kubectl port-forward POD 15000) instead of through the API server")
	return cmd
}

// proxyConfig is what a sidecar's admin port says of its configuration.
type proxyConfig struct {
	// raw is /config_dump as sent; dump is it read for the tables.
	raw   map[string]json.RawMessage
	dump  configDump
	certs *identity.Certs
}

// fetchProxyConfig reads /config_dump, and /certs when secrets are asked
// for.
func fetchProxyConfig(ctx context.Context, cfg *rest.Config, target proxyTarget, kinds []string) (*proxyConfig, error) {
	pc := &proxyConfig{}
	if slices.ContainsFunc(kinds, func(k string) bool { return k != "secrets" }) {
		body, err := proxyGet(ctx, cfg, target, "/config_dump")
		if err != nil {
			return nil, err
		}
		// The admin port encodes the dump as a JSON value, once more
		// wrapped in a string or not: accept both.
		var inner json.RawMessage = body
		var s string
		if json.Unmarshal(body, &s) == nil {
			inner = json.RawMessage(s)
		}
		if err := json.Unmarshal(inner, &pc.raw); err != nil {
			return nil, fmt.Errorf("proxy admin /config_dump is not a JSON object: %w", err)
		}
		if err := json.Unmarshal(inner, &pc.dump); err != nil {
			return nil, fmt.Errorf("proxy admin /config_dump: %w", err)
		}
	}
	if slices.Contains(kinds, "secrets") {
		body, err := proxyGet(ctx, cfg, target, "/certs")
		if err != nil {
			return nil, err
		}
		pc.certs = &identity.Certs{}
		if err := json.Unmarshal(body, pc.certs); err != nil {
			return nil, fmt.Errorf("proxy admin /certs: %w", err)
		}
	}
	return pc, nil
}

// write prints kinds in format; now is for the certificates' remaining
// lifetime.
func (pc *proxyConfig) write(w io.Writer, kinds []string, format string, now time.Time) error {
	if format != "table" {
		return pc.writeResources(w, kinds, format)
	}
	for i, kind := range kinds {
		if len(kinds) > 1 {
			if i > 0 {
				fmt.Fprintln(w)
			}
			fmt.Fprintf(w, "%s:\n", strings.ToUpper(kind))
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, row := range pc.table(kind, now) {
			fmt.Fprintln(tw, strings.Join(row, "\t"))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// writeResources prints the resources of kinds as JSON or YAML: a list
// for one kind, an object keyed by kind for several.
func (pc *proxyConfig) writeResources(w io.Writer, kinds []string, format string) error {
	pick := func(kind string) (json.RawMessage, error) {
		if kind == "secrets" {
			return json.Marshal(pc.certs)
		}
		if v, ok := pc.raw[kind]; ok && string(v) != "null" {
			return v, nil
		}
		return json.RawMessage("[]"), nil
	}
	var doc json.RawMessage
	if len(kinds) == 1 {
		v, err := pick(kinds[0])
		if err != nil {
			return err
		}
		doc = v
	} else {
		all := map[string]json.RawMessage{}
		for _, k := range kinds {
			v, err := pick(k)
			if err != nil {
				return err
			}
			all[k] = v
		}
		var err error
		if doc, err = json.Marshal(all); err != nil {
			return err
		}
	}
	if format == "yaml" {
		out, err := yaml.JSONToYAML(doc)
		if err != nil {
			return err
		}
		_, err = w.Write(out)
		return err
	}
	var b bytes.Buffer
	if err := json.Indent(&b, doc, "", "  "); err != nil {
		return err
	}
	b.WriteByte('\n')
	_, err := w.Write(b.Bytes())
	return err
}
