package webhook

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
)

// lister lists and watches objects of one kind (a typed client's List and
// Watch).
type lister struct {
	list  func(context.Context, metav1.ListOptions) (runtime.Object, error)
	watch func(context.Context, metav1.ListOptions) (watch.Interface, error)
}

// watchNamed is an informer on the one object called name: onChange gets
// it when it appears or changes, and nil when it is deleted; an object
// absent from the start is never reported. Run it with RunWithContext;
// HasSynced says when the first list has been handled.
func watchNamed(name string, objType runtime.Object, l lister, onChange func(runtime.Object)) cache.Controller {
	sel := fields.OneTermEqualSelector("metadata.name", name).String()
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			opts.FieldSelector = sel
			return l.list(ctx, opts)
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			opts.FieldSelector = sel
			return l.watch(ctx, opts)
		},
	}
	_, ctrl := cache.NewInformerWithOptions(cache.InformerOptions{
		ListerWatcher: lw,
		ObjectType:    objType,
		Handler: cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { onChange(obj.(runtime.Object)) },
			UpdateFunc: func(_, obj any) { onChange(obj.(runtime.Object)) },
			DeleteFunc: func(any) { onChange(nil) },
		},
	})
	return ctrl
}
