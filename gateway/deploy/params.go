package deploy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"

	"github.com/weftmesh/weft/gateway"
)

// Keys of the parametersRef ConfigMap.
const (
	KeyReplicas              = "replicas"
	KeyResources             = "resources"
	KeyServiceType           = "serviceType"
	KeyExternalTrafficPolicy = "externalTrafficPolicy"
	KeyLoadBalancerClass     = "loadBalancerClass"
)

// Params are what a Gateway's spec.infrastructure.parametersRef may
// change (docs/gateway.md). DefaultParams are used without one.
type Params struct {
	Replicas  int32
	Resources corev1.ResourceRequirements
	// ServiceType is LoadBalancer, NodePort or ClusterIP.
	ServiceType corev1.ServiceType
	// ExternalTrafficPolicy is Local or Cluster; unset for ClusterIP,
	// where the API server refuses it.
	ExternalTrafficPolicy corev1.ServiceExternalTrafficPolicy
	// LoadBalancerClass is the Service's; empty leaves it unset.
	LoadBalancerClass string
}

// DefaultParams are one replica requesting 100m CPU and 128Mi, behind a
// LoadBalancer Service that keeps the client's address (Local).
func DefaultParams() Params {
	return Params{
		Replicas: 1,
		Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("100m"),
			corev1.ResourceMemory: resource.MustParse("128Mi"),
		}},
		ServiceType:           corev1.ServiceTypeLoadBalancer,
		ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal,
	}
}

// ParamsError is a parametersRef that cannot be used: the Gateway is then
// Accepted=False with reason InvalidParameters and this message.
type ParamsError struct {
	// Key is the ConfigMap key at fault; empty when the reference itself
	// is (wrong kind, missing ConfigMap).
	Key string
	Err error
}

func (e *ParamsError) Error() string {
	if e.Key == "" {
		return e.Err.Error()
	}
	return fmt.Sprintf("key %s: %v", e.Key, e.Err)
}

func (e *ParamsError) Unwrap() error { return e.Err }

// IsInvalidParameters reports whether err says the Gateway's parameters
// are unusable (as opposed to the API server failing to answer).
func IsInvalidParameters(err error) bool {
	var pe *ParamsError
	return errors.As(err, &pe)
}

// ParseParams reads a parametersRef ConfigMap's data over DefaultParams.
// Each unknown key or bad value is a *ParamsError naming the key; all of
// them are joined, in key order.
func ParseParams(data map[string]string) (Params, error) {
	p := DefaultParams()
	var errs []error
	for _, key := range slices.Sorted(maps.Keys(data)) {
		if err := p.set(key, data[key]); err != nil {
			errs = append(errs, &ParamsError{Key: key, Err: err})
		}
	}
	if len(errs) > 0 {
		return Params{}, errors.Join(errs...)
	}
	// What only the keys together can get wrong.
	if _, ok := data[KeyExternalTrafficPolicy]; ok && p.ServiceType == corev1.ServiceTypeClusterIP {
		return Params{}, &ParamsError{Key: KeyExternalTrafficPolicy, Err: errors.New("only a LoadBalancer or NodePort serviceType takes one")}
	}
	if p.LoadBalancerClass != "" && p.ServiceType != corev1.ServiceTypeLoadBalancer {
		return Params{}, &ParamsError{Key: KeyLoadBalancerClass, Err: fmt.Errorf("only a LoadBalancer serviceType takes one, not %s", p.ServiceType)}
	}
	if p.ServiceType == corev1.ServiceTypeClusterIP {
		p.ExternalTrafficPolicy = ""
	}
	return p, nil
}

