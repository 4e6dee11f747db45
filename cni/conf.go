package cni

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"
)

// PluginType is the plugin's "type" in a CNI configuration: the name of
// its binary.
const PluginType = "weft-cni"

// SupportedVersions are the CNI spec versions the plugin speaks.
func SupportedVersions() version.PluginInfo {
	return version.PluginSupports("0.4.0", "1.0.0", "1.1.0")
}

// NetConf is the plugin's configuration: its entry in the conflist, with
// what the runtime adds (cniVersion, name, prevResult).
type NetConf struct {
	types.PluginConf
	// Kubeconfig is the file the plugin reaches the API server with.
	Kubeconfig string `json:"kubeconfig"`
	// LogFile, if set, receives the plugin's logs (JSON lines, appended);
	// otherwise they go to stderr, which runtimes show when a command
	// fails.
	LogFile string `json:"log_file,omitempty"`
	// LogLevel is debug, info (the default), warn or error.
	LogLevel string `json:"log_level,omitempty"`
}

// parseConf decodes stdin's configuration and its prevResult, if any.
func parseConf(stdin []byte) (*NetConf, error) {
	conf := &NetConf{}
	if err := json.Unmarshal(stdin, conf); err != nil {
		return nil, fmt.Errorf("weft-cni configuration: %w", err)
	}
	if conf.Kubeconfig == "" {
		return nil, errors.New("weft-cni configuration: kubeconfig is required (the file the plugin reads pods from the API server with)")
	}
	if err := version.ParsePrevResult(&conf.PluginConf); err != nil {
		return nil, fmt.Errorf("weft-cni configuration: prevResult: %w", err)
	}
	return conf, nil
}

// logger opens the configured log; close it when the command ends.
func (c *NetConf) logger() (*slog.Logger, io.Closer, error) {
	var level slog.Level
	if c.LogLevel != "" {
		if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
			return nil, nil, fmt.Errorf("weft-cni configuration: log_level %q: want debug, info, warn or error", c.LogLevel)
		}
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.LogFile == "" {
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), io.NopCloser(nil), nil
	}
	f, err := os.OpenFile(c.LogFile, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("weft-cni configuration: log_file: %w", err)
	}
	return slog.New(slog.NewJSONHandler(f, opts)), f, nil
}

// k8sArgs are the CNI_ARGS a Kubernetes runtime passes.
type k8sArgs struct {
	types.CommonArgs
	K8S_POD_NAMESPACE          types.UnmarshallableString
	K8S_POD_NAME               types.UnmarshallableString
	K8S_POD_INFRA_CONTAINER_ID types.UnmarshallableString
}

// podRef reads the pod's namespace and name from CNI_ARGS; ok is false
// when they are absent: the sandbox is not a Kubernetes pod's.
func podRef(cniArgs string) (namespace, name string, ok bool, err error) {
	var a k8sArgs
	if err := types.LoadArgs(cniArgs, &a); err != nil {
		return "", "", false, fmt.Errorf("CNI_ARGS: %w", err)
	}
	namespace, name = string(a.K8S_POD_NAMESPACE), string(a.K8S_POD_NAME)
	return namespace, name, namespace != "" && name != "", nil
}
