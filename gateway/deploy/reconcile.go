package deploy

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/weftmesh/weft/gateway"
	"github.com/weftmesh/weft/injector"
)

// FieldManager owns every field the deployer applies, and the Accepted
// condition it writes for bad parameters.
const FieldManager = "weft-gateway-deployer"

// InjectorConfigKey is the key of the injector's ConfigMap that holds the
// mesh configuration (as the webhook reads it).
const InjectorConfigKey = "config.yaml"

// ReconcilerConfig configures a Reconciler.
type ReconcilerConfig struct {
	// InjectorConfigMap is the ConfigMap whose key config.yaml holds the
	// mesh configuration the proxy container is built from (the
	// injector's); while it does not exist, injector.DefaultConfig.
	InjectorConfigMap types.NamespacedName
	// PublishRoots, when not nil, is called with the namespace of each
	// Gateway before its Deployment is applied, so that the CA root
	// ConfigMap the pods mount exists there.
	PublishRoots func(namespace string)
}

// Reconciler makes the objects of each Gateway of Weft's class match
// Render, and deletes them when the Gateway is gone or of another class.
type Reconciler struct {
	client client.Client
	// live reads ConfigMaps: the cache keeps only their metadata (see
	// Deployer.Run).
	live client.Reader
	cfg  ReconcilerConfig
}

// NewReconciler returns a Reconciler reading and writing through c and
// reading ConfigMaps through live (a manager's GetAPIReader); it does no
// I/O.
func NewReconciler(c client.Client, live client.Reader, cfg ReconcilerConfig) *Reconciler {
	return &Reconciler{client: c, live: live, cfg: cfg}
}

