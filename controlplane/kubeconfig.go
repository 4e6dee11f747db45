package controlplane

import (
	"errors"
	"fmt"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// userAgent names the control plane in the API server's audit log.
const userAgent = "weft-controlplane"

// restConfig returns how Kubernetes mode reaches the API server: the given
// rest.Config, the kubeconfig file, the pod's in-cluster configuration,
// or the usual kubeconfig rules ($KUBECONFIG, ~/.kube/config), in that
// order.
func (c *ControlPlane) restConfig() (*rest.Config, error) {
	var (
		cfg *rest.Config
		err error
	)
	switch {
	case c.cfg.KubeRESTConfig != nil:
		cfg = rest.CopyConfig(c.cfg.KubeRESTConfig)
	case c.cfg.Kubeconfig != "":
		if cfg, err = clientcmd.BuildConfigFromFlags("", c.cfg.Kubeconfig); err != nil {
			return nil, fmt.Errorf("--kubeconfig %s: %w", c.cfg.Kubeconfig, err)
		}
	default:
		cfg, err = rest.InClusterConfig()
		if errors.Is(err, rest.ErrNotInCluster) {
			rules := clientcmd.NewDefaultClientConfigLoadingRules()
			cfg, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
			if err != nil {
				return nil, fmt.Errorf("kubernetes mode: not in a pod, and no kubeconfig (give --kubeconfig, or --config-dir for standalone mode): %w", err)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("kubernetes in-cluster configuration: %w", err)
		}
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = userAgent
	}
	return cfg, nil
}
