package deploy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/client-go/discovery"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/weftmesh/weft/gateway"
)

// Config configures a Deployer.
type Config struct {
	ReconcilerConfig
	// RESTConfig reaches the API server.
	RESTConfig *rest.Config
	// Logger receives the Deployer's logs; nil discards them.
	Logger *slog.Logger
}

// Deployer runs the Reconciler in a controller-runtime manager of its
// own. Every control-plane replica may run one: applies are server-side
// and idempotent, so replicas agree rather than fight.
type Deployer struct {
	cfg Config
}

// New returns a Deployer; it does no I/O.
func New(cfg Config) (*Deployer, error) {
	if cfg.RESTConfig == nil {
		return nil, errors.New("gateway deployer: RESTConfig is required")
	}
	if cfg.InjectorConfigMap.Name == "" || cfg.InjectorConfigMap.Namespace == "" {
		return nil, errors.New("gateway deployer: InjectorConfigMap (namespace and name) is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Deployer{cfg: cfg}, nil
}

// Run deploys Gateways until ctx ends, then returns nil once the manager
// has stopped. In a cluster that does not serve the Gateway API (its CRDs
// are not installed) it logs so and returns nil at once: the control
// plane must be restarted after they are installed.
func (d *Deployer) Run(ctx context.Context) error {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return fmt.Errorf("gateway deployer: scheme: %w", err)
	}
	if err := gwv1.Install(scheme); err != nil {
		return fmt.Errorf("gateway deployer: scheme: %w", err)
	}
	// Only the objects made for Gateways are cached, not every
	// Deployment, Service and ServiceAccount of the cluster.
	hasName, err := labels.NewRequirement(gateway.NameLabel, selection.Exists, nil)
	if err != nil {
		return fmt.Errorf("gateway deployer: %w", err)
	}
	made := cache.ByObject{Label: labels.NewSelector().Add(*hasName)}
	mgr, err := manager.New(d.cfg.RESTConfig, manager.Options{
		Scheme:                 scheme,
		Logger:                 logr.FromSlogHandler(d.cfg.Logger.Handler()),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		LeaderElection:         false,
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{
			&appsv1.Deployment{}:     made,
			&corev1.Service{}:        made,
			&corev1.ServiceAccount{}: made,
			// Every ConfigMap is watched, for the Gateways whose
			// parametersRef names it, but only its metadata is kept: the
			// Reconciler reads the data from the API server. (A
			// metadata-only informer would leak a goroutine per watch:
			// apimachinery's watch.Filter.)
			&corev1.ConfigMap{}: {Transform: metadataOnly},
		}},
	})
	if err != nil {
		return fmt.Errorf("gateway deployer: manager: %w", err)
	}
	// The manager's client keeps connections open past Start.
	defer mgr.GetHTTPClient().CloseIdleConnections()
	served, err := gatewayAPIServed(d.cfg.RESTConfig, mgr.GetHTTPClient())
	if err != nil {
		return err
	}
	if !served {
		d.cfg.Logger.InfoContext(ctx, "gateway deployer off: the cluster does not serve the Gateway API (gateways and gatewayclasses of gateway.networking.k8s.io/v1)")
		return nil
	}
	if err := NewReconciler(mgr.GetClient(), mgr.GetAPIReader(), d.cfg.ReconcilerConfig).SetupWithManager(mgr); err != nil {
		return err
	}
	d.cfg.Logger.InfoContext(ctx, "gateway deployer started", "controller", string(gateway.ControllerName))
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("gateway deployer: %w", err)
	}
	return nil
}

// metadataOnly drops what the deployer's cache need not keep of a
// ConfigMap.
func metadataOnly(obj any) (any, error) {
	if cm, ok := obj.(*corev1.ConfigMap); ok {
		cm.Data, cm.BinaryData, cm.ManagedFields = nil, nil, nil
	}
	return obj, nil
}

// gatewayAPIServed reports whether the API server serves Gateways and
// GatewayClasses of gateway.networking.k8s.io/v1.
func gatewayAPIServed(cfg *rest.Config, hc *http.Client) (bool, error) {
	dc, err := discovery.NewDiscoveryClientForConfigAndClient(cfg, hc)
	if err != nil {
		return false, fmt.Errorf("gateway deployer: discovery client: %w", err)
	}
	list, err := dc.ServerResourcesForGroupVersion(gwv1.GroupVersion.String())
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("gateway deployer: discovering %s: %w", gwv1.GroupVersion, err)
	}
	names := make([]string, 0, len(list.APIResources))
	for _, r := range list.APIResources {
		names = append(names, r.Name)
	}
	return slices.Contains(names, "gateways") && slices.Contains(names, "gatewayclasses"), nil
}
