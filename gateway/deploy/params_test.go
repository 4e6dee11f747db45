package deploy

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestParseParams(t *testing.T) {
	p, err := ParseParams(map[string]string{
		KeyReplicas:              "2",
		KeyResources:             "requests: {cpu: 250m}\nlimits: {cpu: '1', memory: 512Mi}",
		KeyServiceType:           "NodePort",
		KeyExternalTrafficPolicy: "Cluster",
	})
	if err != nil {
		t.Fatal(err)
	}
	if p.Replicas != 2 || p.ServiceType != corev1.ServiceTypeNodePort || p.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyCluster {
		t.Errorf("got %+v", p)
	}
	if cpu := p.Resources.Requests[corev1.ResourceCPU]; cpu.Cmp(resource.MustParse("250m")) != 0 {
		t.Errorf("requests.cpu %s, want 250m", cpu.String())
	}
	if _, ok := p.Resources.Requests[corev1.ResourceMemory]; ok {
		t.Errorf("resources replace the defaults as a whole; got requests %v", p.Resources.Requests)
	}
	if d, err := ParseParams(nil); err != nil || d.Replicas != 1 || d.ServiceType != corev1.ServiceTypeLoadBalancer || d.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal {
		t.Errorf("no keys: %+v, %v; want the defaults", d, err)
	}
}

// TestParseParamsErrors: what the user reads in the Gateway's Accepted
// condition names the key at fault.
func TestParseParamsErrors(t *testing.T) {
	tests := []struct {
		name string
		data map[string]string
		want string
	}{
		{"unknown key", map[string]string{"replica": "2"}, `key replica: unknown key`},
		{"replicas not a number", map[string]string{KeyReplicas: "two"}, `key replicas: "two" is not a replica count`},
		{"negative replicas", map[string]string{KeyReplicas: "-1"}, `key replicas: "-1" is not a replica count`},
		{"resources not YAML", map[string]string{KeyResources: "requests: [cpu]"}, `key resources: not a container's resources`},
		{"resources unknown field", map[string]string{KeyResources: "request: {cpu: 1}"}, `key resources: not a container's resources`},
		{"requests over limits", map[string]string{KeyResources: "requests: {memory: 2Gi}\nlimits: {memory: 1Gi}"}, `key resources: requests.memory 2Gi exceeds limits.memory 1Gi`},
		{"serviceType", map[string]string{KeyServiceType: "ExternalName"}, `key serviceType: "ExternalName": want LoadBalancer, NodePort or ClusterIP`},
		{"externalTrafficPolicy", map[string]string{KeyExternalTrafficPolicy: "local"}, `key externalTrafficPolicy: "local": want Local or Cluster`},
		{"externalTrafficPolicy with ClusterIP", map[string]string{KeyServiceType: "ClusterIP", KeyExternalTrafficPolicy: "Local"}, `key externalTrafficPolicy: only a LoadBalancer or NodePort`},
		{"loadBalancerClass bad", map[string]string{KeyLoadBalancerClass: "not a class"}, `key loadBalancerClass: "not a class" is not a class name`},
		{"loadBalancerClass with NodePort", map[string]string{KeyServiceType: "NodePort", KeyLoadBalancerClass: "metallb.io/metallb"}, `key loadBalancerClass: only a LoadBalancer serviceType`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseParams(tt.data)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ParseParams(%v) = %v, want an error containing %q", tt.data, err, tt.want)
			}
			if !IsInvalidParameters(err) {
				t.Errorf("IsInvalidParameters(%v) = false", err)
			}
		})
	}
}
