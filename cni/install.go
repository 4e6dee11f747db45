package cni

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// KubeconfigName is the file, in the CNI configuration directory, that the
// installed plugin reaches the API server with.
const KubeconfigName = "weft-cni.kubeconfig"

// InstallConfig is what "weft-cni install" works on.
type InstallConfig struct {
	// BinDir is the node's CNI plugin directory, as mounted in the
	// installer's container.
	BinDir string
	// ConfDir is the node's CNI configuration directory, as mounted.
	ConfDir string
	// HostConfDir is ConfDir as the node (the runtime running the plugin)
	// sees it.
	HostConfDir string
	// ServiceAccountDir holds the installer's service account token and
	// the cluster's CA (token, ca.crt); the plugin's kubeconfig uses them.
	ServiceAccountDir string
	// APIServerHost and APIServerPort reach the API server
	// (KUBERNETES_SERVICE_HOST and _PORT in a pod).
	APIServerHost string
	APIServerPort string
	// Executable is the binary to install; empty means the running one.
	Executable string
	// Interval is how often the installer checks its work.
	Interval time.Duration
}

// DefaultInstallConfig is the configuration in the weft-cni DaemonSet's
// pod: host paths under /host, the API server from the environment.
func DefaultInstallConfig() InstallConfig {
	return InstallConfig{
		BinDir:            "/host/opt/cni/bin",
		ConfDir:           "/host/etc/cni/net.d",
		HostConfDir:       "/etc/cni/net.d",
		ServiceAccountDir: "/var/run/secrets/kubernetes.io/serviceaccount",
		APIServerHost:     os.Getenv("KUBERNETES_SERVICE_HOST"),
		APIServerPort:     os.Getenv("KUBERNETES_SERVICE_PORT"),
		Interval:          2 * time.Second,
	}
}

// Validate reports the first missing setting.
func (c InstallConfig) Validate() error {
	for _, f := range []struct{ name, value string }{
		{"bin-dir", c.BinDir},
		{"conf-dir", c.ConfDir},
		{"host-conf-dir", c.HostConfDir},
		{"service-account-dir", c.ServiceAccountDir},
		{"the API server's host (KUBERNETES_SERVICE_HOST)", c.APIServerHost},
		{"the API server's port (KUBERNETES_SERVICE_PORT)", c.APIServerPort},
	} {
		if f.value == "" {
			return fmt.Errorf("%s is not set", f.name)
		}
	}
	if c.Interval <= 0 {
		return fmt.Errorf("interval %s: must be positive", c.Interval)
	}
	return nil
}

// RunInstall installs the plugin on the node and keeps it configured
// until ctx ends (the DaemonSet's pod stopping), then uninstalls it, so
// that a node without Weft has its CNI configuration back as it was. A
// node whose CNI configuration is not there yet is waited for.
func RunInstall(ctx context.Context, cfg InstallConfig, log *slog.Logger) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if err := installBinary(cfg); err != nil {
		return err
	}
	log.Info("plugin binary installed", "path", filepath.Join(cfg.BinDir, PluginType))
	waiting := false
	for {
		file, changed, err := reconcile(cfg)
		switch {
		case errors.Is(err, errNoConf):
			if !waiting {
				log.Info("waiting for the node's CNI configuration", "dir", cfg.ConfDir)
			}
			waiting = true
		case err != nil:
			log.Error("plugin not configured; retrying", "error", err)
		case changed:
			waiting = false
			log.Info("plugin appended to the node's CNI configuration", "file", file)
		}
		select {
		case <-ctx.Done():
			return Uninstall(cfg, log)
		case <-time.After(cfg.Interval):
		}
	}
}

// errNoConf: the directory holds no CNI configuration (yet).
var errNoConf = errors.New("no CNI configuration")

