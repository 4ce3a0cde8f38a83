package webhook

import (
	"context"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// SecretLoader keeps Secrets in step with the Kubernetes Secret that holds the signing secrets:
// it reads the Secret at start, whenever its metadata changes (the manager caches the metadata of
// Secrets, never their contents), and every Interval as a fallback.
type SecretLoader struct {
	Name    types.NamespacedName
	Reader  client.Reader // uncached
	Cache   cache.Informers
	Secrets *Secrets
	Log     logr.Logger
	// Interval is the fallback re-read (default a minute).
	Interval time.Duration

	reload chan struct{}
}

// NeedLeaderElection is false: every replica verifies deliveries.
func (l *SecretLoader) NeedLeaderElection() bool { return false }

// Start loads the secrets and keeps them current until ctx ends.
func (l *SecretLoader) Start(ctx context.Context) error {
	l.reload = make(chan struct{}, 1)
	informer, err := l.Cache.GetInformer(ctx, &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}})
	if err != nil {
		return err
	}
	if _, err := informer.AddEventHandler(toolscache.FilteringResourceEventHandler{
		FilterFunc: func(obj any) bool {
			if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			o, ok := obj.(client.Object)
			return ok && o.GetNamespace() == l.Name.Namespace && o.GetName() == l.Name.Name
		},
		Handler: toolscache.ResourceEventHandlerFuncs{
			AddFunc:    func(any) { l.poke() },
			UpdateFunc: func(any, any) { l.poke() },
			DeleteFunc: func(any) { l.poke() },
		},
	}); err != nil {
		return err
	}
	interval := l.Interval
	if interval <= 0 {
		interval = time.Minute
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	last := -1
	for {
		last = l.load(ctx, last)
		select {
		case <-ctx.Done():
			return nil
		case <-l.reload:
		case <-ticker.C:
		}
	}
}

func (l *SecretLoader) poke() {
	select {
	case l.reload <- struct{}{}:
	default:
	}
}

// load reads the Secret; it logs when the number of usable secrets changes.
func (l *SecretLoader) load(ctx context.Context, last int) int {
	var s corev1.Secret
	if err := l.Reader.Get(ctx, l.Name, &s); err != nil {
		if _, lerr := l.Secrets.Load(nil); lerr == nil && last != 0 {
			l.Log.Error(err, "reading the webhook signing Secret failed; deliveries are refused and polling is at the normal intervals", "secret", l.Name)
		}
		return 0
	}
	n, err := l.Secrets.Load(s.Data)
	if err != nil {
		l.Log.Error(err, "the webhook signing Secret holds values that are not signing secrets", "secret", l.Name)
	}
	if n != last {
		l.Log.Info("webhook signing secrets loaded", "secret", l.Name, "count", n)
	}
	return n
}
