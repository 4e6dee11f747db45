package cni

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
)

const (
	bridgeConflist = `{
  "cniVersion": "1.0.0",
  "name": "cbr0",
  "plugins": [
    {"type": "bridge", "bridge": "cni0", "ipam": {"type": "host-local", "ranges": [[{"subnet": "198.18.0.0/24"}]]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}`
	bridgeConf = `{"cniVersion": "0.4.0", "name": "cbr0", "type": "bridge", "bridge": "cni0", "ipam": {"type": "host-local"}}`
)

// installEnv is a node's directories and a service account, in t's temp
// dir.
func installEnv(t *testing.T, files map[string]string) InstallConfig {
	t.Helper()
	root := t.TempDir()
	cfg := InstallConfig{
		BinDir:            filepath.Join(root, "bin"),
		ConfDir:           filepath.Join(root, "net.d"),
		HostConfDir:       "/etc/cni/net.d",
		ServiceAccountDir: filepath.Join(root, "sa"),
		APIServerHost:     "2001:db8::1",
		APIServerPort:     "443",
		Executable:        filepath.Join(root, "weft-cni-build"),
		Interval:          10 * time.Millisecond,
	}
	write := func(path, data string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(cfg.ServiceAccountDir, "token"), "the-token\n")
	write(filepath.Join(cfg.ServiceAccountDir, "ca.crt"), "not really a CA")
	write(cfg.Executable, "#!/bin/true\n")
	if err := os.MkdirAll(cfg.BinDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(cfg.ConfDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		write(filepath.Join(cfg.ConfDir, name), data)
	}
	return cfg
}

// pluginTypes reads a conflist's plugins' types, and the kubeconfig of
// weft-cni's entries.
func pluginTypes(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Plugins []struct {
			Type       string `json:"type"`
			Kubeconfig string `json:"kubeconfig"`
		} `json:"plugins"`
	}
	if err := json.Unmarshal(data, &list); err != nil {
		t.Fatalf("%s is not a conflist: %v\n%s", path, err, data)
	}
	var types []string
	for _, p := range list.Plugins {
		if p.Kubeconfig != "" {
			types = append(types, p.Type+"@"+p.Kubeconfig)
			continue
		}
		types = append(types, p.Type)
	}
	return types
}

