package cni

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/plugins/pkg/ns"
	corev1 "k8s.io/api/core/v1"

	"github.com/weftmesh/weft/injector"
	"github.com/weftmesh/weft/proxy/capture"
)

// Funcs are the plugin's CNI commands, for skel.PluginMainFuncs; ctx
// bounds every command (each also has its own deadlines).
func Funcs(ctx context.Context) skel.CNIFuncs {
	return skel.CNIFuncs{
		Add:    func(a *skel.CmdArgs) error { return command(ctx, a, add) },
		Del:    func(a *skel.CmdArgs) error { return command(ctx, a, del) },
		Check:  func(a *skel.CmdArgs) error { return command(ctx, a, check) },
		Status: func(a *skel.CmdArgs) error { return command(ctx, a, status) },
	}
}

// command parses the configuration, opens the log and runs f.
func command(ctx context.Context, a *skel.CmdArgs, f func(context.Context, *slog.Logger, *NetConf, *skel.CmdArgs) error) error {
	conf, err := parseConf(a.StdinData)
	if err != nil {
		return types.NewError(types.ErrInvalidNetworkConfig, err.Error(), "")
	}
	log, closer, err := conf.logger()
	if err != nil {
		return types.NewError(types.ErrInvalidNetworkConfig, err.Error(), "")
	}
	defer closer.Close()
	return f(ctx, log.With("container", a.ContainerID), conf, a)
}

// add installs the capture rules in the pod's namespace when the pod was
// injected for CNI mode, and passes the previous plugin's result on.
func add(ctx context.Context, log *slog.Logger, conf *NetConf, a *skel.CmdArgs) error {
	if conf.PrevResult == nil {
		return types.NewError(types.ErrInvalidNetworkConfig,
			"weft-cni is a chained plugin: list it after the plugin that sets up the pod's interface (its configuration has no prevResult)", "")
	}
	cfg, ok, err := podCapture(ctx, log, conf, a.Args)
	if err != nil {
		return err
	}
	if ok {
		if err := ns.WithNetNSPath(a.Netns, func(ns.NetNS) error { return capture.Install(cfg) }); err != nil {
			return fmt.Errorf("install capture rules in %s: %w", a.Netns, err)
		}
		log.Info("capture rules installed", "netns", a.Netns)
	}
	return types.PrintResult(conf.PrevResult, conf.CNIVersion)
}

// del removes the capture rules if the pod's namespace is still there. It
// asks the API server nothing and fails for nothing that is gone: the pod
// is going anyway, and a failing DEL would only stall its removal.
func del(_ context.Context, log *slog.Logger, _ *NetConf, a *skel.CmdArgs) error {
	if a.Netns == "" {
		return nil
	}
	err := ns.WithNetNSPath(a.Netns, func(ns.NetNS) error { return capture.Cleanup() })
	var gone ns.NSPathNotExistErr
	var notNS ns.NSPathNotNSErr
	switch {
	case err == nil:
		log.Debug("capture rules removed", "netns", a.Netns)
	case errors.As(err, &gone), errors.As(err, &notNS):
		log.Debug("pod network namespace gone", "netns", a.Netns)
	default:
		log.Warn("capture rules not removed", "netns", a.Netns, "error", err)
	}
	return nil
}

// check fails when an injected pod's capture rules are missing or not
// what its annotations ask for.
func check(ctx context.Context, log *slog.Logger, conf *NetConf, a *skel.CmdArgs) error {
	if conf.PrevResult == nil {
		return types.NewError(types.ErrInvalidNetworkConfig, "weft-cni CHECK: the configuration has no prevResult", "")
	}
	cfg, ok, err := podCapture(ctx, log, conf, a.Args)
	if err != nil || !ok {
		return err
	}
	if err := ns.WithNetNSPath(a.Netns, func(ns.NetNS) error { return capture.Check(cfg) }); err != nil {
		return fmt.Errorf("pod's network namespace %s: %w", a.Netns, err)
	}
	return nil
}

// status says the plugin can serve ADD: its kubeconfig is readable.
func status(_ context.Context, _ *slog.Logger, conf *NetConf, _ *skel.CmdArgs) error {
	if _, err := restConfig(conf.Kubeconfig); err != nil {
		return types.NewError(types.ErrPluginNotAvailable, err.Error(), "")
	}
	return nil
}

// podCapture reads the pod named in CNI_ARGS from the API server and
// says what to capture; ok is false when there is nothing to do: not a
// Kubernetes pod, not injected, or injected with a weft-init container
// that installs the rules itself.
func podCapture(ctx context.Context, log *slog.Logger, conf *NetConf, cniArgs string) (cfg capture.Config, ok bool, err error) {
	namespace, name, ok, err := podRef(cniArgs)
	if err != nil || !ok {
		if err == nil {
			log.Debug("not a Kubernetes pod: nothing to capture")
		}
		return cfg, false, err
	}
	pod, err := getPod(ctx, conf.Kubeconfig, namespace, name)
	if err != nil {
		return cfg, false, err
	}
	if !cniMode(pod) {
		log.Debug("pod not injected for CNI mode: nothing to capture", "pod", namespace+"/"+name)
		return cfg, false, nil
	}
	cfg, err = captureConfig(pod.Annotations)
	if err != nil {
		return cfg, false, fmt.Errorf("pod %s/%s: %w", namespace, name, err)
	}
	return cfg, true, nil
}

// cniMode says whether the injector injected pod without weft-init,
// leaving its capture rules to this plugin.
func cniMode(pod *corev1.Pod) bool {
	if pod.Annotations[injector.AnnotationStatus] != injector.StatusInjected {
		return false
	}
	for _, c := range pod.Spec.InitContainers {
		if c.Name == injector.InitContainerName {
			return false
		}
	}
	return true
}

// captureConfig is the capture configuration of a pod with these
// annotations: capture.Default without what they exclude
// (injector.ParseCaptureExclusions, which weft-init's flags follow too).
func captureConfig(annotations map[string]string) (capture.Config, error) {
	cfg := capture.Default()
	ex, err := injector.ParseCaptureExclusions(annotations)
	if err != nil {
		return cfg, err
	}
	cfg.ExcludeInboundPorts = ports16(ex.InboundPorts)
	cfg.ExcludeOutboundPorts = ports16(ex.OutboundPorts)
	cfg.ExcludeOutboundCIDRs = ex.OutboundCIDRs
	return cfg, nil
}

// ports16 converts ports the injector checked to be within 1-65535.
func ports16(ports []int) []uint16 {
	var out []uint16
	for _, p := range ports {
		out = append(out, uint16(p)) //nolint:gosec // checked 1-65535 by the injector
	}
	return out
}
