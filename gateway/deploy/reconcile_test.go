package deploy

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/weftmesh/weft/gateway"
)

func newGateway(ns, name, class string, listeners ...gwv1.Listener) *gwv1.Gateway {
	return &gwv1.Gateway{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       gwv1.GatewaySpec{GatewayClassName: gwv1.ObjectName(class), Listeners: listeners},
	}
}

func listener(name string, proto gwv1.ProtocolType, port gwv1.PortNumber) gwv1.Listener {
	return gwv1.Listener{Name: gwv1.SectionName(name), Protocol: proto, Port: port}
}

// objects fetches the three objects of Gateway name; missing ones are nil.
func (k *kube) objects(t *testing.T, ns, name string) (*corev1.ServiceAccount, *appsv1.Deployment, *corev1.Service) {
	t.Helper()
	sa, dep, svc := &corev1.ServiceAccount{}, &appsv1.Deployment{}, &corev1.Service{}
	key := client.ObjectKey{Namespace: ns, Name: Name(name)}
	get := func(obj client.Object) bool {
		err := k.c.Get(t.Context(), key, obj)
		if err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
		return err == nil
	}
	if !get(sa) {
		sa = nil
	}
	if !get(dep) {
		dep = nil
	}
	if !get(svc) {
		svc = nil
	}
	return sa, dep, svc
}

func servicePorts(svc *corev1.Service) []string {
	var out []string
	for _, p := range svc.Spec.Ports {
		out = append(out, fmt.Sprintf("%s:%d->%s", p.Name, p.Port, p.TargetPort.String()))
	}
	return out
}

// TestDeployerLifecycle: a Gateway of class weft gets its ServiceAccount,
// Deployment and LoadBalancer Service; a listener change reaches the
// Service; deleting the Gateway deletes all three.
func TestDeployerLifecycle(t *testing.T) {
	const ns = "lifecycle"
	k := startDeployer(t, ns)
	ctx := t.Context()
	mesh := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: injectorConfigMap.Namespace, Name: injectorConfigMap.Name},
		Data:       map[string]string{InjectorConfigKey: "proxyImage: registry.example/weft-proxy:test\ntrustDomain: example.org\n"},
	}
	if err := k.c.Create(ctx, mesh); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	gw := newGateway(ns, "public", gateway.ClassName, listener("http", gwv1.HTTPProtocolType, 80), listener("db", gwv1.TCPProtocolType, 5432))
	gw.Spec.Infrastructure = &gwv1.GatewayInfrastructure{Annotations: map[gwv1.AnnotationKey]gwv1.AnnotationValue{"metallb.io/address-pool": "public"}}
	if err := k.c.Create(ctx, gw); err != nil {
		t.Fatal(err)
	}

	eventually(t, "the gateway's objects are created", func() error {
		sa, dep, svc := k.objects(t, ns, "public")
		if sa == nil || dep == nil || svc == nil {
			return fmt.Errorf("ServiceAccount %v, Deployment %v, Service %v: want all three", sa != nil, dep != nil, svc != nil)
		}
		return nil
	})
	sa, dep, svc := k.objects(t, ns, "public")
	for _, o := range []client.Object{sa, dep, svc} {
		if refs := o.GetOwnerReferences(); len(refs) != 1 || refs[0].UID != gw.UID {
			t.Errorf("%T owner references %+v, want the Gateway %s", o, refs, gw.UID)
		}
		if o.GetAnnotations()["metallb.io/address-pool"] != "public" {
			t.Errorf("%T annotations %v, want infrastructure's", o, o.GetAnnotations())
		}
	}
	c := dep.Spec.Template.Spec.Containers[0]
	if !slices.Contains(c.Args, "--mode=gateway") || c.Image != "registry.example/weft-proxy:test" || !slices.Contains(c.Args, "example.org") {
		t.Errorf("container image %s args %v: want --mode=gateway and the mesh configuration's image and trust domain", c.Image, c.Args)
	}
	if dep.Spec.Template.Spec.ServiceAccountName != sa.Name {
		t.Errorf("pods run as %q, want the gateway's ServiceAccount %q", dep.Spec.Template.Spec.ServiceAccountName, sa.Name)
	}
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer || svc.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal {
		t.Errorf("Service type %s, externalTrafficPolicy %s; want LoadBalancer, Local", svc.Spec.Type, svc.Spec.ExternalTrafficPolicy)
	}
	if got, want := servicePorts(svc), []string{"http-80:80->80", "tcp-5432:5432->5432"}; !slices.Equal(got, want) {
		t.Errorf("Service ports %v, want %v", got, want)
	}
	if !k.rootsPublished(ns) {
		t.Errorf("the CA roots were not asked for in %s, where the gateway's pods mount them", ns)
	}

	// The listeners change: the Service follows.
	if err := k.c.Get(ctx, client.ObjectKeyFromObject(gw), gw); err != nil {
		t.Fatal(err)
	}
	gw.Spec.Listeners = []gwv1.Listener{listener("http", gwv1.HTTPProtocolType, 80), listener("alt", gwv1.HTTPProtocolType, 8080)}
	if err := k.c.Update(ctx, gw); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the Service follows the listeners", func() error {
		_, dep, svc := k.objects(t, ns, "public")
		want := []string{"http-80:80->80", "http-8080:8080->8080"}
		if got := servicePorts(svc); !slices.Equal(got, want) {
			return fmt.Errorf("Service ports %v, want %v", got, want)
		}
		var cports []int32
		for _, p := range dep.Spec.Template.Spec.Containers[0].Ports {
			cports = append(cports, p.ContainerPort)
		}
		if want := []int32{15020, 80, 8080}; !slices.Equal(cports, want) {
			return fmt.Errorf("container ports %v, want %v", cports, want)
		}
		return nil
	})

	// Someone edits the Deployment by hand: the Gateway wins.
	_, dep, _ = k.objects(t, ns, "public")
	dep.Spec.Replicas = new(int32(5))
	if err := k.c.Update(ctx, dep); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a hand edit of the Deployment is undone", func() error {
		_, dep, _ := k.objects(t, ns, "public")
		if *dep.Spec.Replicas != 1 {
			return fmt.Errorf("replicas %d, want 1 from the Gateway's (default) parameters", *dep.Spec.Replicas)
		}
		return nil
	})

	if err := k.c.Delete(ctx, gw); err != nil {
		t.Fatal(err)
	}
	eventually(t, "deleting the Gateway deletes its objects", func() error {
		sa, dep, svc := k.objects(t, ns, "public")
		if sa != nil || dep != nil || svc != nil {
			return fmt.Errorf("ServiceAccount %v, Deployment %v, Service %v left", sa != nil, dep != nil, svc != nil)
		}
		return nil
	})
}

