package injector

import corev1 "k8s.io/api/core/v1"

// The pieces of the injected proxy's spec that the gateway's Deployment
// (package gateway/deploy) shares with a sidecar, so that a gateway proxy
// reaches the control plane exactly as an injected one does.

// MeshArgs are the weft-proxy flags a sidecar gets from the mesh
// configuration and the pod: its name, namespace and ServiceAccount (from
// the ProxyEnv variables), the control plane, the trust domain, the log
// level and tracing. Mode-specific flags (--capture, --mode) are the
// caller's.
func MeshArgs(cfg Config) []string {
	args := []string{
		"--name", "$(POD_NAME)",
		"--namespace", "$(POD_NAMESPACE)",
		"--service-account", "$(SERVICE_ACCOUNT)",
		"--control-plane", cfg.ControlPlaneAddress,
		"--trust-domain", cfg.TrustDomain,
		"--log-level", cfg.LogLevel,
	}
	return append(args, cfg.Tracing.args()...)
}

// ProxyEnv are the variables MeshArgs refers to, from the Downward API.
func ProxyEnv() []corev1.EnvVar {
	return []corev1.EnvVar{
		fieldEnv("POD_NAME", "metadata.name"),
		fieldEnv("POD_NAMESPACE", "metadata.namespace"),
		fieldEnv("SERVICE_ACCOUNT", "spec.serviceAccountName"),
	}
}

// ProxyVolumes are the pod volumes the proxy mounts with
// ProxyVolumeMounts: the projected ServiceAccount token (audience weft-ca)
// it shows the CA, and the CA root ConfigMap cfg.CARootConfigMap.
func ProxyVolumes(cfg Config) []corev1.Volume { return volumes(cfg) }

// ProxyVolumeMounts mount ProxyVolumes where weft-proxy's --token-file and
// --ca-root-file defaults expect them.
func ProxyVolumeMounts() []corev1.VolumeMount {
	return []corev1.VolumeMount{
		{Name: TokenVolumeName, MountPath: tokenMountPath, ReadOnly: true},
		{Name: CARootVolumeName, MountPath: caRootMountPath, ReadOnly: true},
	}
}