// SetupWithManager registers the Reconciler: it runs for every Gateway
// change, for a change of the objects it owns, of a ConfigMap a Gateway's
// parametersRef names or of the injector's ConfigMap, and of a
// GatewayClass.
func (r *Reconciler) SetupWithManager(mgr manager.Manager) error {
	err := builder.ControllerManagedBy(mgr).
		Named("gateway-deployer").
		WithOptions(controller.Options{SkipNameValidation: ptr.To(true)}).
		For(&gwv1.Gateway{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Owns(&corev1.ServiceAccount{}).
		Owns(&appsv1.Deployment{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Owns(&corev1.Service{}).
		Watches(&corev1.ConfigMap{}, handler.EnqueueRequestsFromMapFunc(r.gatewaysOfConfigMap)).
		Watches(&gwv1.GatewayClass{}, handler.EnqueueRequestsFromMapFunc(r.gatewaysOfClass)).
		Complete(r)
	if err != nil {
		return fmt.Errorf("gateway deployer: %w", err)
	}
	return nil
}

// Reconcile brings the objects of the Gateway req up to date.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	log := logr.FromContextOrDiscard(ctx)
	var gw gwv1.Gateway
	if err := r.client.Get(ctx, req.NamespacedName, &gw); err != nil {
		if apierrors.IsNotFound(err) {
			return reconcile.Result{}, r.cleanup(ctx, req.NamespacedName)
		}
		return reconcile.Result{}, fmt.Errorf("get Gateway %s: %w", req, err)
	}
	ours, err := r.ours(ctx, &gw)
	if err != nil {
		return reconcile.Result{}, err
	}
	if !ours || gw.DeletionTimestamp != nil {
		return reconcile.Result{}, r.cleanup(ctx, req.NamespacedName)
	}
	params, err := Parameters(ctx, r.live, &gw)
	if err != nil && !IsInvalidParameters(err) {
		return reconcile.Result{}, err
	}
	if err := r.writeAccepted(ctx, &gw, err); err != nil {
		return reconcile.Result{}, err
	}
	if err != nil {
		// A running gateway keeps its last good objects; a new one gets
		// none. A change of the ConfigMap brings the Gateway back here.
		log.Info("gateway not deployed: invalid parameters", "gateway", req.String(), "error", err.Error())
		return reconcile.Result{}, nil
	}
	mesh, err := r.meshConfig(ctx)
	if err != nil {
		return reconcile.Result{}, err
	}
	if r.cfg.PublishRoots != nil {
		r.cfg.PublishRoots(gw.Namespace)
	}
	for _, obj := range Render(&gw, params, mesh).List() {
		if err := r.apply(ctx, obj); err != nil {
			return reconcile.Result{}, err
		}
	}
	return reconcile.Result{}, nil
}

// ours reports whether gw's GatewayClass is handled by Weft.
func (r *Reconciler) ours(ctx context.Context, gw *gwv1.Gateway) (bool, error) {
	var class gwv1.GatewayClass
	if err := r.client.Get(ctx, client.ObjectKey{Name: string(gw.Spec.GatewayClassName)}, &class); err != nil {
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return false, fmt.Errorf("get GatewayClass %s: %w", gw.Spec.GatewayClassName, err)
	}
	return class.Spec.ControllerName == gateway.ControllerName, nil
}

// meshConfig reads the mesh configuration from the injector's ConfigMap.
// An invalid one is an error, which leaves the gateways as they are
// until it is fixed.
func (r *Reconciler) meshConfig(ctx context.Context) (injector.Config, error) {
	var cm corev1.ConfigMap
	if err := r.live.Get(ctx, r.cfg.InjectorConfigMap, &cm); err != nil {
		if apierrors.IsNotFound(err) {
			return injector.DefaultConfig(), nil
		}
		return injector.Config{}, fmt.Errorf("read the mesh configuration %s: %w", r.cfg.InjectorConfigMap, err)
	}
	text, ok := cm.Data[InjectorConfigKey]
	if !ok {
		return injector.Config{}, fmt.Errorf("mesh configuration %s has no key %s", r.cfg.InjectorConfigMap, InjectorConfigKey)
	}
	cfg, err := injector.ParseConfig([]byte(text))
	if err != nil {
		return injector.Config{}, fmt.Errorf("mesh configuration %s: %w", r.cfg.InjectorConfigMap, err)
	}
	return cfg, nil
}

// apply server-side applies obj, taking over fields another manager
// changed: the Gateway is the only place to change them.
func (r *Reconciler) apply(ctx context.Context, obj client.Object) error {
	fields, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return fmt.Errorf("apply %T %s/%s: %w", obj, obj.GetNamespace(), obj.GetName(), err)
	}
	delete(fields, "status")
	unstructured.RemoveNestedField(fields, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(fields, "spec", "template", "metadata", "creationTimestamp")
	u := &unstructured.Unstructured{Object: fields}
	if err := r.client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(FieldManager), client.ForceOwnership); err != nil {
		return fmt.Errorf("apply %s %s/%s: %w", u.GetKind(), u.GetNamespace(), u.GetName(), err)
	}
	return nil
}

// cleanup deletes the objects made for the Gateway key, gone or no longer
// of Weft's class: those named Name(key.Name), labelled with its name,
// whose controller is a Gateway of that name. A cluster's garbage collector would delete them
// too, but only once the Gateway is gone, and not in envtest.
func (r *Reconciler) cleanup(ctx context.Context, key types.NamespacedName) error {
	lists := []client.ObjectList{&corev1.ServiceList{}, &appsv1.DeploymentList{}, &corev1.ServiceAccountList{}}
	var errs []error
	for _, list := range lists {
		if err := r.client.List(ctx, list, client.InNamespace(key.Namespace), client.MatchingLabels{gateway.NameLabel: key.Name}); err != nil {
			errs = append(errs, fmt.Errorf("list %T in %s: %w", list, key.Namespace, err))
			continue
		}
		err := meta.EachListItem(list, func(o runtime.Object) error {
			obj := o.(client.Object)
			// Other implementations label and own their objects the
			// same way (Istio's <gateway>-istio): only Weft's name is
			// Weft's.
			if obj.GetName() != Name(key.Name) || !ownedBy(obj, key.Name) {
				return nil
			}
			err := r.client.Delete(ctx, obj,
				client.Preconditions{UID: ptr.To(obj.GetUID())},
				client.PropagationPolicy(metav1.DeletePropagationBackground))
			if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
				return fmt.Errorf("delete %T %s/%s: %w", obj, obj.GetNamespace(), obj.GetName(), err)
			}
			return nil
		})
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ownedBy reports whether a Gateway called name controls obj.
func ownedBy(obj client.Object, name string) bool {
	return slices.ContainsFunc(obj.GetOwnerReferences(), func(ref metav1.OwnerReference) bool {
		return ptr.Deref(ref.Controller, false) && ref.Kind == "Gateway" && ref.Name == name &&
			ref.APIVersion == gwv1.GroupVersion.String()
	})
}

// writeAccepted writes the Gateway's Accepted condition when the
// parameters decide it: False with reason InvalidParameters while
// paramsErr says they are bad, and True again once they are fixed (the
// status writer, which calls Parameters too, keeps the same value and
// refines a True to ListenersNotValid where it applies).
func (r *Reconciler) writeAccepted(ctx context.Context, gw *gwv1.Gateway, paramsErr error) error {
	cur := meta.FindStatusCondition(gw.Status.Conditions, string(gwv1.GatewayConditionAccepted))
	want := metav1.Condition{
		Type:               string(gwv1.GatewayConditionAccepted),
		ObservedGeneration: gw.Generation,
	}
	switch {
	case paramsErr != nil:
		want.Status, want.Reason, want.Message = metav1.ConditionFalse, string(gwv1.GatewayReasonInvalidParameters), paramsErr.Error()
	case cur != nil && cur.Reason == string(gwv1.GatewayReasonInvalidParameters):
		want.Status, want.Reason, want.Message = metav1.ConditionTrue, string(gwv1.GatewayReasonAccepted), "the parameters are valid"
	default:
		return nil
	}
	if cur != nil && cur.Status == want.Status && cur.Reason == want.Reason && cur.Message == want.Message && cur.ObservedGeneration == want.ObservedGeneration {
		return nil
	}
	gw = gw.DeepCopy()
	meta.SetStatusCondition(&gw.Status.Conditions, want)
	if err := r.client.Status().Update(ctx, gw, client.FieldOwner(FieldManager)); err != nil {
		return fmt.Errorf("write the Accepted condition of Gateway %s/%s: %w", gw.Namespace, gw.Name, err)
	}
	return nil
}

// gatewaysOfConfigMap maps a ConfigMap to the Gateways it configures:
// every Gateway for the injector's, those whose parametersRef names it
// for any other.
func (r *Reconciler) gatewaysOfConfigMap(ctx context.Context, cm client.Object) []reconcile.Request {
	all := client.ObjectKeyFromObject(cm) == r.cfg.InjectorConfigMap
	var gws gwv1.GatewayList
	opts := []client.ListOption{}
	if !all {
		opts = append(opts, client.InNamespace(cm.GetNamespace()))
	}
	if err := r.client.List(ctx, &gws, opts...); err != nil {
		logr.FromContextOrDiscard(ctx).Error(err, "ConfigMap change not followed", "configmap", client.ObjectKeyFromObject(cm).String())
		return nil
	}
	var out []reconcile.Request
	for i := range gws.Items {
		gw := &gws.Items[i]
		infra := gw.Spec.Infrastructure
		if all || (infra != nil && infra.ParametersRef != nil && infra.ParametersRef.Kind == "ConfigMap" && infra.ParametersRef.Name == cm.GetName()) {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(gw)})
		}
	}
	return out
}

// gatewaysOfClass maps a GatewayClass to its Gateways.
func (r *Reconciler) gatewaysOfClass(ctx context.Context, class client.Object) []reconcile.Request {
	var gws gwv1.GatewayList
	if err := r.client.List(ctx, &gws); err != nil {
		logr.FromContextOrDiscard(ctx).Error(err, "GatewayClass change not followed", "gatewayclass", class.GetName())
		return nil
	}
	var out []reconcile.Request
	for i := range gws.Items {
		if string(gws.Items[i].Spec.GatewayClassName) == class.GetName() {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&gws.Items[i])})
		}
	}
	return out
}