// TestDeployerOtherClass: a Gateway of another controller's class gets
// nothing, and one that moves to another class loses what it had.
func TestDeployerOtherClass(t *testing.T) {
	const ns = "otherclass"
	k := startDeployer(t, ns)
	ctx := t.Context()
	foreign := newGateway(ns, "foreign", "other", listener("http", gwv1.HTTPProtocolType, 80))
	if err := k.c.Create(ctx, foreign); err != nil {
		t.Fatal(err)
	}
	// A Gateway of ours created after it: once its objects exist, the
	// foreign one has been looked at too.
	mine := newGateway(ns, "mine", gateway.ClassName, listener("http", gwv1.HTTPProtocolType, 80))
	if err := k.c.Create(ctx, mine); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the weft Gateway is deployed", func() error {
		if _, dep, _ := k.objects(t, ns, "mine"); dep == nil {
			return errors.New("no Deployment mine-weft")
		}
		return nil
	})
	time.Sleep(time.Second)
	if sa, dep, svc := k.objects(t, ns, "foreign"); sa != nil || dep != nil || svc != nil {
		t.Errorf("a Gateway of class other got ServiceAccount %v, Deployment %v, Service %v; want nothing", sa != nil, dep != nil, svc != nil)
	}

	// The other implementation's own objects, labelled and owned as ours
	// are, are left alone.
	if err := k.c.Get(ctx, client.ObjectKeyFromObject(foreign), foreign); err != nil {
		t.Fatal(err)
	}
	theirs := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{
		Name: "foreign-other", Namespace: ns, Labels: map[string]string{gateway.NameLabel: "foreign"},
		OwnerReferences: []metav1.OwnerReference{{APIVersion: gwv1.GroupVersion.String(), Kind: "Gateway", Name: "foreign", UID: foreign.UID, Controller: new(true)}},
	}}
	if err := k.c.Create(ctx, theirs); err != nil {
		t.Fatal(err)
	}
	foreign.Spec.Listeners = append(foreign.Spec.Listeners, listener("alt", gwv1.HTTPProtocolType, 8080))
	if err := k.c.Update(ctx, foreign); err != nil { // a reconcile of the foreign Gateway
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if err := k.c.Get(ctx, client.ObjectKeyFromObject(theirs), theirs); err != nil {
		t.Errorf("the other implementation's ServiceAccount: %v; want it left alone", err)
	}

	// spec.gatewayClassName is immutable, so the class itself moves to
	// another controller... which the API server also refuses. A class
	// deleted takes the Gateway out of Weft's hands instead.
	other := newGateway(ns, "orphan", "vanishing", listener("http", gwv1.HTTPProtocolType, 80))
	class := &gwv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "vanishing"}, Spec: gwv1.GatewayClassSpec{ControllerName: gateway.ControllerName}}
	for _, o := range []client.Object{class, other} {
		if err := k.c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "a Gateway of a second class of Weft's controller is deployed", func() error {
		if _, dep, _ := k.objects(t, ns, "orphan"); dep == nil {
			return errors.New("no Deployment orphan-weft")
		}
		return nil
	})
	if err := k.c.Delete(ctx, class); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a Gateway whose class is gone loses its objects", func() error {
		if sa, dep, svc := k.objects(t, ns, "orphan"); sa != nil || dep != nil || svc != nil {
			return fmt.Errorf("ServiceAccount %v, Deployment %v, Service %v left", sa != nil, dep != nil, svc != nil)
		}
		return nil
	})
}

