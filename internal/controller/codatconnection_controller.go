// Package controller holds the CodatConnection reconciler: it creates,
// adopts, unlinks, re-authorizes and deletes connections in Codat and writes
// what Codat reports back to the object's status.
package controller

import (
	"context"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
)

// Intervals tune when the reconciler looks at a connection again.
type Intervals struct {
	// PendingAuth is the first poll interval of a connection that waits for
	// the business; it grows with the time waited, up to Settled.
	PendingAuth time.Duration
	// Settled is the poll interval of a connection in its desired state.
	Settled time.Duration
	// BackoffBase and BackoffMax bound the per-object exponential backoff
	// after transient failures.
	BackoffBase time.Duration
	BackoffMax  time.Duration
}

// DefaultIntervals are the intervals the manager's flags default to.
var DefaultIntervals = Intervals{
	PendingAuth: time.Minute,
	Settled:     10 * time.Minute,
	BackoffBase: time.Second,
	BackoffMax:  5 * time.Minute,
}

// Reconciler reconciles CodatConnections with Codat.
type Reconciler struct {
	// Client reads CodatConnections from the manager's cache and writes them.
	Client ctrl.Client
	// APIReader reads Secrets straight from the API server.
	APIReader   ctrl.Reader
	Codat       Codat
	Recorder    events.EventRecorder
	Credentials DefaultCredentials
	Intervals   Intervals
	// Now is the clock; tests may replace it.
	Now func() time.Time

	once    sync.Once
	backoff workqueue.TypedRateLimiter[types.NamespacedName]
	// notBefore holds, per object, when Codat's Retry-After lets it call again.
	notBefore sync.Map
	creating  keyedMutex
}

// keyedMutex is a set of mutexes by key, each dropped when no one holds it.
type keyedMutex struct {
	mu    sync.Mutex
	locks map[string]*keyedLock
}

type keyedLock struct {
	sync.Mutex
	users int
}

func (k *keyedMutex) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[string]*keyedLock{}
	}
	l := k.locks[key]
	if l == nil {
		l = &keyedLock{}
		k.locks[key] = l
	}
	l.users++
	k.mu.Unlock()

	l.Lock()
	return func() {
		l.Unlock()
		k.mu.Lock()
		if l.users--; l.users == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
}

func (r *Reconciler) init() {
	r.once.Do(func() {
		// A zero interval would poll or retry in a hot loop: take the default.
		for _, f := range []struct {
			v *time.Duration
			d time.Duration
		}{
			{&r.Intervals.PendingAuth, DefaultIntervals.PendingAuth},
			{&r.Intervals.Settled, DefaultIntervals.Settled},
			{&r.Intervals.BackoffBase, DefaultIntervals.BackoffBase},
			{&r.Intervals.BackoffMax, DefaultIntervals.BackoffMax},
		} {
			if *f.v <= 0 {
				*f.v = f.d
			}
		}
		if r.Now == nil {
			r.Now = time.Now
		}
		r.backoff = workqueue.NewTypedItemExponentialFailureRateLimiter[types.NamespacedName](
			r.Intervals.BackoffBase, r.Intervals.BackoffMax)
	})
}

// +kubebuilder:rbac:groups=codat.io,resources=codatconnections,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=codat.io,resources=codatconnections/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=codat.io,resources=codatconnections/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings one CodatConnection and its connection in Codat together.
// It follows DESIGN.md section 4: paused, credentials, deletion, identity,
// create, observe, converge, status, requeue.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	r.init()
	obj := &codatv1.CodatConnection{}
	if err := r.Client.Get(ctx, req.NamespacedName, obj); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(req.NamespacedName)
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, err
	}
	if obj.Status.ConnectionID == "" {
		// A pass that may create or recover a connection runs alone among
		// the objects of its company and platform, status write included, so
		// that one's recovery never claims the connection another just made.
		unlock := r.creating.lock(obj.Spec.CompanyID + "/" + obj.Spec.PlatformKey)
		defer unlock()
	}
	before := obj.Status.DeepCopy()
	out := r.reconcile(ctx, obj)
	return r.finish(ctx, obj, before, out)
}

func (r *Reconciler) reconcile(ctx context.Context, obj *codatv1.CodatConnection) outcome {
	if obj.Annotations[codatv1.AnnotationPaused] == "true" {
		return paused()
	}
	key, credentialsProblem := r.apiKey(ctx, obj)
	if wait := r.rateLimitedFor(obj); wait > 0 {
		out := retry(codatv1.ReasonRateLimited, "Codat is rate limiting requests; waiting for its Retry-After")
		out.after = wait
		return out
	}
	if !obj.DeletionTimestamp.IsZero() {
		return r.finalize(ctx, obj, key, credentialsProblem)
	}
	if credentialsProblem != nil {
		return *credentialsProblem
	}

	conn, out := r.connection(ctx, obj, key)
	if conn == nil {
		return out
	}
	observe(obj, conn)
	if out := r.converge(ctx, obj, key, conn); out != (outcome{}) {
		return out
	}
	return assess(obj)
}

// finish writes the status when the pass changed it and says when to come back.
func (r *Reconciler) finish(ctx context.Context, obj *codatv1.CodatConnection, before *codatv1.CodatConnectionStatus, out outcome) (reconcile.Result, error) {
	name := nameOf(obj)
	switch out.progress {
	case gone:
		r.forget(name)
		return reconcile.Result{}, nil
	case raced:
		return reconcile.Result{RequeueAfter: r.Intervals.BackoffBase}, nil
	}

	previousFailure := failureReason(obj)
	setConditions(obj, out)
	obj.Status.ObservedGeneration = obj.Generation
	if failure := failureReason(obj); failure != "" && failure != previousFailure {
		r.event(ctx, obj, "Warning", failure, "%s", out.message)
	}

	if !equality.Semantic.DeepEqual(before, &obj.Status) {
		if err := r.Client.Status().Update(ctx, obj); err != nil {
			return r.writeFailed(ctx, name, "status", err)
		}
	}

	switch out.progress {
	case retrying:
		if out.after > 0 {
			return reconcile.Result{RequeueAfter: out.after}, nil
		}
		return reconcile.Result{RequeueAfter: r.backoff.When(name)}, nil
	case stalled, idle:
		r.backoff.Forget(name)
		return reconcile.Result{}, nil
	default:
		r.backoff.Forget(name)
		return reconcile.Result{RequeueAfter: r.pollInterval(obj, out)}, nil
	}
}

// writeFailed handles a failed write to the API server: a conflict means the
// cache was behind and a fresher event is coming, so it is retried quietly.
func (r *Reconciler) writeFailed(ctx context.Context, name types.NamespacedName, what string, err error) (reconcile.Result, error) {
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		log.FromContext(ctx).V(1).Info("write lost a race; retrying", "write", what)
		return reconcile.Result{RequeueAfter: r.Intervals.BackoffBase}, nil
	}
	return reconcile.Result{}, fmt.Errorf("writing %s of %s: %w", what, name, err)
}

func (r *Reconciler) forget(name types.NamespacedName) {
	r.backoff.Forget(name)
	r.notBefore.Delete(name)
}
