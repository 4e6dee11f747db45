package injector

import (
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// Names of what injection adds to a pod.
const (
	ProxyContainerName = "weft-proxy"
	InitContainerName  = "weft-init"
	TokenVolumeName    = "weft-ca-token" //nolint:gosec // a volume name, not a credential
	CARootVolumeName   = "weft-ca-root"

	// ProxyUID is the proxy's user and group: the capture rules let its
	// traffic through.
	ProxyUID = 1337

	// TokenAudience is the audience of the projected ServiceAccount token
	// the proxy shows to the CA.
	TokenAudience = "weft-ca"

	tokenMountPath  = "/var/run/secrets/tokens" //nolint:gosec // a path, not a credential; the proxy's --token-file default lives here
	tokenFileName   = "weft-ca-token"           //nolint:gosec // a file name, not a credential
	tokenLifetime   = 3600
	caRootMountPath = "/var/run/weft/ca" // the proxy's --ca-root-file default lives here
	caRootKey       = "root-cert.pem"
)

// proxyContainer is the native sidecar: an init container with
// restartPolicy Always, whose startup probe holds the app containers back
// until the proxy has its certificate and configuration.
func proxyContainer(cfg Config, opts options, probes map[string]AppProbe, workload string) (corev1.Container, error) {
	env := []corev1.EnvVar{
		fieldEnv("POD_NAME", "metadata.name"),
		fieldEnv("POD_NAMESPACE", "metadata.namespace"),
		fieldEnv("SERVICE_ACCOUNT", "spec.serviceAccountName"),
		fieldEnv("POD_IP", "status.podIP"),
	}
	if len(probes) > 0 {
		text, err := appProbesJSON(probes)
		if err != nil {
			return corev1.Container{}, err
		}
		env = append(env, corev1.EnvVar{Name: AppProbesEnv, Value: text})
	}
	args := []string{
		"--name", "$(POD_NAME)",
		"--namespace", "$(POD_NAMESPACE)",
		"--service-account", "$(SERVICE_ACCOUNT)",
		"--control-plane", cfg.ControlPlaneAddress,
		"--trust-domain", cfg.TrustDomain,
		"--log-level", cfg.LogLevel,
		// weft-init or weft-cni captures the pod's traffic: readiness
		// checks the rules, and direct connections to the app are counted.
		"--capture",
	}
	if workload != "" {
		// Metrics name the workload; the pod's name only hints at it.
		args = append(args, "--workload", workload)
	}
	if len(opts.excludeInboundPorts) > 0 {
		// The ports the rules leave alone are no bypass.
		args = append(args, "--exclude-inbound-ports", joinInts(inboundExclusions(opts)))
	}
	args = append(args, cfg.Tracing.args()...)
	return corev1.Container{
		Name:  ProxyContainerName,
		Image: cfg.ProxyImage,
		Args:  args,
		Ports: []corev1.ContainerPort{{
			Name:          StatusPortName,
			ContainerPort: StatusPort,
			Protocol:      corev1.ProtocolTCP,
		}},
		Env:           env,
		Resources:     opts.resources,
		RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
		// Every field is explicit, so that the API server's defaulting
		// changes nothing and a re-injection compares equal.
		StartupProbe: &corev1.Probe{
			ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
				Path:   "/ready",
				Port:   intstr.FromInt32(StatusPort),
				Scheme: corev1.URISchemeHTTP,
			}},
			TimeoutSeconds:   1,
			PeriodSeconds:    1,
			SuccessThreshold: 1,
			FailureThreshold: 600, // ten minutes to get a certificate and configuration
		},
		VolumeMounts: []corev1.VolumeMount{
			{Name: TokenVolumeName, MountPath: tokenMountPath, ReadOnly: true},
			{Name: CARootVolumeName, MountPath: caRootMountPath, ReadOnly: true},
		},
		SecurityContext: &corev1.SecurityContext{
			RunAsUser:                ptr.To[int64](ProxyUID),
			RunAsGroup:               ptr.To[int64](ProxyUID),
			RunAsNonRoot:             ptr.To(true),
			ReadOnlyRootFilesystem:   ptr.To(true),
			AllowPrivilegeEscalation: ptr.To(false),
			Privileged:               ptr.To(false),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
	}, nil
}

// initContainer installs the capture rules ("weft-proxy init"); it needs
// root with NET_ADMIN and NET_RAW, and nothing else.
func initContainer(cfg Config, opts options) corev1.Container {
	args := []string{"init", "--exclude-inbound-ports", joinInts(inboundExclusions(opts))}
	if len(opts.excludeOutboundPorts) > 0 {
		args = append(args, "--exclude-outbound-ports", joinInts(opts.excludeOutboundPorts))
	}
	if len(opts.excludeOutboundCIDRs) > 0 {
		cidrs := make([]string, len(opts.excludeOutboundCIDRs))
		for i, p := range opts.excludeOutboundCIDRs {
			cidrs[i] = p.String()
		}
		args = append(args, "--exclude-outbound-cidrs", strings.Join(cidrs, ","))
	}
	return corev1.Container{
		Name:      InitContainerName,
		Image:     cfg.ProxyImage,
		Args:      args,
		Resources: opts.resources,
		SecurityContext: &corev1.SecurityContext{
			RunAsUser:                ptr.To[int64](0),
			RunAsNonRoot:             ptr.To(false),
			ReadOnlyRootFilesystem:   ptr.To(true),
			AllowPrivilegeEscalation: ptr.To(false),
			Privileged:               ptr.To(false),
			Capabilities: &corev1.Capabilities{
				Add:  []corev1.Capability{"NET_ADMIN", "NET_RAW"},
				Drop: []corev1.Capability{"ALL"},
			},
		},
	}
}

// inboundExclusions are the ports whose inbound TCP weft-init leaves
// alone: the status port, which the kubelet probes, and the annotation's.
func inboundExclusions(opts options) []int {
	inbound := []int{StatusPort}
	for _, p := range opts.excludeInboundPorts {
		inbound = appendNew(inbound, p)
	}
	return inbound
}

func volumes(cfg Config) []corev1.Volume {
	return []corev1.Volume{
		{
			Name: TokenVolumeName,
			VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
					Audience:          TokenAudience,
					ExpirationSeconds: ptr.To[int64](tokenLifetime),
					Path:              tokenFileName,
				}}},
				DefaultMode: ptr.To[int32](0o644),
			}},
		},
		{
			Name: CARootVolumeName,
			VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: cfg.CARootConfigMap},
				Items:                []corev1.KeyToPath{{Key: caRootKey, Path: caRootKey}},
				DefaultMode:          ptr.To[int32](0o644),
			}},
		},
	}
}

func fieldEnv(name, path string) corev1.EnvVar {
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{
		FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: path},
	}}
}

func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}