// TestDeployerInvalidParameters: a bad parameters ConfigMap makes the
// Gateway Accepted=False with reason InvalidParameters, naming the key,
// and deploys nothing; fixing it deploys the Gateway with its
// parameters.
func TestDeployerInvalidParameters(t *testing.T) {
	const ns = "params"
	k := startDeployer(t, ns)
	ctx := t.Context()
	params := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "gateway-params"},
		Data:       map[string]string{KeyReplicas: "many", KeyServiceType: "NodePort"},
	}
	if err := k.c.Create(ctx, params); err != nil {
		t.Fatal(err)
	}
	gw := newGateway(ns, "sized", gateway.ClassName, listener("http", gwv1.HTTPProtocolType, 80))
	gw.Spec.Infrastructure = &gwv1.GatewayInfrastructure{ParametersRef: &gwv1.LocalParametersReference{Kind: "ConfigMap", Name: "gateway-params"}}
	if err := k.c.Create(ctx, gw); err != nil {
		t.Fatal(err)
	}
	accepted := func() *metav1.Condition {
		var cur gwv1.Gateway
		if err := k.c.Get(ctx, client.ObjectKeyFromObject(gw), &cur); err != nil {
			t.Fatal(err)
		}
		return meta.FindStatusCondition(cur.Status.Conditions, string(gwv1.GatewayConditionAccepted))
	}
	eventually(t, "the Gateway is not accepted", func() error {
		c := accepted()
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != string(gwv1.GatewayReasonInvalidParameters) || !strings.Contains(c.Message, "key replicas") {
			return fmt.Errorf("Accepted %+v, want False, InvalidParameters, naming the key replicas", c)
		}
		return nil
	})
	t.Logf("the user reads: %s", accepted().Message)
	if sa, dep, svc := k.objects(t, ns, "sized"); sa != nil || dep != nil || svc != nil {
		t.Errorf("a Gateway with invalid parameters got ServiceAccount %v, Deployment %v, Service %v; want nothing", sa != nil, dep != nil, svc != nil)
	}

	params.Data[KeyReplicas] = "2"
	if err := k.c.Update(ctx, params); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the fixed parameters are used", func() error {
		_, dep, svc := k.objects(t, ns, "sized")
		if dep == nil || svc == nil {
			return errors.New("no Deployment or Service yet")
		}
		if *dep.Spec.Replicas != 2 || svc.Spec.Type != corev1.ServiceTypeNodePort {
			return fmt.Errorf("replicas %d, Service type %s; want 2, NodePort", *dep.Spec.Replicas, svc.Spec.Type)
		}
		if c := accepted(); c == nil || c.Status != metav1.ConditionTrue {
			return fmt.Errorf("Accepted %+v, want True once the parameters are fixed", c)
		}
		return nil
	})
}

// TestParametersRefKind: a parametersRef to anything but a ConfigMap, or
// to a missing one, is invalid; without one the defaults apply.
func TestParametersRefKind(t *testing.T) {
	k := startDeployer(t, "refkind")
	tests := []struct {
		name string
		ref  *gwv1.LocalParametersReference
		want string
	}{
		{"none", nil, ""},
		{"Secret", &gwv1.LocalParametersReference{Kind: "Secret", Name: "x"}, `parametersRef group "" kind "Secret": only a ConfigMap`},
		{"CRD", &gwv1.LocalParametersReference{Group: "example.com", Kind: "GatewayParams", Name: "x"}, `kind "GatewayParams": only a ConfigMap`},
		{"missing ConfigMap", &gwv1.LocalParametersReference{Kind: "ConfigMap", Name: "absent"}, "parametersRef ConfigMap refkind/absent not found"},
		{"name too long for a label", nil, "the Gateway's name is 64 characters long: its pods' gateway.networking.k8s.io/gateway-name label (GEP-1762) takes at most 63"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := "g"
			if strings.Contains(tt.name, "too long") {
				name = strings.Repeat("g", 64)
			}
			gw := newGateway("refkind", name, gateway.ClassName)
			if tt.ref != nil {
				gw.Spec.Infrastructure = &gwv1.GatewayInfrastructure{ParametersRef: tt.ref}
			}
			p, err := Parameters(t.Context(), k.c, gw)
			if tt.want == "" {
				if err != nil || p.Replicas != 1 {
					t.Fatalf("Parameters = %+v, %v; want the defaults", p, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !IsInvalidParameters(err) {
				t.Fatalf("Parameters error %v, want invalid parameters containing %q", err, tt.want)
			}
		})
	}
}
