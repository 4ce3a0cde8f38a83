// Package controller holds the CodatConnection reconciler: it creates,
// adopts, unlinks, re-authorizes and deletes connections in Codat and writes
// what Codat reports back to the object's status.
//
// A pass runs the steps of docs/design.md (pass.go); every step returns an
// error to stop the pass (failures.go). Its end has three parts: what the
// pass came to (conclusion.go), the view of it users see (view.go), and the
// effects (the status write, events, metrics, the requeue the pacer asks for).
// When an object calls Codat is decided in one place, internal/pacer.
package controller

import (
	"context"
	"reflect"
	"strconv"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
	"github.com/codat-operator/codat-operator/internal/access"
	"github.com/codat-operator/codat-operator/internal/budget"
	"github.com/codat-operator/codat-operator/internal/pacer"
)

// Intervals tune when the reconciler looks at a connection again (see pacer.Intervals).
type Intervals = pacer.Intervals

// DefaultIntervals are the intervals the manager's flags default to.
var DefaultIntervals = pacer.DefaultIntervals

// Reconciler reconciles CodatConnections with Codat.
type Reconciler struct {
	// Client reads CodatConnections from the manager's cache and writes them.
	Client client.Client
	// APIReader reads Secrets, and the owners of connections, straight from
	// the API server.
	APIReader client.Reader
	// Codat binds Codat's API to an object's credentials and company.
	Codat Connector
	// Pacer decides when each object calls Codat. Without one, the reconciler
	// makes its own from Intervals, Budget and Now.
	Pacer *pacer.Pacer
	// Webhooks, when set, turns Codat's webhooks into reconciles.
	Webhooks *Webhooks
	// Budget, when set, keeps polls within the operator's share of each
	// Codat account's daily quota (used by a pacer the reconciler makes).
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

	once     sync.Once
	creating keyedMutex
	// wrote holds, per object, the resourceVersion of the operator's last
	// write: a pass that starts before the cache shows it reads the object
	// from the API server, not the cache's older copy.
	wrote sync.Map
	// queue is the controller's work queue (SetupWithManager).
	queue *fairQueue
	// tags remembers Codat companies' tags, for namespaces allowed companies by tag.
	tags access.TagCache
}

func (r *Reconciler) init() {
	r.once.Do(func() {
		if r.Now == nil {
			r.Now = time.Now
		}
		if r.Pacer == nil {
			r.Pacer = pacer.New(pacer.Config{Intervals: r.Intervals, Budget: r.Budget, Now: r.Now})
		}
		r.Intervals = r.Pacer.Intervals()
	})
}

// +kubebuilder:rbac:groups=codat.io,resources=codatconnections,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=codat.io,resources=codatconnections/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=codat.io,resources=codatconnections/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=create;patch;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch

// Reconcile brings one CodatConnection and its connection in Codat together:
// it asks the pacer whether the look is due, runs the pass, and ends it.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	r.init()
	name := req.NamespacedName
	r.Webhooks.reconciling(name)
	obj, err := r.read(ctx, name)
	switch {
	case apierrors.IsNotFound(err):
		r.forget(name)
		return reconcile.Result{}, nil
	case err != nil:
		log.FromContext(ctx).Error(err, "reading the object")
		return requeue(r.Pacer.End(name, pacer.Outcome{Result: pacer.Failed, Working: true})), nil
	}
	if skip, next := r.Pacer.Begin(name, factsOf(obj)); skip {
		return requeue(next), nil
	}
	if obj.Status.ConnectionID == "" {
		// A pass that may create or recover a connection runs alone among
		// the objects of its company and platform, status write included, so
		// that one's recovery never claims the connection another just made.
		unlock := r.creating.lock(creatingKey(obj))
		defer unlock()
	}
	p := &pass{r: r, obj: obj, before: *obj.Status.DeepCopy()}
	p.run(ctx)
	return r.end(ctx, p)
}

// read gets the object from the cache, or from the API server while the
// cache may not show the operator's own last write yet.
func (r *Reconciler) read(ctx context.Context, name types.NamespacedName) (*codatv1.CodatConnection, error) {
	obj := &codatv1.CodatConnection{}
	return obj, readFresh(ctx, r.Client, r.APIReader, &r.wrote, name, obj)
}

// readFresh reads an object of either kind into obj from the cache, unless
// the operator wrote it last (wrote holds the resourceVersion it wrote) and
// the cache shows another version: older than the write, or a newer change.
// Then the API server knows.
func readFresh(ctx context.Context, cache, apiServer client.Reader, wrote *sync.Map, name types.NamespacedName, obj client.Object) error {
	if err := cache.Get(ctx, name, obj); err != nil {
		return err
	}
	version, ok := wrote.LoadAndDelete(name)
	if !ok || version == obj.GetResourceVersion() {
		return nil
	}
	// Decoding into the cached copy would keep map entries the newer version no longer has.
	v := reflect.ValueOf(obj).Elem()
	v.Set(reflect.Zero(v.Type()))
	return apiServer.Get(ctx, name, obj)
}

// factsOf is what the cached object says of the look it needs.
func factsOf(obj *codatv1.CodatConnection) pacer.Facts {
	paused, _ := pausedBy(obj)
	ready := meta.FindStatusCondition(obj.Status.Conditions, codatv1.ConditionReady)
	f := pacer.Facts{
		Routine: settled(obj) && obj.DeletionTimestamp.IsZero() && !paused &&
			meta.IsStatusConditionTrue(obj.Status.Conditions, codatv1.ConditionSynced),
		Company:    companyOf(obj),
		Connection: obj.Status.ConnectionID,
	}
	if ready != nil && ready.Status != metav1.ConditionTrue {
		f.Waiting, f.WaitingSince = true, ready.LastTransitionTime.Time
	}
	return f
}

// requeue turns the pacer's answer into controller-runtime's. A failure is
// shown in the conditions and retried after the pacer's wait; it is never
// returned to controller-runtime, which would retry on a schedule of its own.
func requeue(next pacer.Next) reconcile.Result {
	if !next.Requeue {
		return reconcile.Result{}
	}
	return reconcile.Result{RequeueAfter: max(next.After, 1), Priority: ptr.To(next.Urgency.Priority())}
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

func (r *Reconciler) forget(name types.NamespacedName) {
	r.Pacer.Forget(name)
	r.wrote.Delete(name)
	if r.queue != nil {
		r.queue.forget(name)
	}
}
