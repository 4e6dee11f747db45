package status

import (
	"context"
	"fmt"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/weftmesh/weft/gateway"
)

// watchGateways wakes the Writer whenever a gateway's Service (labelled
// gateway.NameLabel), a GatewayClass or a Gateway's status changes: a
// load balancer assigning the Service its address, a new class, or the
// deployer's verdict on a Gateway's parameters (Accepted, written when a
// ConfigMap changes) makes no new mesh, yet changes what the Writer
// writes (Programmed and status.addresses, the class's Accepted, the
// Gateway's Accepted). The Writer's own writes wake it too, and find
// nothing more to write. It returns at once; stop stops the informers
// and waits for them. A cluster without the Gateway API CRDs is watched
// for Services only; informers that cannot start are logged, and the
// Writer then catches up at the next mesh or Resync.
func (w *Writer) watchGateways(ctx context.Context, httpClient *http.Client) (stop func()) {
	hasName, err := labels.NewRequirement(gateway.NameLabel, selection.Exists, nil)
	if err != nil {
		w.cfg.Logger.WarnContext(ctx, "gateway Services not watched", "error", err)
		return func() {}
	}
	c, err := cache.New(w.cfg.RESTConfig, cache.Options{
		HTTPClient:       httpClient,
		Scheme:           w.cfg.Client.Scheme(),
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Service{}: {Label: labels.NewSelector().Add(*hasName)},
		},
	})
	if err != nil {
		w.cfg.Logger.WarnContext(ctx, "gateway Services not watched", "error", err)
		return func() {}
	}
	wake := func(any) {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
	handler := toolscache.ResourceEventHandlerFuncs{
		AddFunc:    wake,
		UpdateFunc: func(_, obj any) { wake(obj) },
		DeleteFunc: wake,
	}
	for _, obj := range []client.Object{&corev1.Service{}, &gwv1.GatewayClass{}, &gwv1.Gateway{}} {
		inf, err := c.GetInformer(ctx, obj, cache.BlockUntilSynced(false))
		if apimeta.IsNoMatchError(err) {
			continue
		}
		if err == nil {
			_, err = inf.AddEventHandler(handler)
		}
		if err != nil {
			w.cfg.Logger.WarnContext(ctx, "gateway objects not watched", "type", fmt.Sprintf("%T", obj), "error", err)
			return func() {}
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := c.Start(ctx); err != nil && ctx.Err() == nil {
			w.cfg.Logger.WarnContext(ctx, "gateway Services not watched", "error", err)
		}
	}()
	return func() { cancel(); <-done }
}
