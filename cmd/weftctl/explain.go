package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/weftmesh/weft/proxy/explain"
)

// explainOptions are the flags of "weftctl explain".
type explainOptions struct {
	kube           kubeFlags
	from, to       string
	fromURL, toURL string
	headers        []string
	destination    string
	sourceIP       string
	output         string
}

// newExplainCmd is "weftctl explain": what a request from a workload
// would do, read from the live configuration of its sidecar and of the
// destination's, without sending it (package explain).
func newExplainCmd(s streams) *cobra.Command {
	var o explainOptions
	cmd := &cobra.Command{
		Use:   "explain --from POD [--to POD] METHOD URL",
		Short: "Tell which listener, route, cluster, endpoint and authorization policy a request would meet, without sending it",
		Long: `explain reads the configuration the source pod's sidecar applied (its admin
port's /config_dump) and answers, for one HTTP request of the source's app:
which listener takes the connection, which route and cluster the request
matches (weighted clusters with their weights), which endpoints may take it
(the one picked, for RING_HASH and MAGLEV); then, with --to, which inbound
chain of the destination's sidecar takes it (mTLS or plaintext) and which
authorization policy allows or denies it. Nothing is sent to the apps.

URL is what the app requests: http://<service>[.<namespace>][:port]/path
names a Service (its outbound listener), http://<ip>:<port>/path an address
(a ClusterIP behind capture, the sidecar's local outbound port in standalone
mode); --destination sets the address the app connects to when the Host
differs.`,
		Example: `  weftctl explain -n shop --from frontend-7d9f --to backend-5c4b GET http://backend:8080/admin
  weftctl explain --from frontend-7d9f GET http://backend.shop:8080/ -H 'x-version: v2' -o yaml
  weftctl explain --from-admin-url http://127.0.0.1:15000 --to-admin-url http://127.0.0.1:15100 GET http://127.0.0.1:9000/`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 2 {
				return usageErrorf("explain: want METHOD URL, got %d arguments", len(args))
			}
			if o.from == "" && o.fromURL == "" {
				return usageErrorf("explain: --from POD or --from-admin-url URL is required")
			}
			switch o.output {
			case "", "text", "yaml", "json":
			default:
				return usageErrorf("explain: -o %q: want text, yaml or json", o.output)
			}
			return runExplain(cmd.Context(), s, &o, args[0], args[1])
		},
	}
	f := cmd.Flags()
	o.kube.register(f)
	f.StringVar(&o.from, "from", "", "the source pod, whose app sends the request")
	f.StringVar(&o.to, "to", "", "the destination pod, whose sidecar authorizes the request")
	f.StringVar(&o.fromURL, "from-admin-url", "", "the source sidecar's admin address, reached directly (instead of a port-forward)")
	f.StringVar(&o.toURL, "to-admin-url", "", "the destination sidecar's admin address, reached directly")
	f.StringArrayVarP(&o.headers, "header", "H", nil, "a request header, 'Name: value' (repeatable)")
	f.StringVar(&o.destination, "destination", "", "the ip:port the app connects to (default: from URL)")
	f.StringVar(&o.sourceIP, "source-ip", "", "the source workload's IP, for ipBlocks rules (default: the --from pod's IP)")
	f.StringVarP(&o.output, "output", "o", "text", "output format: text, yaml or json")
	return cmd
}

func runExplain(ctx context.Context, s streams, o *explainOptions, method, rawURL string) error {
	req := explain.Request{Method: method, URL: rawURL, Destination: o.destination, Header: http.Header{}}
	for _, h := range o.headers {
		k, v, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(k) == "" {
			return usageErrorf("explain: -H %q: want 'Name: value'", h)
		}
		req.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	if o.sourceIP != "" {
		ip, err := netip.ParseAddr(o.sourceIP)
		if err != nil {
			return usageErrorf("explain: --source-ip %q: %v", o.sourceIP, err)
		}
		req.SourceIP = ip
	}
	var cfg *rest.Config
	var cs kubernetes.Interface
	if (o.from != "" && o.fromURL == "") || (o.to != "" && o.toURL == "") {
		var err error
		if cfg, req.Namespace, err = o.kube.restConfig(); err != nil {
			return err
		}
		if cs, err = kubernetes.NewForConfig(cfg); err != nil {
			return err
		}
	} else {
		req.Namespace = o.kube.namespace
	}
	from, err := loadProxy(ctx, cfg, cs, "source", proxyTarget{Namespace: req.Namespace, Pod: o.from, URL: o.fromURL})
	if err != nil {
		return err
	}
	if !req.SourceIP.IsValid() {
		req.SourceIP = from.Address
	}
	var to *explain.Proxy
	if o.to != "" || o.toURL != "" {
		if to, err = loadProxy(ctx, cfg, cs, "destination", proxyTarget{Namespace: req.Namespace, Pod: o.to, URL: o.toURL}); err != nil {
			return err
		}
	}
	rep, err := explain.Explain(req, *from, to)
	if err != nil {
		return fmt.Errorf("explain: %w", err)
	}
	switch o.output {
	case "json":
		enc := json.NewEncoder(s.out)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	case "yaml":
		b, err := yaml.Marshal(rep)
		if err != nil {
			return err
		}
		_, err = s.out.Write(b)
		return err
	}
	return writeExplainText(s.out, rep)
}

// loadProxy reads a sidecar's configuration and identity from its admin
// port, and, for a pod, its IP.
func loadProxy(ctx context.Context, cfg *rest.Config, cs kubernetes.Interface, role string, target proxyTarget) (*explain.Proxy, error) {
	p := &explain.Proxy{Name: target.URL}
	if target.Pod != "" {
		p.Name = target.Namespace + "/" + target.Pod
	}
	if target.URL == "" {
		pod, err := cs.CoreV1().Pods(target.Namespace).Get(ctx, target.Pod, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("%s pod: %w", role, err)
		}
		p.Address, _ = netip.ParseAddr(pod.Status.PodIP)
	}
	body, err := proxyGet(ctx, cfg, target, "/config_dump")
	if err != nil {
		return nil, fmt.Errorf("%s proxy %s: %w", role, p.Name, err)
	}
	if p.Dump, err = explain.ParseDump(body); err != nil {
		return nil, fmt.Errorf("%s proxy %s: %w", role, p.Name, err)
	}
	// Without a certificate (the proxy is not ready) the identity stays
	// unknown: the report then shows none, and ALLOW rules on
	// identities do not match.
	if certs, err := proxyGet(ctx, cfg, target, "/certs"); err == nil {
		var c struct {
			SPIFFEID string `json:"spiffe_id"`
		}
		if json.Unmarshal(certs, &c) == nil {
			p.ID = c.SPIFFEID
		}
	}
	return p, nil
}
