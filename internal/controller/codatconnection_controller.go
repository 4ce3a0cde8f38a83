// Package controller holds the CodatConnection reconciler: it creates,
// adopts, unlinks, re-authorizes and deletes connections in Codat and writes
// what Codat reports back to the object's status.
//
// Every step of a pass returns an error to stop the pass (see failures.go);
// summarize, the one sink, turns the pass's conclusion into conditions,
// events, the status write and the requeue.
package controller

import (
	"context"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
	"github.com/codat-operator/codat-operator/internal/access"
	"github.com/codat-operator/codat-operator/internal/budget"
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
	// SafetyNet is the poll interval of settled and waiting connections
	// while the webhook receiver is healthy: webhooks bring the news, and
	// polling only catches what a lost webhook missed.
	SafetyNet time.Duration
}

// DefaultIntervals are the intervals the manager's flags default to.
var DefaultIntervals = Intervals{
	PendingAuth: time.Minute,
	Settled:     10 * time.Minute,
	BackoffBase: time.Second,
	BackoffMax:  5 * time.Minute,
	SafetyNet:   6 * time.Hour,
}

// Reconciler reconciles CodatConnections with Codat.
type Reconciler struct {
	// Client reads CodatConnections from the manager's cache and writes them.
	Client client.Client
	// APIReader reads Secrets, and the owners of connections, straight from
	// the API server.
	APIReader client.Reader
	// Codat binds Codat's API to an object's credentials and company.
	Codat Connector
	// Webhooks, when set, turns Codat's webhooks into reconciles and makes
	// polling the safety net while the receiver is healthy.
	Webhooks *Webhooks
	// Budget, when set, keeps polls within the operator's share of each
	// Codat account's daily quota.
	Budget *budget.Budget
	// Metrics, when set, counts failed passes (NewMetrics).
	Metrics     *Metrics
	Recorder    events.EventRecorder
	Credentials DefaultCredentials
	Intervals   Intervals
	// DefaultDeletionPolicy is the deletion policy of objects that set none
	// and whose namespace has no default (--default-deletion-policy); empty
	// keeps the built-in rule (Delete, Orphan for adopted connections).
	DefaultDeletionPolicy codatv1.DeletionPolicy
	// LinkURLs says where link URLs go: status (the zero value) or Secrets.
	LinkURLs LinkURLDestination
	// Namespaces are those the manager watches (--watch-namespaces); empty is all.
	Namespaces []string
	// Now is the clock; tests may replace it.
	Now func() time.Time

	once    sync.Once
	backoff workqueue.TypedRateLimiter[types.NamespacedName]
	// notBefore holds, per object, when Codat's Retry-After lets it call again.
	notBefore sync.Map
	creating  keyedMutex
	// seen holds the objects this process has reconciled: the first look at
	// a settled object after a start spreads its poll instead of making it.
	seen sync.Map
	// queue is the controller's work queue (SetupWithManager).
	queue *fairQueue
	// tags remembers Codat companies' tags, for namespaces allowed companies by tag.
	tags access.TagCache
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
			{&r.Intervals.SafetyNet, DefaultIntervals.SafetyNet},
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
		if r.Webhooks != nil && r.Webhooks.FallbackSpread <= 0 {
			r.Webhooks.FallbackSpread = r.Intervals.Settled
		}
	})
}

// +kubebuilder:rbac:groups=codat.io,resources=codatconnections,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=codat.io,resources=codatconnections/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=codat.io,resources=codatconnections/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=create;patch;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch

// Reconcile brings one CodatConnection and its connection in Codat together.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	r.init()
	byEvent := r.Webhooks.reconciling(req.NamespacedName)
	obj := &codatv1.CodatConnection{}
	if err := r.Client.Get(ctx, req.NamespacedName, obj); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(req.NamespacedName)
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, err
	}
	if wait, ok := r.spreadFirstPoll(obj, byEvent); ok {
		return reconcile.Result{RequeueAfter: wait, Priority: ptr.To(priorityPoll)}, nil
	}
	if obj.Status.ConnectionID == "" {
		// A pass that may create or recover a connection runs alone among
		// the objects of its company and platform, status write included, so
		// that one's recovery never claims the connection another just made.
		unlock := r.creating.lock(obj.Spec.CompanyID + "/" + obj.Spec.PlatformKey)
		defer unlock()
	}
	before := obj.Status.DeepCopy()
	res, err := r.reconcile(ctx, obj)
	return r.summarize(ctx, obj, before, res, err)
}