func (p *Params) set(key, value string) error {
	switch key {
	case KeyReplicas:
		n, err := strconv.ParseInt(value, 10, 32)
		if err != nil || n < 0 {
			return fmt.Errorf("%q is not a replica count (a whole number, 0 or more)", value)
		}
		p.Replicas = int32(n)
	case KeyResources:
		var r corev1.ResourceRequirements
		if err := yaml.UnmarshalStrict([]byte(value), &r); err != nil {
			return fmt.Errorf("not a container's resources (YAML with requests and limits): %w", err)
		}
		for name, limit := range r.Limits {
			if req, ok := r.Requests[name]; ok && req.Cmp(limit) > 0 {
				return fmt.Errorf("requests.%s %s exceeds limits.%s %s", name, req.String(), name, limit.String())
			}
		}
		p.Resources = r
	case KeyServiceType:
		switch t := corev1.ServiceType(value); t {
		case corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeNodePort, corev1.ServiceTypeClusterIP:
			p.ServiceType = t
		default:
			return fmt.Errorf("%q: want LoadBalancer, NodePort or ClusterIP", value)
		}
	case KeyExternalTrafficPolicy:
		switch t := corev1.ServiceExternalTrafficPolicy(value); t {
		case corev1.ServiceExternalTrafficPolicyLocal, corev1.ServiceExternalTrafficPolicyCluster:
			p.ExternalTrafficPolicy = t
		default:
			return fmt.Errorf("%q: want Local or Cluster", value)
		}
	case KeyLoadBalancerClass:
		if msgs := validation.IsQualifiedName(value); len(msgs) > 0 {
			return fmt.Errorf("%q is not a class name: %s", value, msgs[0])
		}
		p.LoadBalancerClass = value
	default:
		return fmt.Errorf("unknown key: want %s, %s, %s, %s or %s",
			KeyReplicas, KeyResources, KeyServiceType, KeyExternalTrafficPolicy, KeyLoadBalancerClass)
	}
	return nil
}

// Parameters returns the Params of gw: DefaultParams without a
// parametersRef, else those of the ConfigMap it names in gw's namespace.
// A Gateway name too long for a label value, a reference to anything but
// a ConfigMap, a missing ConfigMap, or a bad
// key is a *ParamsError (IsInvalidParameters); other errors are the API
// server's. The status writer and the Reconciler both call it, so that
// they agree on Accepted.
func Parameters(ctx context.Context, r client.Reader, gw *gwv1.Gateway) (Params, error) {
	if len(gw.Name) > validation.LabelValueMaxLength {
		// Not a parameter, but refused the same way, where users look.
		return Params{}, &ParamsError{Err: fmt.Errorf("the Gateway's name is %d characters long: its pods' %s label (GEP-1762) takes at most %d",
			len(gw.Name), gateway.NameLabel, validation.LabelValueMaxLength)}
	}
	if gw.Spec.Infrastructure == nil || gw.Spec.Infrastructure.ParametersRef == nil {
		return DefaultParams(), nil
	}
	ref := gw.Spec.Infrastructure.ParametersRef
	if ref.Group != "" || ref.Kind != "ConfigMap" {
		return Params{}, &ParamsError{Err: fmt.Errorf("parametersRef group %q kind %q: only a ConfigMap (group \"\", kind ConfigMap) is supported", ref.Group, ref.Kind)}
	}
	var cm corev1.ConfigMap
	if err := r.Get(ctx, client.ObjectKey{Namespace: gw.Namespace, Name: ref.Name}, &cm); err != nil {
		if apierrors.IsNotFound(err) {
			return Params{}, &ParamsError{Err: fmt.Errorf("parametersRef ConfigMap %s/%s not found", gw.Namespace, ref.Name)}
		}
		return Params{}, fmt.Errorf("reading the parameters of Gateway %s/%s: %w", gw.Namespace, gw.Name, err)
	}
	if len(cm.BinaryData) > 0 {
		key := slices.Sorted(maps.Keys(cm.BinaryData))[0]
		return Params{}, fmt.Errorf("parametersRef ConfigMap %s/%s: %w", gw.Namespace, ref.Name,
			&ParamsError{Key: key, Err: errors.New("binaryData is not read: give the value in data")})
	}
	p, err := ParseParams(cm.Data)
	if err != nil {
		return Params{}, fmt.Errorf("parametersRef ConfigMap %s/%s: %w", gw.Namespace, ref.Name, err)
	}
	return p, nil
}
