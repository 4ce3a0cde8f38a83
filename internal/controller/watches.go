package controller

import (
	"context"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
)

const (
	// fieldConnectionID is a selectable field of the CRD: the API server
	// itself finds the object that manages a Codat connection.
	fieldConnectionID = "status.connectionId"
	// indexSecretRefs finds the objects that read a Secret by name, for
	// spec.credentialsRef and spec.authorization. Objects that use the default
	// credentials are not indexed: that Secret and Namespaces change rarely, and
	// an index entry per object costs memory at every scale.
	indexSecretRefs = "spec.secretRefs"
)

// SetupWithManager registers the indexes and watches and starts the
// controller with the given options (workers, rate limiter).
func (r *Reconciler) SetupWithManager(mgr manager.Manager, opts controller.Options) error {
	r.init()
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &codatv1.CodatConnection{}, indexSecretRefs, secretRefs); err != nil {
		return err
	}

	if r.Budget != nil {
		r.Budget.Subscribe(r.replan)
	}
	if opts.NewQueue == nil {
		opts.NewQueue = func(name string, rl workqueue.TypedRateLimiter[reconcile.Request]) workqueue.TypedRateLimitingInterface[reconcile.Request] {
			r.queue = newFairQueue(priorityqueue.New(name, func(o *priorityqueue.Opts[reconcile.Request]) {
				o.RateLimiter = rl
				o.Log = mgr.GetLogger().WithValues("controller", name)
			}), lookUpInCache(mgr.GetClient()))
			return r.queue
		}
	}
	if opts.RateLimiter == nil {
		// Errors returned to controller-runtime (failed status writes) back
		// off like Codat failures do, not from its 5ms default.
		opts.RateLimiter = workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](
			r.Intervals.BackoffBase, r.Intervals.BackoffMax)
	}
	b := builder.ControllerManagedBy(mgr).
		Named("codatconnection").
		For(&codatv1.CodatConnection{}, builder.WithPredicates(changedByUser())).
		// Only the metadata of Secrets is cached: a change to a referenced
		// Secret's content bumps its resourceVersion, which is all the watch
		// needs; contents are read on demand.
		WatchesMetadata(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.objectsReadingSecret)).
		// A namespace's labels grant it the default credentials and its
		// annotations narrow its companies: a change takes effect at once,
		// without a restart.
		WatchesMetadata(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(r.objectsUsingDefaultCredentials),
			builder.WithPredicates(predicate.NewPredicateFuncs(r.watched),
				predicate.Or(predicate.LabelChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		// A namespace's default deletion policy governs all its objects: their
		// status.deletionPolicy follows a change at once.
		WatchesMetadata(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(r.objectsInNamespace),
			builder.WithPredicates(predicate.NewPredicateFuncs(r.watched), annotationChanged(codatv1.AnnotationDefaultDeletionPolicy))).
		WithOptions(opts)
	if r.Webhooks != nil {
		if err := mgr.GetFieldIndexer().IndexField(context.Background(), &codatv1.CodatConnection{}, indexConnectionID, connectionIDOf); err != nil {
			return err
		}
		b = b.WatchesRawSource(r.Webhooks.source())
	}
	return b.Complete(r)
}

func connectionIDOf(o client.Object) []string {
	if id := o.(*codatv1.CodatConnection).Status.ConnectionID; id != "" {
		return []string{id}
	}
	return nil
}

func secretRefs(o client.Object) []string {
	spec := o.(*codatv1.CodatConnection).Spec
	var refs []string
	if spec.CredentialsRef != nil {
		refs = append(refs, spec.CredentialsRef.Name)
	}
	if spec.Authorization != nil {
		refs = append(refs, spec.Authorization.SecretRef.Name)
	}
	return refs
}

// objectsReadingSecret maps a Secret to the CodatConnections that read it.
func (r *Reconciler) objectsReadingSecret(ctx context.Context, secret client.Object) []reconcile.Request {
	var list codatv1.CodatConnectionList
	if err := r.Client.List(ctx, &list, client.InNamespace(secret.GetNamespace()),
		client.MatchingFields{indexSecretRefs: secret.GetName()}); err != nil {
		log.FromContext(ctx).Error(err, "listing the CodatConnections that read a Secret")
		return nil
	}
	requests := make([]reconcile.Request, 0, len(list.Items))
	for i := range list.Items {
		requests = append(requests, reconcile.Request{NamespacedName: nameOf(&list.Items[i])})
	}
	if r.Credentials.APIKey == "" && r.Credentials.Secret == (types.NamespacedName{Namespace: secret.GetNamespace(), Name: secret.GetName()}) {
		requests = append(requests, r.usingDefaultCredentials(ctx)...)
	}
	return requests
}

// usingDefaultCredentials lists the objects (of the given namespaces, or all) that use the
// operator's default credentials.
func (r *Reconciler) usingDefaultCredentials(ctx context.Context, opts ...client.ListOption) []reconcile.Request {
	var list codatv1.CodatConnectionList
	if err := r.Client.List(ctx, &list, append(opts, client.UnsafeDisableDeepCopy)...); err != nil {
		log.FromContext(ctx).Error(err, "listing the CodatConnections that use the default credentials")
		return nil
	}
	var requests []reconcile.Request
	for i := range list.Items {
		if list.Items[i].Spec.CredentialsRef == nil {
			requests = append(requests, reconcile.Request{NamespacedName: nameOf(&list.Items[i])})
		}
	}
	return requests
}

// watched says whether the manager watches the namespace's objects.
func (r *Reconciler) watched(ns client.Object) bool {
	return len(r.Namespaces) == 0 || slices.Contains(r.Namespaces, ns.GetName())
}

// objectsUsingDefaultCredentials maps a Namespace to its CodatConnections
// that use the default credentials: those its grant and annotations govern.
func (r *Reconciler) objectsUsingDefaultCredentials(ctx context.Context, ns client.Object) []reconcile.Request {
	if !r.Credentials.Configured() {
		return nil
	}
	return r.usingDefaultCredentials(ctx, client.InNamespace(ns.GetName()))
}

// objectsInNamespace maps a Namespace to all its CodatConnections.
func (r *Reconciler) objectsInNamespace(ctx context.Context, ns client.Object) []reconcile.Request {
	var list codatv1.CodatConnectionList
	if err := r.Client.List(ctx, &list, client.InNamespace(ns.GetName()), client.UnsafeDisableDeepCopy); err != nil {
		log.FromContext(ctx).Error(err, "listing the CodatConnections of a namespace")
		return nil
	}
	requests := make([]reconcile.Request, 0, len(list.Items))
	for i := range list.Items {
		requests = append(requests, reconcile.Request{NamespacedName: nameOf(&list.Items[i])})
	}
	return requests
}

// annotationChanged lets through updates that change one annotation.
func annotationChanged(key string) predicate.Predicate {
	return predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return false },
		DeleteFunc:  func(event.DeleteEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
		UpdateFunc: func(e event.UpdateEvent) bool {
			o, oldOK := e.ObjectOld.GetAnnotations()[key]
			n, newOK := e.ObjectNew.GetAnnotations()[key]
			return o != n || oldOK != newOK
		},
	}
}

// changedByUser lets through what a user or GitOps tool changes (spec,
// annotations, deletion), not the operator's own status writes, nor its
// create-pending marker and finalizer: those events would only cost Codat calls.
func changedByUser() predicate.Predicate {
	return predicate.Or(
		predicate.GenerationChangedPredicate{},
		predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
			if e.ObjectOld.GetDeletionTimestamp().IsZero() != e.ObjectNew.GetDeletionTimestamp().IsZero() {
				return true
			}
			return !maps.Equal(userAnnotations(e.ObjectOld), userAnnotations(e.ObjectNew))
		}},
	)
}

func userAnnotations(o client.Object) map[string]string {
	a := maps.Clone(o.GetAnnotations())
	delete(a, codatv1.AnnotationCreatePending)
	return a
}
