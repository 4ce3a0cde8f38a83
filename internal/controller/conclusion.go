package controller

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
	"github.com/codat-operator/codat-operator/internal/codatclient"
	"github.com/codat-operator/codat-operator/internal/pacer"
)

// conclusion is what a pass came to, with what the pacer and the view need.
type conclusion struct {
	result pacer.Result
	// ready is the Ready condition of a realized object.
	ready readiness
	// stall and wait (Blocked), retry (Failed, Held).
	stall *stallError
	wait  *waitError
	retry *retryError
	// pausedValue is the paused annotation's value when it is not a boolean.
	pausedValue string
	// unexpected is the API server failing us: logged, and retried as a failure.
	unexpected error
}

// conclude sorts what stopped a pass (or did not) into what it came to.
func conclude(p outcome) conclusion {
	var stall *stallError
	var waiting *waitError
	var retry *retryError
	switch {
	case errors.Is(p.err, errRaced):
		return conclusion{result: pacer.Raced}
	case p.released && p.err == nil:
		return conclusion{result: pacer.Gone}
	case p.paused:
		return conclusion{result: pacer.Paused, pausedValue: p.pausedValue}
	case errors.As(p.err, &stall):
		return conclusion{result: pacer.Blocked, stall: stall}
	case errors.As(p.err, &waiting):
		return conclusion{result: pacer.Blocked, wait: waiting}
	case errors.As(p.err, &retry) && retry.hold != pacer.Free:
		return conclusion{result: pacer.Held, retry: retry}
	case errors.As(p.err, &retry):
		return conclusion{result: pacer.Failed, retry: retry}
	case p.err == nil:
		return conclusion{result: pacer.Realized, ready: p.ready}
	default:
		return conclusion{result: pacer.Failed, unexpected: p.err, retry: &retryError{reason: codatv1.ReasonProgressing,
			message: "The operator could not read or write Kubernetes objects; retrying", working: p.working}}
	}
}

// pacingOf is what the pacer is told of the conclusion: the key the pass
// used, what it saw of Codat (a connection and its status), and the Ready
// condition before the pass, which says since when a waiting object waits.
func (c conclusion) pacingOf(key, connection, status string, before []metav1.Condition, now time.Time) pacer.Outcome {
	out := pacer.Outcome{Result: c.result, Key: key, Connection: connection, Status: status}
	switch c.result {
	case pacer.Realized:
		if c.ready.status != metav1.ConditionTrue {
			out.Waiting, out.WaitingSince = true, now
			if was := meta.FindStatusCondition(before, codatv1.ConditionReady); was != nil && was.Status == metav1.ConditionFalse {
				out.WaitingSince = was.LastTransitionTime.Time // waiting goes on
			}
		}
	case pacer.Failed:
		out.Working, out.RetryAfter, out.Throttled = c.retry.working, c.retry.after, c.retry.throttled
	case pacer.Held:
		out.Working, out.Hold, out.HoldFor = c.retry.working, c.retry.hold, c.retry.after
	}
	return out
}

// end ends a pass: the pacer hears what it came to and says when to look
// again; the view of it goes to status (written only when it changed), with a
// Warning event and an error log line per new failure, and the metrics.
func (r *Reconciler) end(ctx context.Context, p *pass) (reconcile.Result, error) {
	name := nameOf(p.obj)
	c := conclude(p.outcome)
	if c.unexpected != nil {
		log.FromContext(ctx).Error(c.unexpected, "reconcile failed")
	}
	next := r.Pacer.End(name, c.pacingOf(p.codat.key, p.obj.Status.ConnectionID, p.obj.Status.ConnectionStatus, p.before.Conditions, r.Now()))
	r.Webhooks.passEnded(name, next)
	if c.result == pacer.Raced || c.result == pacer.Gone {
		return requeue(next), nil
	}

	previous := failureReason(p.before.Conditions)
	policy, err := r.deletionPolicy(ctx, p.obj)
	if err != nil {
		policy = "" // the namespace could not be read: status keeps what it said
	}
	c.render(p.obj, next, r.LinkURLs, policy)
	e := r.effects()
	e.announce(ctx, p.obj, c, previous, p.obj.Status.Conditions)
	changed := !equality.Semantic.DeepEqual(&p.before, &p.obj.Status)
	return requeue(e.write(ctx, p.obj, name, changed, next)), nil
}

func (r *Reconciler) effects() effects {
	return effects{client: r.Client, recorder: r.Recorder, metrics: r.Metrics, pacer: r.Pacer, wrote: &r.wrote}
}

// effects are what the end of a pass acts on, for objects of either kind.
type effects struct {
	client   client.Client
	recorder events.EventRecorder
	metrics  *Metrics
	pacer    *pacer.Pacer
	// wrote holds the resourceVersion of the operator's last write per object (see read).
	wrote *sync.Map
}

// announce counts a failed pass, and records each new failure once, not per
// retry: a Warning event, and an error in the log that says what to do.
// Waiting for another object is no failure: a Normal event and an info line.
func (e effects) announce(ctx context.Context, obj runtime.Object, c conclusion, previous string, conds []metav1.Condition) {
	switch {
	case c.stall != nil:
		e.metrics.failed(codatclient.NeedsPerson, c.stall.reason)
	case c.retry != nil:
		e.metrics.failed(codatclient.Transient, c.retry.reason)
	}
	failure := failureReason(conds)
	if failure == "" || failure == previous {
		return
	}
	message := failureMessage(conds)
	if c.wait != nil {
		emit(ctx, e.recorder, obj, eventNormal, failure, "%s", message)
		return
	}
	log.FromContext(ctx).Error(nil, message, "reason", failure)
	e.recorder.Eventf(obj, nil, eventWarning, failure, failure, "%s", message)
}

// write writes the object's status when it changed. A write that loses a race,
// or fails, makes the pacer say when to look again instead of next.
func (e effects) write(ctx context.Context, obj client.Object, name types.NamespacedName, changed bool, next pacer.Next) pacer.Next {
	if !changed {
		return next
	}
	switch err := e.client.Status().Update(ctx, obj); {
	case err == nil:
		e.wrote.Store(name, obj.GetResourceVersion())
		return next
	case apierrors.IsConflict(err) || apierrors.IsNotFound(err):
		log.FromContext(ctx).V(1).Info("status write lost a race; retrying")
		return e.pacer.End(name, pacer.Outcome{Result: pacer.Raced})
	default:
		log.FromContext(ctx).Error(fmt.Errorf("writing status of %s: %w", name, err), "reconcile failed")
		return e.pacer.End(name, pacer.Outcome{Result: pacer.Failed, Working: true})
	}
}
