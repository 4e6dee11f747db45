package deploy

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"

	"github.com/weftmesh/weft/gateway"
	"github.com/weftmesh/weft/injector"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// publicGateway is docs/gateway.md's first gateway, with a TLS
// passthrough listener and a second HTTPS host on 443.
func publicGateway() *gwv1.Gateway {
	return &gwv1.Gateway{
		ObjectMeta: metav1.ObjectMeta{Name: "public", Namespace: "shop", UID: "6d1f4c2e-0000-4000-8000-000000000001"},
		Spec: gwv1.GatewaySpec{
			GatewayClassName: gateway.ClassName,
			Listeners: []gwv1.Listener{
				{Name: "http", Protocol: gwv1.HTTPProtocolType, Port: 80},
				{Name: "https-shop", Protocol: gwv1.HTTPSProtocolType, Port: 443, Hostname: ptr.To[gwv1.Hostname]("shop.example.com")},
				{Name: "https-admin", Protocol: gwv1.HTTPSProtocolType, Port: 443, Hostname: ptr.To[gwv1.Hostname]("admin.example.com")},
				{Name: "db", Protocol: gwv1.TLSProtocolType, Port: 8443, TLS: &gwv1.ListenerTLSConfig{Mode: ptr.To(gwv1.TLSModePassthrough)}},
			},
		},
	}
}

func TestRenderGolden(t *testing.T) {
	allKeys, err := ParseParams(map[string]string{
		KeyReplicas:              "3",
		KeyResources:             "requests: {cpu: 500m, memory: 256Mi}\nlimits: {memory: 1Gi}\n",
		KeyServiceType:           "LoadBalancer",
		KeyExternalTrafficPolicy: "Cluster",
		KeyLoadBalancerClass:     "metallb.io/metallb",
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		gw     func(*gwv1.Gateway)
		params Params
		mesh   func(*injector.Config)
	}{
		{name: "defaults", params: DefaultParams()},
		{name: "infrastructure", params: DefaultParams(), gw: func(gw *gwv1.Gateway) {
			gw.Spec.Infrastructure = &gwv1.GatewayInfrastructure{
				Labels:      map[gwv1.LabelKey]gwv1.LabelValue{"team": "storefront"},
				Annotations: map[gwv1.AnnotationKey]gwv1.AnnotationValue{"metallb.io/address-pool": "public"},
			}
		}},
		{name: "parameters", params: allKeys, mesh: func(c *injector.Config) {
			c.ProxyImage = "registry.example/weft-proxy:v1.2.3"
			c.ControlPlaneAddress = "weft.mesh-system.svc:15012"
			c.TrustDomain = "example.org"
			c.LogLevel = "debug"
			c.CARootConfigMap = "mesh-root"
			c.Tracing = injector.TracingConfig{OTLPEndpoint: "otel-collector.observability:4317", Sampling: 0.05}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw := publicGateway()
			if tt.gw != nil {
				tt.gw(gw)
			}
			mesh := injector.DefaultConfig()
			if tt.mesh != nil {
				tt.mesh(&mesh)
			}
			var got bytes.Buffer
			for i, obj := range Render(gw, tt.params, mesh).List() {
				text, err := yaml.Marshal(obj)
				if err != nil {
					t.Fatal(err)
				}
				if i > 0 {
					got.WriteString("---\n")
				}
				got.Write(text)
			}
			path := filepath.Join("testdata", tt.name+".yaml")
			if *update {
				if err := os.WriteFile(path, got.Bytes(), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to write it)", err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("Render differs from %s (go test -update rewrites it after review):\n%s", path, got.String())
			}
		})
	}
}

// TestRenderContract checks, apart from the goldens, what docs/gateway.md
// promises of the objects, so that a golden updated by mistake still
// fails here.
func TestRenderContract(t *testing.T) {
	gw := publicGateway()
	gw.Spec.Infrastructure = &gwv1.GatewayInfrastructure{Labels: map[gwv1.LabelKey]gwv1.LabelValue{"team": "storefront"}}
	objs := Render(gw, DefaultParams(), injector.DefaultConfig())
	for _, o := range objs.List() {
		if o.GetName() != "public-weft" || o.GetNamespace() != "shop" {
			t.Errorf("%T is %s/%s, want shop/public-weft", o, o.GetNamespace(), o.GetName())
		}
		if o.GetLabels()[gateway.NameLabel] != "public" || o.GetLabels()["team"] != "storefront" {
			t.Errorf("%T labels %v, want %s=public and team=storefront", o, o.GetLabels(), gateway.NameLabel)
		}
		refs := o.GetOwnerReferences()
		if len(refs) != 1 || refs[0].Kind != "Gateway" || refs[0].UID != gw.UID || !ptr.Deref(refs[0].Controller, false) || !ptr.Deref(refs[0].BlockOwnerDeletion, false) {
			t.Errorf("%T owner references %+v, want the Gateway as controller, blocking deletion", o, refs)
		}
	}
	svc := objs.Service.Spec
	if svc.Type != corev1.ServiceTypeLoadBalancer || svc.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal {
		t.Errorf("Service type %s, externalTrafficPolicy %s; want LoadBalancer, Local (the client address is kept)", svc.Type, svc.ExternalTrafficPolicy)
	}
	var ports []string
	for _, p := range svc.Ports {
		if p.TargetPort.IntVal != p.Port || p.Protocol != corev1.ProtocolTCP {
			t.Errorf("Service port %+v: want targetPort = port, TCP", p)
		}
		ports = append(ports, p.Name)
	}
	if want := []string{"http-80", "https-443", "tls-8443"}; !slices.Equal(ports, want) {
		t.Errorf("Service ports %v, want one per distinct listener port %v", ports, want)
	}
	pod := objs.Deployment.Spec.Template
	if pod.Labels[InjectLabel] != "disabled" || pod.Labels[ClassLabel] != "weft" || pod.Labels[gateway.NameLabel] != "public" {
		t.Errorf("pod labels %v", pod.Labels)
	}
	if pod.Spec.ServiceAccountName != "public-weft" {
		t.Errorf("serviceAccountName %q, want public-weft (the gateway's SPIFFE identity)", pod.Spec.ServiceAccountName)
	}
	c := pod.Spec.Containers[0]
	if !slices.Contains(c.Args, "--mode=gateway") || slices.Contains(c.Args, "--capture") {
		t.Errorf("args %v: want --mode=gateway and no --capture", c.Args)
	}
	if sc := c.SecurityContext; *sc.RunAsUser != 1337 || !*sc.RunAsNonRoot || !*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation || len(sc.Capabilities.Drop) != 1 {
		t.Errorf("securityContext %+v", sc)
	}
	if s := pod.Spec.SecurityContext.Sysctls; len(s) != 1 || s[0].Name != "net.ipv4.ip_unprivileged_port_start" || s[0].Value != "0" {
		t.Errorf("sysctls %v", s)
	}
}

func TestRenderServiceTypes(t *testing.T) {
	tests := []struct {
		name       string
		data       map[string]string
		wantType   corev1.ServiceType
		wantPolicy corev1.ServiceExternalTrafficPolicy
	}{
		{name: "NodePort keeps Local", data: map[string]string{KeyServiceType: "NodePort"}, wantType: corev1.ServiceTypeNodePort, wantPolicy: corev1.ServiceExternalTrafficPolicyLocal},
		{name: "ClusterIP has no policy", data: map[string]string{KeyServiceType: "ClusterIP"}, wantType: corev1.ServiceTypeClusterIP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParseParams(tt.data)
			if err != nil {
				t.Fatal(err)
			}
			svc := Render(publicGateway(), p, injector.DefaultConfig()).Service.Spec
			if svc.Type != tt.wantType || svc.ExternalTrafficPolicy != tt.wantPolicy {
				t.Errorf("type %s policy %q, want %s %q", svc.Type, svc.ExternalTrafficPolicy, tt.wantType, tt.wantPolicy)
			}
		})
	}
}