// reconcile writes the kubeconfig and makes the runtime's configuration
// file end with the plugin; changed says whether the latter was written.
func reconcile(cfg InstallConfig) (file string, changed bool, err error) {
	if err := writeKubeconfig(cfg); err != nil {
		return "", false, err
	}
	files, err := confFiles(cfg.ConfDir)
	if err != nil {
		return "", false, err
	}
	if len(files) == 0 {
		return "", false, errNoConf
	}
	file = files[0]
	data, err := os.ReadFile(file)
	if err != nil {
		return file, false, fmt.Errorf("CNI configuration: %w", err)
	}
	doc, err := parseConfDoc(data)
	if err != nil {
		return file, false, fmt.Errorf("CNI configuration %s: %w", file, err)
	}
	convert := !doc.isList()
	if convert {
		if doc, err = doc.toList(); err != nil {
			return file, false, fmt.Errorf("CNI configuration %s: %w", file, err)
		}
	}
	entry := pluginEntry{Type: PluginType, Kubeconfig: filepath.Join(cfg.HostConfDir, KubeconfigName)}
	changed, err = withPlugin(doc, entry)
	if err != nil {
		return file, false, fmt.Errorf("CNI configuration %s: %w", file, err)
	}
	if !changed {
		return file, false, nil
	}
	out, err := doc.marshal()
	if err != nil {
		return file, false, fmt.Errorf("CNI configuration %s: %w", file, err)
	}
	target := file
	if convert {
		// A .conf cannot chain: it becomes a .conflist of the same name,
		// and goes, or it would still sort first.
		target = file[:len(file)-len(filepath.Ext(file))] + ".conflist"
	}
	if err := writeAtomic(target, out, 0o644); err != nil {
		return file, false, err
	}
	if convert {
		if err := os.Remove(file); err != nil {
			return target, true, fmt.Errorf("remove %s after converting it to %s: %w", file, target, err)
		}
	}
	return target, true, nil
}

// Uninstall removes the plugin from every CNI configuration file of the
// node, then its binary and kubeconfig.
func Uninstall(cfg InstallConfig, log *slog.Logger) error {
	var errs []error
	files, err := confFiles(cfg.ConfDir)
	if err != nil {
		errs = append(errs, err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		doc, err := parseConfDoc(data)
		if err != nil || !doc.isList() {
			continue // not ours to judge; nothing of ours can be in it
		}
		changed, err := withoutPlugin(doc)
		if err != nil || !changed {
			continue
		}
		out, err := doc.marshal()
		if err == nil {
			err = writeAtomic(file, out, 0o644)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		log.Info("plugin removed from the node's CNI configuration", "file", file)
	}
	for _, path := range []string{filepath.Join(cfg.BinDir, PluginType), filepath.Join(cfg.ConfDir, KubeconfigName)} {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("uninstall: %w", err)
	}
	log.Info("plugin uninstalled")
	return nil
}

// installBinary copies the executable into the plugin directory.
func installBinary(cfg InstallConfig) error {
	src := cfg.Executable
	if src == "" {
		var err error
		if src, err = os.Executable(); err != nil {
			return fmt.Errorf("install binary: %w", err)
		}
	}
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("install binary: %w", err)
	}
	defer in.Close()
	data, err := io.ReadAll(in)
	if err != nil {
		return fmt.Errorf("install binary: %w", err)
	}
	return writeAtomic(filepath.Join(cfg.BinDir, PluginType), data, 0o755)
}

// writeKubeconfig writes the plugin's kubeconfig from the service account,
// when it differs from what is there (the token is rotated).
func writeKubeconfig(cfg InstallConfig) error {
	token, err := os.ReadFile(filepath.Join(cfg.ServiceAccountDir, "token"))
	if err != nil {
		return fmt.Errorf("service account token: %w", err)
	}
	ca, err := os.ReadFile(filepath.Join(cfg.ServiceAccountDir, "ca.crt"))
	if err != nil {
		return fmt.Errorf("service account CA: %w", err)
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters[PluginType] = &clientcmdapi.Cluster{
		Server:                   "https://" + net.JoinHostPort(cfg.APIServerHost, cfg.APIServerPort),
		CertificateAuthorityData: ca,
	}
	kc.AuthInfos[PluginType] = &clientcmdapi.AuthInfo{Token: string(bytes.TrimSpace(token))}
	kc.Contexts[PluginType] = &clientcmdapi.Context{Cluster: PluginType, AuthInfo: PluginType}
	kc.CurrentContext = PluginType
	out, err := clientcmd.Write(*kc)
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	path := filepath.Join(cfg.ConfDir, KubeconfigName)
	if have, err := os.ReadFile(path); err == nil && bytes.Equal(have, out) {
		return nil
	}
	return writeAtomic(path, out, 0o600)
}
