package controller

import (
	"context"
	"maps"
	"regexp"
	"slices"
	"strings"

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
	"sigs.k8s.io/controller-runtime/pkg/source"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
	"github.com/codat-operator/codat-operator/internal/pacer"
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
	// indexAdopted finds the objects that adopt a connection by spec.connectionId.
	indexAdopted = "spec.connectionId"
	// indexCompanyRef finds the connections that name a CodatCompany by spec.companyRef.
	indexCompanyRef = "spec.companyRef.name"
)

// SetupWithManager registers the indexes and watches and starts the
// controller with the given options (workers).
func (r *Reconciler) SetupWithManager(mgr manager.Manager, opts controller.Options) error {
	r.init()
	indexer := mgr.GetFieldIndexer()
	for field, extract := range map[string]client.IndexerFunc{indexSecretRefs: secretRefs, indexAdopted: adoptedConnection, indexCompanyRef: companyRefOf} {
		if err := indexer.IndexField(context.Background(), &codatv1.CodatConnection{}, field, extract); err != nil {
			return err
		}
	}
	if opts.NewQueue == nil {
		opts.NewQueue = func(name string, rl workqueue.TypedRateLimiter[reconcile.Request]) workqueue.TypedRateLimitingInterface[reconcile.Request] {
			r.queue = newFairQueue(priorityqueue.New(name, func(o *priorityqueue.Opts[reconcile.Request]) {
				o.RateLimiter = rl
				o.Log = mgr.GetLogger().WithValues("controller", name)
			}), lookUpInCache(mgr.GetClient()))
			r.Pacer.SetQueue(r.queue)
			return r.queue
		}
	}
	if opts.RateLimiter == nil {
		// Reconcile never returns an error nor asks to be rate limited: every
		// retry is the pacer's RequeueAfter. This limiter only keeps
		// controller-runtime's own default (5ms) out of the way.
		opts.RateLimiter = workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](
			r.Intervals.BackoffBase, r.Intervals.BackoffMax)
	}
	b := builder.ControllerManagedBy(mgr).
		Named("codatconnection").
		WatchesRawSource(source.Kind(mgr.GetCache(), &codatv1.CodatConnection{}, r.objectEvents())).
		// Only the metadata of Secrets is cached: a change to a referenced
		// Secret's content bumps its resourceVersion, which is all the watch
		// needs; contents are read on demand.
		WatchesMetadata(&corev1.Secret{}, r.waker().on(r.objectsReadingSecret)).
		// A namespace's labels grant it the default credentials and its
		// annotations narrow its companies: a change takes effect at once,
		// without a restart.
		WatchesMetadata(&corev1.Namespace{}, r.waker().on(r.objectsUsingDefaultCredentials),
			builder.WithPredicates(predicate.NewPredicateFuncs(r.watched),
				predicate.Or(predicate.LabelChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		// A namespace's default deletion policy governs all its objects: their
		// status.deletionPolicy follows a change at once.
		WatchesMetadata(&corev1.Namespace{}, r.waker().on(r.objectsInNamespace),
			builder.WithPredicates(predicate.NewPredicateFuncs(r.watched), annotationChanged(codatv1.AnnotationDefaultDeletionPolicy))).
		// A CodatCompany that gets its company (or goes) wakes the connections that name it.
		WatchesRawSource(source.Kind(mgr.GetCache(), &codatv1.CodatCompany{}, r.companyEvents())).
		WithOptions(opts)
	if r.Webhooks != nil {
		r.Webhooks.Pacer = r.Pacer
		if err := indexer.IndexField(context.Background(), &codatv1.CodatConnection{}, indexConnectionID, connectionIDOf); err != nil {
			return err
		}
		b = b.WatchesRawSource(r.Webhooks.source())
	}
	return b.Complete(r)
}

// objectEvents turns events of CodatConnections into looks: what a user or
// GitOps tool changes (spec, annotations, deletion) wakes the object; the
// operator's own status writes, create-pending marker and finalizer do not,
// since those events would only cost Codat calls. An object that goes away
// wakes the objects it kept from adopting its connection (AlreadyOwned).
func (r *Reconciler) objectEvents() handler.TypedEventHandler[*codatv1.CodatConnection, reconcile.Request] {
	return handler.TypedFuncs[*codatv1.CodatConnection, reconcile.Request]{
		CreateFunc: func(_ context.Context, e event.TypedCreateEvent[*codatv1.CodatConnection], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			r.waker().wakeOrList(q, e.IsInInitialList, nameOf(e.Object))
		},
		UpdateFunc: func(_ context.Context, e event.TypedUpdateEvent[*codatv1.CodatConnection], _ workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			if changedByUser(e.ObjectOld, e.ObjectNew) {
				r.Pacer.Wake(nameOf(e.ObjectNew), pacer.Work)
			}
		},
		DeleteFunc: func(ctx context.Context, e event.TypedDeleteEvent[*codatv1.CodatConnection], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			q.Add(reconcile.Request{NamespacedName: nameOf(e.Object)}) // to forget it
			for _, name := range r.adopting(ctx, e.Object.Status.ConnectionID) {
				r.Pacer.Wake(name, pacer.Work)
			}
		},
		GenericFunc: func(_ context.Context, e event.TypedGenericEvent[*codatv1.CodatConnection], _ workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			r.Pacer.Wake(nameOf(e.Object), pacer.Work)
		},
	}
}

func (r *Reconciler) waker() waker { return waker{pacer: r.Pacer} }

func namesOfConnections(items []codatv1.CodatConnection, match func(*codatv1.CodatConnection) bool) []types.NamespacedName {
	var names []types.NamespacedName
	for i := range items {
		if match(&items[i]) {
			names = append(names, nameOf(&items[i]))
		}
	}
	return names
}

func connectionIDOf(o client.Object) []string {
	if id := o.(*codatv1.CodatConnection).Status.ConnectionID; id != "" {
		return []string{id}
	}
	return nil
}

func companyRefOf(o client.Object) []string {
	if ref := o.(*codatv1.CodatConnection).Spec.CompanyRef; ref != nil {
		return []string{ref.Name}
	}
	return nil
}

// companyEvents wakes the connections that name a CodatCompany when its company in Codat is
// known, changes or goes with the object: all a connection reads of it.
func (r *Reconciler) companyEvents() handler.TypedEventHandler[*codatv1.CodatCompany, reconcile.Request] {
	wake := func(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request], c *codatv1.CodatCompany, initial bool) {
		var list codatv1.CodatConnectionList
		if err := r.Client.List(ctx, &list, client.InNamespace(c.Namespace), client.MatchingFields{indexCompanyRef: c.Name}, client.UnsafeDisableDeepCopy); err != nil {
			log.FromContext(ctx).Error(err, "listing the CodatConnections that name a CodatCompany")
			return
		}
		for i := range list.Items {
			r.waker().wakeOrList(q, initial, nameOf(&list.Items[i]))
		}
	}
	return handler.TypedFuncs[*codatv1.CodatCompany, reconcile.Request]{
		CreateFunc: func(ctx context.Context, e event.TypedCreateEvent[*codatv1.CodatCompany], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			wake(ctx, q, e.Object, e.IsInInitialList)
		},
		UpdateFunc: func(ctx context.Context, e event.TypedUpdateEvent[*codatv1.CodatCompany], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			if e.ObjectOld.Status.CompanyID != e.ObjectNew.Status.CompanyID {
				wake(ctx, q, e.ObjectNew, false)
			}
		},
		DeleteFunc: func(ctx context.Context, e event.TypedDeleteEvent[*codatv1.CodatCompany], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			wake(ctx, q, e.Object, false)
		},
	}
}

func adoptedConnection(o client.Object) []string {
	if id := o.(*codatv1.CodatConnection).Spec.ConnectionID; id != "" {
		return []string{id}
	}
	return nil
}

// adopting lists the objects that adopt the connection: when its owner goes,
// one of them may now take it.
func (r *Reconciler) adopting(ctx context.Context, connectionID string) []types.NamespacedName {
	if connectionID == "" {
		return nil
	}
	var list codatv1.CodatConnectionList
	if err := r.Client.List(ctx, &list, client.MatchingFields{indexAdopted: connectionID}, client.UnsafeDisableDeepCopy); err != nil {
		log.FromContext(ctx).Error(err, "listing the CodatConnections that adopt a connection")
		return nil
	}
	return namesOfConnections(list.Items, func(*codatv1.CodatConnection) bool { return true })
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

// objectsReadingSecret maps a Secret to the CodatConnections that read it,
// and a Secret named as an object's link URL Secret to that object: a
// foreign Secret in the way (LinkURLSecretConflict) heals once it goes.
func (r *Reconciler) objectsReadingSecret(ctx context.Context, secret client.Object) []types.NamespacedName {
	var list codatv1.CodatConnectionList
	if err := r.Client.List(ctx, &list, client.InNamespace(secret.GetNamespace()),
		client.MatchingFields{indexSecretRefs: secret.GetName()}); err != nil {
		log.FromContext(ctx).Error(err, "listing the CodatConnections that read a Secret")
		return nil
	}
	requests := namesOfConnections(list.Items, func(*codatv1.CodatConnection) bool { return true })
	if r.Credentials.APIKey == "" && r.Credentials.Secret == (types.NamespacedName{Namespace: secret.GetNamespace(), Name: secret.GetName()}) {
		requests = append(requests, r.usingDefaultCredentials(ctx)...)
	}
	if r.LinkURLs == LinkURLsInSecret {
		if owner, ok := r.linkURLSecretOwner(ctx, secret); ok {
			requests = append(requests, owner)
		}
	}
	return requests
}

// linkURLSecretOwner finds the object whose link URL Secret has the Secret's name: the name
// without its suffix, or, for a name shortened with a digest, the object of the namespace it
// was shortened from.
func (r *Reconciler) linkURLSecretOwner(ctx context.Context, secret client.Object) (types.NamespacedName, bool) {
	owner, ok := strings.CutSuffix(secret.GetName(), codatv1.LinkURLSecretSuffix)
	if !ok {
		return types.NamespacedName{}, false
	}
	name := types.NamespacedName{Namespace: secret.GetNamespace(), Name: owner}
	if err := r.Client.Get(ctx, name, &codatv1.CodatConnection{}); err == nil {
		return name, true
	}
	if !shortenedLinkURLSecretName.MatchString(secret.GetName()) {
		return types.NamespacedName{}, false
	}
	var list codatv1.CodatConnectionList
	if err := r.Client.List(ctx, &list, client.InNamespace(secret.GetNamespace()), client.UnsafeDisableDeepCopy); err != nil {
		log.FromContext(ctx).Error(err, "listing the CodatConnections to find a link URL Secret's owner")
		return types.NamespacedName{}, false
	}
	for i := range list.Items {
		if LinkURLSecretName(list.Items[i].Name) == secret.GetName() {
			return client.ObjectKeyFromObject(&list.Items[i]), true
		}
	}
	return types.NamespacedName{}, false
}

// shortenedLinkURLSecretName matches the names LinkURLSecretName shortens: only those
// Secrets cost a list of the namespace's objects.
var shortenedLinkURLSecretName = regexp.MustCompile(`-[0-9a-f]{8}` + regexp.QuoteMeta(codatv1.LinkURLSecretSuffix) + `$`)

// usingDefaultCredentials lists the objects (of the given namespaces, or all) that use the
// operator's default credentials.
func (r *Reconciler) usingDefaultCredentials(ctx context.Context, opts ...client.ListOption) []types.NamespacedName {
	var list codatv1.CodatConnectionList
	if err := r.Client.List(ctx, &list, append(opts, client.UnsafeDisableDeepCopy)...); err != nil {
		log.FromContext(ctx).Error(err, "listing the CodatConnections that use the default credentials")
		return nil
	}
	return namesOfConnections(list.Items, func(o *codatv1.CodatConnection) bool { return o.Spec.CredentialsRef == nil })
}

// watched says whether the manager watches the namespace's objects.
func (r *Reconciler) watched(ns client.Object) bool {
	return len(r.Namespaces) == 0 || slices.Contains(r.Namespaces, ns.GetName())
}

// objectsUsingDefaultCredentials maps a Namespace to its CodatConnections
// that use the default credentials: those its grant and annotations govern.
func (r *Reconciler) objectsUsingDefaultCredentials(ctx context.Context, ns client.Object) []types.NamespacedName {
	if !r.Credentials.Configured() {
		return nil
	}
	return r.usingDefaultCredentials(ctx, client.InNamespace(ns.GetName()))
}

// objectsInNamespace maps a Namespace to all its CodatConnections.
func (r *Reconciler) objectsInNamespace(ctx context.Context, ns client.Object) []types.NamespacedName {
	var list codatv1.CodatConnectionList
	if err := r.Client.List(ctx, &list, client.InNamespace(ns.GetName()), client.UnsafeDisableDeepCopy); err != nil {
		log.FromContext(ctx).Error(err, "listing the CodatConnections of a namespace")
		return nil
	}
	return namesOfConnections(list.Items, func(*codatv1.CodatConnection) bool { return true })
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

// changedByUser says whether an update is one a user or GitOps tool made
// (spec, annotations, deletion), not the operator's own status write, nor its
// create-pending marker and finalizer.
func changedByUser(old, updated *codatv1.CodatConnection) bool {
	return old.Generation != updated.Generation ||
		old.DeletionTimestamp.IsZero() != updated.DeletionTimestamp.IsZero() ||
		!maps.Equal(userAnnotations(old), userAnnotations(updated))
}

func userAnnotations(o client.Object) map[string]string {
	a := maps.Clone(o.GetAnnotations())
	delete(a, codatv1.AnnotationCreatePending)
	return a
}