// plugins is a conflist's plugins, decoded, to compare them as values.
func plugins(t *testing.T, data []byte) []any {
	t.Helper()
	var list struct {
		Plugins []any `json:"plugins"`
	}
	if err := json.Unmarshal(data, &list); err != nil {
		t.Fatal(err)
	}
	return list.Plugins
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

const weftEntry = "weft-cni@/etc/cni/net.d/weft-cni.kubeconfig"

func TestReconcile(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		// wantFile is the file the runtime reads afterwards, and
		// wantTypes its plugins.
		wantFile  string
		wantTypes []string
		// wantFiles is the whole directory afterwards.
		wantFiles []string
	}{
		{
			name:      "appends to a conflist",
			files:     map[string]string{"10-bridge.conflist": bridgeConflist},
			wantFile:  "10-bridge.conflist",
			wantTypes: []string{"bridge", "portmap", weftEntry},
			wantFiles: []string{"10-bridge.conflist", KubeconfigName},
		},
		{
			name:      "converts a lone conf",
			files:     map[string]string{"10-bridge.conf": bridgeConf},
			wantFile:  "10-bridge.conflist",
			wantTypes: []string{"bridge", weftEntry},
			wantFiles: []string{"10-bridge.conflist", KubeconfigName},
		},
		{
			name: "only the file the runtime uses",
			files: map[string]string{
				"05-first.conflist": bridgeConflist,
				"10-later.conflist": bridgeConflist,
				"notes.txt":         "not a CNI file",
			},
			wantFile:  "05-first.conflist",
			wantTypes: []string{"bridge", "portmap", weftEntry},
			wantFiles: []string{"05-first.conflist", "10-later.conflist", "notes.txt", KubeconfigName},
		},
		{
			name: "replaces a stale entry",
			files: map[string]string{"10-bridge.conflist": `{"cniVersion": "1.0.0", "name": "cbr0", "plugins": [
				{"type": "weft-cni", "kubeconfig": "/old/path"}, {"type": "bridge"}, {"type": "weft-cni", "kubeconfig": "/old/path"}]}`},
			wantFile:  "10-bridge.conflist",
			wantTypes: []string{"bridge", weftEntry},
			wantFiles: []string{"10-bridge.conflist", KubeconfigName},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := installEnv(t, tt.files)
			file, changed, err := reconcile(cfg)
			if err != nil {
				t.Fatalf("reconcile: %v", err)
			}
			if !changed || filepath.Base(file) != tt.wantFile {
				t.Errorf("reconcile wrote %s (changed %t), want %s written", file, changed, tt.wantFile)
			}
			if got := pluginTypes(t, filepath.Join(cfg.ConfDir, tt.wantFile)); !reflect.DeepEqual(got, tt.wantTypes) {
				t.Errorf("plugins of %s: %q, want %q", tt.wantFile, got, tt.wantTypes)
			}
			if got := dirNames(t, cfg.ConfDir); !reflect.DeepEqual(got, tt.wantFiles) {
				t.Errorf("configuration directory holds %q, want %q", got, tt.wantFiles)
			}

			// Idempotent: a second pass writes nothing and adds no
			// second entry.
			before, _ := os.ReadFile(filepath.Join(cfg.ConfDir, tt.wantFile))
			if _, changed, err := reconcile(cfg); err != nil || changed {
				t.Errorf("second reconcile: changed %t, err %v; want nothing to do", changed, err)
			}
			after, _ := os.ReadFile(filepath.Join(cfg.ConfDir, tt.wantFile))
			if string(before) != string(after) {
				t.Errorf("second reconcile rewrote %s:\n%s\nto\n%s", tt.wantFile, before, after)
			}
		})
	}
}