// TestName: the objects are "<gateway>-weft" when that is a valid Service
// name; otherwise a valid name of at most 63 characters that a hash of
// the Gateway's name tells apart from its neighbours'.
func TestName(t *testing.T) {
	long := strings.Repeat("a", 59)
	tests := []struct{ gateway, want string }{
		{"public", "public-weft"},
		{strings.Repeat("a", 58), strings.Repeat("a", 58) + "-weft"},
		{"shop.example", ""},
		{"shop-example", "shop-example-weft"},
		{"1st", ""},
		{long, ""},
		{long + "b", ""},
		{strings.Repeat("a-", 126) + "a", ""},
	}
	seen := map[string]string{}
	for _, tt := range tests {
		got := Name(tt.gateway)
		if tt.want != "" && got != tt.want {
			t.Errorf("Name(%q) = %q, want %q", tt.gateway, got, tt.want)
		}
		if errs := validation.IsDNS1035Label(got); len(errs) > 0 {
			t.Errorf("Name(%q) = %q, not a valid Service name: %v", tt.gateway, got, errs)
		}
		if other, ok := seen[got]; ok {
			t.Errorf("Name(%q) = Name(%q) = %q", tt.gateway, other, got)
		}
		seen[got] = tt.gateway
		if Name(tt.gateway) != got {
			t.Errorf("Name(%q) is not stable", tt.gateway)
		}
	}
}
