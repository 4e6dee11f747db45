package rootpublish

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

const (
	// ConfigMapName is the ConfigMap written in each namespace; it matches
	// injector.DefaultCARootConfigMap.
	ConfigMapName = "weft-ca-root"
	// Key holds the PEM roots.
	Key = "root-cert.pem"
	// InjectLabel selects the namespaces, as the webhook does.
	InjectLabel = "weft.dev/inject=enabled"
	// resync re-checks every namespace, repairing hand edits and catching
	// a root change the caller did not announce.
	resync = time.Minute
)

// Config configures a Publisher.
type Config struct {
	Client kubernetes.Interface
	// Roots returns the CA's current roots.
	Roots  func() []*x509.Certificate
	Logger *slog.Logger
}

// Publisher writes the roots into every labelled namespace.
type Publisher struct {
	cfg   Config
	kick  chan struct{}
	queue chan string

	// included are namespaces published to without the label: those of
	// Gateways, whose proxies mount the roots too (Include).
	mu       sync.Mutex
	included map[string]bool
}

// New returns a Publisher; it does nothing until Run.
func New(cfg Config) *Publisher {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Publisher{cfg: cfg, kick: make(chan struct{}, 1), queue: make(chan string, 1024), included: map[string]bool{}}
}

// Include publishes the roots in namespace too, labelled or not, from now
// on (and in every later pass): the gateway deployer calls it for each
// Gateway's namespace, at each of its changes, so that a ConfigMap
// deleted by hand comes back then. It does not block.
func (p *Publisher) Include(namespace string) {
	p.mu.Lock()
	p.included[namespace] = true
	p.mu.Unlock()
	select {
	case p.queue <- namespace:
	default:
		p.RootsChanged() // queue full: a full pass catches up
	}
}

func (p *Publisher) includedNamespaces() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Sorted(maps.Keys(p.included))
}

// RootsChanged asks for every namespace to be brought up to date now.
func (p *Publisher) RootsChanged() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// Run watches labelled namespaces and keeps their ConfigMaps until ctx
// ends; it returns nil then.
func (p *Publisher) Run(ctx context.Context) error {
	factory := informers.NewSharedInformerFactoryWithOptions(p.cfg.Client, resync,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = InjectLabel }))
	nsInformer := factory.Core().V1().Namespaces()
	enqueue := func(obj any) {
		if ns, ok := obj.(*corev1.Namespace); ok {
			select {
			case p.queue <- ns.Name:
			default:
				p.RootsChanged() // queue full: a full pass catches up
			}
		}
	}
	if _, err := nsInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
	}); err != nil {
		return fmt.Errorf("watching namespaces: %w", err)
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), nsInformer.Informer().HasSynced) {
		return nil // ctx ended
	}
	lister := nsInformer.Lister()
	for {
		select {
		case <-ctx.Done():
			return nil
		case name := <-p.queue:
			p.publish(ctx, name)
		case <-p.kick:
			all, err := lister.List(labels.Everything())
			if err != nil {
				p.cfg.Logger.Warn("listing namespaces failed", "error", err)
				continue
			}
			for _, ns := range all {
				p.publish(ctx, ns.Name)
			}
			for _, ns := range p.includedNamespaces() {
				p.publish(ctx, ns)
			}
		}
	}
}

// publish creates or updates the ConfigMap of one namespace.
func (p *Publisher) publish(ctx context.Context, namespace string) {
	want := encode(p.cfg.Roots())
	cms := p.cfg.Client.CoreV1().ConfigMaps(namespace)
	cur, err := cms.Get(ctx, ConfigMapName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = cms.Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: ConfigMapName, Namespace: namespace,
				Labels: map[string]string{"app.kubernetes.io/managed-by": "weft-controlplane"}},
			Data: map[string]string{Key: want},
		}, metav1.CreateOptions{})
	case err == nil && cur.Data[Key] != want:
		cur = cur.DeepCopy()
		if cur.Data == nil {
			cur.Data = map[string]string{}
		}
		cur.Data[Key] = want
		_, err = cms.Update(ctx, cur, metav1.UpdateOptions{})
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		// The next resync (or root change) tries again.
		p.cfg.Logger.Warn("CA roots not published", "namespace", namespace, "error", err)
	}
}

func encode(roots []*x509.Certificate) string {
	var b bytes.Buffer
	for _, c := range roots {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.String()
}