func TestUninstallRestoresPlugins(t *testing.T) {
	cfg := installEnv(t, map[string]string{"10-bridge.conflist": bridgeConflist, "20-other.conflist": bridgeConflist})
	if err := installBinary(cfg); err != nil {
		t.Fatal(err)
	}
	if _, _, err := reconcile(cfg); err != nil {
		t.Fatal(err)
	}
	// Another file gained an entry too (the first file changed over time).
	other := filepath.Join(cfg.ConfDir, "20-other.conflist")
	doc, _ := parseConfDoc([]byte(bridgeConflist))
	if _, err := withPlugin(doc, pluginEntry{Type: PluginType, Kubeconfig: "/x"}); err != nil {
		t.Fatal(err)
	}
	out, _ := doc.marshal()
	if err := os.WriteFile(other, out, 0o644); err != nil {
		t.Fatal(err)
	}

	if err := Uninstall(cfg, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("Uninstall: %v", err)
	}
	want := plugins(t, []byte(bridgeConflist))
	for _, name := range []string{"10-bridge.conflist", "20-other.conflist"} {
		data, err := os.ReadFile(filepath.Join(cfg.ConfDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := plugins(t, data); !reflect.DeepEqual(got, want) {
			t.Errorf("after uninstall, %s has plugins %v, want the original %v", name, got, want)
		}
	}
	for _, path := range []string{filepath.Join(cfg.BinDir, PluginType), filepath.Join(cfg.ConfDir, KubeconfigName)} {
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Errorf("after uninstall, %s: %v, want it gone", path, err)
		}
	}
}

func TestKubeconfigFromServiceAccount(t *testing.T) {
	cfg := installEnv(t, nil)
	if err := writeKubeconfig(cfg); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(cfg.ConfDir, KubeconfigName)
	kc, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cluster, user := kc.Clusters[PluginType], kc.AuthInfos[PluginType]
	if kc.CurrentContext != PluginType || cluster == nil || user == nil {
		t.Fatalf("kubeconfig has no usable current context: %+v", kc)
	}
	if cluster.Server != "https://[2001:db8::1]:443" || string(cluster.CertificateAuthorityData) != "not really a CA" || user.Token != "the-token" {
		t.Errorf("kubeconfig: server %q, CA %q, token %q; want https://[2001:db8::1]:443, the service account's CA and token",
			cluster.Server, cluster.CertificateAuthorityData, user.Token)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("kubeconfig mode: %v %v, want 0600 (it holds a token)", st.Mode(), err)
	}

	// A rotated token is written through.
	if err := os.WriteFile(filepath.Join(cfg.ServiceAccountDir, "token"), []byte("rotated"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := writeKubeconfig(cfg); err != nil {
		t.Fatal(err)
	}
	if kc, err := clientcmd.LoadFromFile(path); err != nil || kc.AuthInfos[PluginType].Token != "rotated" {
		t.Errorf("after the token rotated, kubeconfig token: %v", err)
	}
}

func TestInstallConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*InstallConfig)
		want   string
	}{
		{"default in a pod", func(*InstallConfig) {}, ""},
		{"no API server", func(c *InstallConfig) { c.APIServerHost = "" }, "KUBERNETES_SERVICE_HOST"},
		{"no bin dir", func(c *InstallConfig) { c.BinDir = "" }, "bin-dir is not set"},
		{"zero interval", func(c *InstallConfig) { c.Interval = 0 }, "interval 0s: must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultInstallConfig()
			cfg.APIServerHost, cfg.APIServerPort = "10.96.0.1", "443"
			tt.change(&cfg)
			err := cfg.Validate()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("Validate() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// RunInstall waits for the node's configuration, appends the plugin,
// puts it back when the file is rewritten without it, and on stop leaves
// the node as it found it.
func TestRunInstall(t *testing.T) {
	cfg := installEnv(t, nil)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- RunInstall(ctx, cfg, slog.New(slog.DiscardHandler)) }()

	conflist := filepath.Join(cfg.ConfDir, "10-bridge.conflist")
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting until %s", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	hasEntry := func() bool {
		data, err := os.ReadFile(conflist)
		return err == nil && strings.Contains(string(data), `"weft-cni"`)
	}
	installed := filepath.Join(cfg.BinDir, PluginType)
	waitFor("the binary is installed", func() bool { _, err := os.Stat(installed); return err == nil })
	if st, _ := os.Stat(installed); st.Mode().Perm() != 0o755 {
		t.Errorf("installed binary mode %v, want 0755", st.Mode())
	}

	// The primary CNI writes its configuration after the installer started.
	if err := os.WriteFile(conflist, []byte(bridgeConflist), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor("the plugin is appended", hasEntry)
	// ... and rewrites it, dropping the entry.
	if err := os.WriteFile(conflist, []byte(bridgeConflist), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor("the plugin is appended again", hasEntry)
	if got := pluginTypes(t, conflist); !reflect.DeepEqual(got, []string{"bridge", "portmap", weftEntry}) {
		t.Errorf("plugins %q, want bridge, portmap, weft-cni once", got)
	}

	cancel() // SIGTERM
	if err := <-done; err != nil {
		t.Fatalf("RunInstall after stop: %v", err)
	}
	data, err := os.ReadFile(conflist)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := plugins(t, data), plugins(t, []byte(bridgeConflist)); !reflect.DeepEqual(got, want) {
		t.Errorf("after stop, plugins %v, want the original %v", got, want)
	}
	if got := dirNames(t, cfg.ConfDir); !reflect.DeepEqual(got, []string{"10-bridge.conflist"}) {
		t.Errorf("after stop, the configuration directory holds %q, want only the original file", got)
	}
	if _, err := os.Stat(installed); !os.IsNotExist(err) {
		t.Errorf("after stop, binary: %v, want it removed", err)
	}
}
