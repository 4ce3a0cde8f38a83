package controller

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	// stall (Blocked), retry (Failed, Held).
	stall *stallError
	retry *retryError
	// pausedValue is the paused annotation's value when it is not a boolean.
	pausedValue string
	// unexpected is the API server failing us: logged, and retried as a failure.
	unexpected error
}

// conclude sorts what stopped the pass (or did not) into what it came to.
func (p *pass) conclude() conclusion {
	var stall *stallError
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
	case errors.As(p.err, &retry) && retry.hold != pacer.Free:
		return conclusion{result: pacer.Held, retry: retry}
	case errors.As(p.err, &retry):
		return conclusion{result: pacer.Failed, retry: retry}
	case p.err == nil:
		return conclusion{result: pacer.Realized, ready: p.ready}
	default:
		return conclusion{result: pacer.Failed, unexpected: p.err, retry: &retryError{reason: codatv1.ReasonProgressing,
			message: "The operator could not read or write Kubernetes objects; retrying", working: !settled(p.obj)}}
	}
}

// pacing is what the pacer is told of the conclusion.
func (c conclusion) pacing(p *pass, now time.Time) pacer.Outcome {
	out := pacer.Outcome{Result: c.result, Key: p.codat.key,
		Connection: p.obj.Status.ConnectionID, Status: p.obj.Status.ConnectionStatus}
	switch c.result {
	case pacer.Realized:
		if c.ready.status != metav1.ConditionTrue {
			out.Waiting, out.WaitingSince = true, now
			if was := meta.FindStatusCondition(p.before.Conditions, codatv1.ConditionReady); was != nil && was.Status == metav1.ConditionFalse {
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
	c := p.conclude()
	if c.unexpected != nil {
		log.FromContext(ctx).Error(c.unexpected, "reconcile failed")
	}
	next := r.Pacer.End(name, c.pacing(p, r.Now()))
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
	switch {
	case c.stall != nil:
		r.Metrics.failed(codatclient.NeedsPerson, c.stall.reason)
	case c.retry != nil:
		r.Metrics.failed(codatclient.Transient, c.retry.reason)
	}
	if failure := failureReason(p.obj.Status.Conditions); failure != "" && failure != previous {
		// Once per new failure, not per retry: a Warning event, and an error
		// in the log that says what to do.
		message := failureMessage(p.obj.Status.Conditions)
		log.FromContext(ctx).Error(nil, message, "reason", failure)
		r.Recorder.Eventf(p.obj, nil, eventWarning, failure, failure, "%s", message)
	}
	if equality.Semantic.DeepEqual(&p.before, &p.obj.Status) {
		return requeue(next), nil
	}
	switch err := r.Client.Status().Update(ctx, p.obj); {
	case err == nil:
		r.wrote.Store(name, p.obj.ResourceVersion)
	case apierrors.IsConflict(err) || apierrors.IsNotFound(err):
		log.FromContext(ctx).V(1).Info("status write lost a race; retrying")
		next = r.Pacer.End(name, pacer.Outcome{Result: pacer.Raced})
	default:
		log.FromContext(ctx).Error(fmt.Errorf("writing status of %s: %w", name, err), "reconcile failed")
		next = r.Pacer.End(name, pacer.Outcome{Result: pacer.Failed, Working: true})
	}
	return requeue(next), nil
}