// reconcile is one pass, in the order of docs/design.md: paused, credentials,
// deletion, a stall nothing changed since, identity (create or adopt),
// converge, assess.
func (r *Reconciler) reconcile(ctx context.Context, obj *codatv1.CodatConnection) (result, error) {
	if paused, badValue := pausedBy(obj); paused {
		return result{paused: true, pausedValue: badValue}, nil
	}
	codat, err := r.connect(ctx, obj)
	if err == nil {
		err = r.rateLimited(obj)
	}
	if err == nil {
		err = r.quotaExhausted(obj)
	}
	if err == nil {
		err = unchangedSinceStall(obj, codat)
	}
	if !obj.DeletionTimestamp.IsZero() {
		if err := r.delete(ctx, obj, codat, err); err != nil {
			return result{}, err
		}
		return result{released: true}, nil
	}
	if err != nil {
		return result{}, err
	}

	conn, err := r.connection(ctx, obj, codat)
	if err != nil {
		return result{}, err
	}
	r.noticeChanges(ctx, obj, conn)
	recordConnection(obj, conn)
	conn, err = r.converge(ctx, obj, codat, conn)
	recordConnection(obj, conn)
	if err != nil {
		return result{}, err
	}
	if err := r.publishLinkURL(ctx, obj); err != nil {
		return result{}, err
	}
	state, err := assess(obj)
	return result{ready: state, key: codat.key}, err
}

// spreadFirstPoll is the first look of this process at a settled object with
// nothing new to act on (after a start): its poll is spread over the poll
// interval, so that a restart is no burst of requests to Codat.
func (r *Reconciler) spreadFirstPoll(obj *codatv1.CodatConnection, byEvent bool) (time.Duration, bool) {
	if _, seen := r.seen.LoadOrStore(nameOf(obj), struct{}{}); seen || byEvent {
		return 0, false
	}
	if !settled(obj) || !obj.DeletionTimestamp.IsZero() || !meta.IsStatusConditionTrue(obj.Status.Conditions, codatv1.ConditionSynced) {
		return 0, false
	}
	if paused, _ := pausedBy(obj); paused {
		return 0, false
	}
	ready := readiness{status: metav1.ConditionFalse}
	if meta.IsStatusConditionTrue(obj.Status.Conditions, codatv1.ConditionReady) {
		ready.status = metav1.ConditionTrue
	}
	return rand.N(r.pollInterval(obj, ready)) + 1, true //nolint:gosec // spreads polls; it guards nothing
}

// pausedBy reads the paused annotation. "true" pauses, "false" or no
// annotation does not; any other value pauses too, and is reported.
func pausedBy(obj *codatv1.CodatConnection) (paused bool, badValue string) {
	v, ok := obj.Annotations[codatv1.AnnotationPaused]
	if !ok {
		return false, ""
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return true, v
	}
	return b, ""
}

// unchangedSinceStall keeps a stall that Codat's refusal caused while the
// inputs of the refused request are the same: a manager restart, or any
// event that changes nothing the request is made with, must not send it again.
func unchangedSinceStall(obj *codatv1.CodatConnection, codat session) error {
	s := obj.Status
	if s.StalledInputs == "" || s.StalledInputs != codat.inputs {
		return nil
	}
	c := failureCondition(obj)
	if c == nil || c.Type != codatv1.ConditionStalled {
		return nil
	}
	return &stallError{reason: c.Reason, message: c.Message, fromCodat: true, inputs: codat.inputs}
}

func (r *Reconciler) forget(name types.NamespacedName) {
	r.backoff.Forget(name)
	r.notBefore.Delete(name)
	r.seen.Delete(name)
	if r.Budget != nil {
		r.Budget.Forget(name.String())
	}
	if r.queue != nil {
		r.queue.forget(name)
	}
}
