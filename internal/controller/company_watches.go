package controller

import (
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
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
	"sigs.k8s.io/controller-runtime/pkg/source"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
	"github.com/codat-operator/codat-operator/internal/pacer"
)

const (
	// fieldCompanyID is a selectable field of the CodatCompany CRD: the API server finds the
	// object that manages a company.
	fieldCompanyID = "status.companyId"
	// indexCompanyID finds, in the cache, the CodatCompanies that manage a company.
	indexCompanyID = "status.companyId"
	// indexCompanyOf finds, in the cache, the CodatConnections of a company (lower case).
	indexCompanyOf = "companyOf"
	// indexCompanySecretRefs finds the CodatCompanies that read a Secret by name.
	indexCompanySecretRefs = "spec.credentialsRef.name"
)

// SetupWithManager registers the indexes and watches and starts the controller.
func (r *CompanyReconciler) SetupWithManager(mgr manager.Manager, opts controller.Options) error {
	r.init()
	indexer := mgr.GetFieldIndexer()
	for _, index := range []struct {
		obj     client.Object
		field   string
		extract client.IndexerFunc
	}{
		{&codatv1.CodatConnection{}, indexCompanyOf, func(o client.Object) []string {
			if id := companyOf(o.(*codatv1.CodatConnection)); id != "" {
				return []string{strings.ToLower(id)}
			}
			return nil
		}},
		{&codatv1.CodatCompany{}, indexCompanyID, func(o client.Object) []string {
			if id := o.(*codatv1.CodatCompany).Status.CompanyID; id != "" {
				return []string{strings.ToLower(id)}
			}
			return nil
		}},
		{&codatv1.CodatCompany{}, indexCompanySecretRefs, func(o client.Object) []string {
			if ref := o.(*codatv1.CodatCompany).Spec.CredentialsRef; ref != nil {
				return []string{ref.Name}
			}
			return nil
		}},
	} {
		if err := indexer.IndexField(context.Background(), index.obj, index.field, index.extract); err != nil {
			return err
		}
	}
	if opts.NewQueue == nil {
		opts.NewQueue = func(name string, rl workqueue.TypedRateLimiter[reconcile.Request]) workqueue.TypedRateLimitingInterface[reconcile.Request] {
			q := pacedQueue{priorityqueue.New(name, func(o *priorityqueue.Opts[reconcile.Request]) {
				o.RateLimiter = rl
				o.Log = mgr.GetLogger().WithValues("controller", name)
			})}
			r.Pacer.SetQueue(q)
			return q
		}
	}
	if opts.RateLimiter == nil {
		// As for connections: every retry is the pacer's RequeueAfter.
		opts.RateLimiter = workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](r.Intervals.BackoffBase, r.Intervals.BackoffMax)
	}
	return builder.ControllerManagedBy(mgr).
		Named("codatcompany").
		WatchesRawSource(source.Kind(mgr.GetCache(), &codatv1.CodatCompany{}, r.objectEvents())).
		WatchesMetadata(&corev1.Secret{}, r.waker().on(r.companiesReadingSecret)).
		WatchesMetadata(&corev1.Namespace{}, r.waker().on(r.companiesOfNamespace),
			builder.WithPredicates(predicate.NewPredicateFuncs(r.watched),
				predicate.Or(predicate.LabelChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		// A connection that goes may be the last that kept a company from being deleted.
		WatchesRawSource(source.Kind(mgr.GetCache(), &codatv1.CodatConnection{}, r.connectionEvents())).
		WithOptions(opts).
		Complete(r)
}

// pacedQueue is controller-runtime's priority queue, as the pacer uses it.
type pacedQueue struct {
	priorityqueue.PriorityQueue[reconcile.Request]
}

func (q pacedQueue) Look(name types.NamespacedName, after time.Duration, u pacer.Urgency) {
	q.AddWithOpts(priorityqueue.AddOpts{After: after, Priority: ptr.To(u.Priority())}, reconcile.Request{NamespacedName: name})
}

// objectEvents wakes a CodatCompany that a user changed (spec, annotations, deletion); the
// operator's own writes do not, and the objects of the initial list after a start are spread.
func (r *CompanyReconciler) objectEvents() handler.TypedEventHandler[*codatv1.CodatCompany, reconcile.Request] {
	return handler.TypedFuncs[*codatv1.CodatCompany, reconcile.Request]{
		CreateFunc: func(_ context.Context, e event.TypedCreateEvent[*codatv1.CodatCompany], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			r.waker().wakeOrList(q, e.IsInInitialList, nameOfCompany(e.Object))
		},
		UpdateFunc: func(_ context.Context, e event.TypedUpdateEvent[*codatv1.CodatCompany], _ workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			old, updated := e.ObjectOld, e.ObjectNew
			if old.Generation != updated.Generation || old.DeletionTimestamp.IsZero() != updated.DeletionTimestamp.IsZero() ||
				!maps.Equal(userAnnotations(old), userAnnotations(updated)) {
				r.Pacer.Wake(nameOfCompany(updated), pacer.Work)
			}
		},
		DeleteFunc: func(_ context.Context, e event.TypedDeleteEvent[*codatv1.CodatCompany], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			q.Add(reconcile.Request{NamespacedName: nameOfCompany(e.Object)}) // to forget it
		},
	}
}

// companiesReadingSecret maps a Secret to the CodatCompanies that read it: by spec.credentialsRef,
// or all that use the default credentials when it is the default Secret.
func (r *CompanyReconciler) companiesReadingSecret(ctx context.Context, secret client.Object) []types.NamespacedName {
	var list codatv1.CodatCompanyList
	if err := r.Client.List(ctx, &list, client.InNamespace(secret.GetNamespace()),
		client.MatchingFields{indexCompanySecretRefs: secret.GetName()}, client.UnsafeDisableDeepCopy); err != nil {
		log.FromContext(ctx).Error(err, "listing the CodatCompanies that read a Secret")
		return nil
	}
	names := namesOfCompanies(list.Items, func(*codatv1.CodatCompany) bool { return true })
	if r.Credentials.APIKey == "" && r.Credentials.Secret == (types.NamespacedName{Namespace: secret.GetNamespace(), Name: secret.GetName()}) {
		names = append(names, r.usingDefaultCredentials(ctx)...)
	}
	return names
}

// companiesOfNamespace maps a Namespace to its CodatCompanies that use the default credentials:
// those its grant and annotations govern.
func (r *CompanyReconciler) companiesOfNamespace(ctx context.Context, ns client.Object) []types.NamespacedName {
	if !r.Credentials.Configured() {
		return nil
	}
	return r.usingDefaultCredentials(ctx, client.InNamespace(ns.GetName()))
}

func (r *CompanyReconciler) usingDefaultCredentials(ctx context.Context, opts ...client.ListOption) []types.NamespacedName {
	var list codatv1.CodatCompanyList
	if err := r.Client.List(ctx, &list, append(opts, client.UnsafeDisableDeepCopy)...); err != nil {
		log.FromContext(ctx).Error(err, "listing the CodatCompanies that use the default credentials")
		return nil
	}
	return namesOfCompanies(list.Items, func(c *codatv1.CodatCompany) bool { return c.Spec.CredentialsRef == nil })
}

func (r *CompanyReconciler) waker() waker { return waker{pacer: r.Pacer} }

func namesOfCompanies(items []codatv1.CodatCompany, match func(*codatv1.CodatCompany) bool) []types.NamespacedName {
	var names []types.NamespacedName
	for i := range items {
		if match(&items[i]) {
			names = append(names, nameOfCompany(&items[i]))
		}
	}
	return names
}

// watched says whether the manager watches the namespace's objects.
func (r *CompanyReconciler) watched(ns client.Object) bool {
	return len(r.Namespaces) == 0 || slices.Contains(r.Namespaces, ns.GetName())
}

// connectionEvents wakes a CodatCompany being deleted when a connection of its company goes.
func (r *CompanyReconciler) connectionEvents() handler.TypedEventHandler[*codatv1.CodatConnection, reconcile.Request] {
	return handler.TypedFuncs[*codatv1.CodatConnection, reconcile.Request]{
		DeleteFunc: func(ctx context.Context, e event.TypedDeleteEvent[*codatv1.CodatConnection], _ workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			for _, name := range r.managing(ctx, companyOf(e.Object)) {
				r.Pacer.Wake(name, pacer.Work)
			}
		},
	}
}

// managing names the CodatCompanies, being deleted, that manage the company.
func (r *CompanyReconciler) managing(ctx context.Context, companyID string) []types.NamespacedName {
	if companyID == "" {
		return nil
	}
	var list codatv1.CodatCompanyList
	if err := r.Client.List(ctx, &list, client.MatchingFields{indexCompanyID: strings.ToLower(companyID)}, client.UnsafeDisableDeepCopy); err != nil {
		log.FromContext(ctx).Error(err, "listing the CodatCompanies of a company")
		return nil
	}
	return namesOfCompanies(list.Items, func(c *codatv1.CodatCompany) bool { return !c.DeletionTimestamp.IsZero() })
}
