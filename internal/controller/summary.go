package controller

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
	"github.com/codat-operator/codat-operator/internal/budget"
	"github.com/codat-operator/codat-operator/internal/codatclient"
)

// result is what a pass that was not stopped by an error concluded.
type result struct {
	// ready is how Codat's connection compares with the desired state.
	ready readiness
	// released: the finalizer is gone, there is no status left to write.
	released bool
	// paused by the annotation (its value when it is not a boolean).
	paused      bool
	pausedValue string
	// key is the fingerprint of the API key the pass used: whose quota the
	// next poll spends.
	key string
	// poll is when to look again (set by summarize).
	poll time.Duration
}

// Priorities in the work queue: what the user asked for goes before news from
// Codat's webhooks, which goes before polls; the initial list after a start
// comes last (controller-runtime's LowPriority).
const (
	priorityWork = 0
	priorityPoll = -10
)

// stretchedMessage is what objects say while their polls are stretched.
const stretchedMessage = "The operator's last requests to Codat succeeded. Polls of this connection are stretched to keep the operator within its share of Codat's daily quota (--codat-quota-share)"

// summarize is the one place where a pass's conclusion becomes what users
// see: the conditions, a Warning event per new failure reason, the status
// write (only when something changed) and when to look again.
func (r *Reconciler) summarize(ctx context.Context, obj *codatv1.CodatConnection, before *codatv1.CodatConnectionStatus, res result, err error) (reconcile.Result, error) {
	name := nameOf(obj)
	var stalled *stallError
	var retrying *retryError
	switch {
	case errors.Is(err, errRaced):
		return reconcile.Result{RequeueAfter: r.Intervals.BackoffBase}, nil
	case res.released && err == nil:
		r.forget(name)
		return reconcile.Result{}, nil
	case res.paused, errors.As(err, &stalled):
		// No polls: nothing to count against the quota.
		if r.Budget != nil {
			r.Budget.Forget(name.String())
		}
	case errors.As(err, &retrying), err == nil:
	default:
		// The API server failed us (a Secret or metadata write): retried like
		// a transient failure, and logged.
		log.FromContext(ctx).Error(err, "reconcile failed")
		retrying = &retryError{reason: codatv1.ReasonProgressing, message: "The operator could not read or write Kubernetes objects; retrying", working: !settled(obj)}
	}

	previous := failureReason(obj)
	switch {
	case res.paused:
		setPausedConditions(obj, res.pausedValue)
	case stalled != nil:
		setConditions(obj, metav1.ConditionFalse, stalled.reason, stalled.message, conditionStates{stalled: true})
		obj.Status.StalledInputs = ""
		if stalled.fromCodat {
			obj.Status.StalledInputs = stalled.inputs
		}
	case retrying != nil:
		keepReady(obj, retrying.reason, retrying.message)
		setConditions(obj, "", retrying.reason, retrying.message, conditionStates{reconciling: retrying.working})
	default:
		states := conditionStates{synced: true}
		poll, mode := r.planPoll(obj, res)
		switch mode {
		case budget.Stretched:
			states.syncedReason, states.syncedMessage = codatv1.ReasonPollsStretched, stretchedMessage
		case budget.WritesOnly:
			// This pass's poll went out, but the next one waits for the
			// quota's reset: the object says so now, as one held back does.
			states.synced = false
			states.syncedReason, states.syncedMessage = codatv1.ReasonQuotaLow, quotaLowMessage
		}
		setConditions(obj, res.ready.status, res.ready.reason, res.ready.message, states)
		obj.Status.StalledInputs = ""
		res.poll = poll
	}
	if !res.paused {
		obj.Status.ObservedGeneration = obj.Generation
	}
	if policy, err := r.deletionPolicy(ctx, obj); err == nil {
		obj.Status.DeletionPolicy = policy
	}
	if r.LinkURLs == LinkURLsInSecret {
		// Whatever the pass did, a link never reaches status in this mode.
		obj.Status.LinkURL = ""
	}
	switch {
	case stalled != nil:
		r.Metrics.failed(codatclient.NeedsPerson, stalled.reason)
	case retrying != nil:
		r.Metrics.failed(codatclient.Transient, retrying.reason)
	}
	if failure := failureReason(obj); failure != "" && failure != previous {
		// Once per new failure, not per retry: a Warning event, and an error
		// in the log that says what to do.
		log.FromContext(ctx).Error(nil, failureMessage(obj), "reason", failure)
		r.Recorder.Eventf(obj, nil, eventWarning, failure, failure, "%s", failureMessage(obj))
	}

	if !equality.Semantic.DeepEqual(before, &obj.Status) {
		if err := r.Client.Status().Update(ctx, obj); err != nil {
			if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
				log.FromContext(ctx).V(1).Info("status write lost a race; retrying")
				return reconcile.Result{RequeueAfter: r.Intervals.BackoffBase}, nil
			}
			return reconcile.Result{}, fmt.Errorf("writing status of %s: %w", name, err)
		}
	}

	// A failure is shown in the conditions and retried by RequeueAfter; it is
	// not returned to controller-runtime, which would retry on its own schedule.
	switch {
	case retrying != nil:
		priority := priorityWork
		if !retrying.working {
			priority = priorityPoll
		}
		after := retrying.after
		if after <= 0 {
			after = r.backoff.When(name)
		}
		return reconcile.Result{RequeueAfter: after, Priority: ptr.To(priority)}, nil
	case stalled != nil, res.paused:
		r.backoff.Forget(name)
		return reconcile.Result{}, nil //nolint:nilerr // see above
	default:
		r.backoff.Forget(name)
		return reconcile.Result{RequeueAfter: res.poll, Priority: ptr.To(priorityPoll)}, nil
	}
}

// conditionStates are the kstatus conditions besides Ready, and Synced.
type conditionStates struct {
	reconciling, stalled, synced bool
	// syncedReason and syncedMessage, when set, replace Synced's usual
	// reason and message (True: "Synced"; False: Ready's).
	syncedReason, syncedMessage string
}

// setConditions writes Ready (unless readyStatus is empty: keep it), and
// Reconciling, Stalled and Synced. meta.SetStatusCondition keeps
// lastTransitionTime unless the status flips, so an unchanged conclusion
// leaves the status byte for byte equal and nothing is written.
func setConditions(obj *codatv1.CodatConnection, readyStatus metav1.ConditionStatus, reason, message string, s conditionStates) {
	gen := obj.Generation
	conds := &obj.Status.Conditions
	set := func(t string, on bool, reason, message string) {
		status := metav1.ConditionFalse
		if on {
			status = metav1.ConditionTrue
		} else {
			message = ""
		}
		meta.SetStatusCondition(conds, metav1.Condition{Type: t, Status: status, Reason: reason, Message: message, ObservedGeneration: gen})
	}
	if readyStatus != "" {
		meta.SetStatusCondition(conds, metav1.Condition{
			Type: codatv1.ConditionReady, Status: readyStatus, Reason: reason, Message: message, ObservedGeneration: gen})
	}
	// A condition that is False says why with Ready's reason, so that
	// `kubectl describe` reads one story.
	readyReason := meta.FindStatusCondition(*conds, codatv1.ConditionReady).Reason
	pick := func(on bool) string {
		if on {
			return reason
		}
		return readyReason
	}
	set(codatv1.ConditionReconciling, s.reconciling, pick(s.reconciling), message)
	set(codatv1.ConditionStalled, s.stalled, pick(s.stalled), message)
	if s.synced {
		reason, message := codatv1.ReasonSynced, "The operator's last requests to Codat succeeded"
		if s.syncedReason != "" {
			reason, message = s.syncedReason, s.syncedMessage
		}
		meta.SetStatusCondition(conds, metav1.Condition{Type: codatv1.ConditionSynced, Status: metav1.ConditionTrue,
			Reason: reason, Message: message, ObservedGeneration: gen})
	} else {
		if s.syncedReason != "" {
			reason, message = s.syncedReason, s.syncedMessage
		}
		meta.SetStatusCondition(conds, metav1.Condition{Type: codatv1.ConditionSynced, Status: metav1.ConditionFalse,
			Reason: reason, Message: message, ObservedGeneration: gen})
	}
}

// keepReady leaves Ready as it is during a transient failure (one failed
// request says nothing new about the connection, and Ready flapping would
// page people); an object that has no Ready yet gets Ready=False.
func keepReady(obj *codatv1.CodatConnection, reason, message string) {
	if meta.FindStatusCondition(obj.Status.Conditions, codatv1.ConditionReady) == nil {
		meta.SetStatusCondition(&obj.Status.Conditions, metav1.Condition{Type: codatv1.ConditionReady,
			Status: metav1.ConditionFalse, Reason: reason, Message: message, ObservedGeneration: obj.Generation})
	}
}

// setPausedConditions shows the pause without pretending anything was done:
// Ready keeps its status with the reason Paused (the REASON column), the
// conditions keep the generation that was last realized, and
// status.observedGeneration does not advance, so a spec change made while
// paused does not look applied. A pause is a person's decision, not a
// failure: Stalled is False while it lasts (a stall it interrupted shows
// again, and is tried again, once the pause ends). A deletion the pause holds
// up is the exception: only a person can let the object go, so it is Stalled,
// and observed, so that GitOps tools see a stuck deletion rather than a
// generation not yet seen.
func setPausedConditions(obj *codatv1.CodatConnection, badValue string) {
	deleting := !obj.DeletionTimestamp.IsZero()
	if deleting {
		obj.Status.ObservedGeneration = obj.Generation
	}
	gen := obj.Status.ObservedGeneration
	message := "Reconciliation is paused by the " + codatv1.AnnotationPaused + " annotation; no Codat calls are made until it is removed"
	if badValue != "" {
		message += fmt.Sprintf(" (its value %s is not true or false: any value but false pauses)", strconv.Quote(truncate(badValue, 63)))
	}
	conds := &obj.Status.Conditions
	status := metav1.ConditionUnknown
	if c := meta.FindStatusCondition(*conds, codatv1.ConditionReady); c != nil {
		status = c.Status
	}
	stalled := metav1.Condition{Type: codatv1.ConditionStalled, Status: metav1.ConditionFalse, Reason: codatv1.ReasonPaused}
	if deleting {
		stalled = metav1.Condition{Type: codatv1.ConditionStalled, Status: metav1.ConditionTrue, Reason: codatv1.ReasonDeletionPaused,
			Message: "This object is being deleted, but the " + codatv1.AnnotationPaused + " annotation holds it: the operator makes no Codat call and keeps its finalizer. Remove the annotation to let it go as status.deletionPolicy says"}
	}
	for _, c := range []metav1.Condition{
		{Type: codatv1.ConditionReady, Status: status, Reason: codatv1.ReasonPaused, Message: message},
		{Type: codatv1.ConditionReconciling, Status: metav1.ConditionFalse, Reason: codatv1.ReasonPaused},
		{Type: codatv1.ConditionSynced, Status: metav1.ConditionFalse, Reason: codatv1.ReasonPaused, Message: message},
		stalled,
	} {
		c.ObservedGeneration = gen
		meta.SetStatusCondition(conds, c)
	}
}

// failureReason is the reason of the failure the object shows, if any: a
// Warning event is recorded only when it changes, never per retry.
func failureReason(obj *codatv1.CodatConnection) string {
	if c := failureCondition(obj); c != nil {
		return c.Reason
	}
	return ""
}

func failureMessage(obj *codatv1.CodatConnection) string {
	if c := failureCondition(obj); c != nil {
		return c.Message
	}
	return ""
}

func failureCondition(obj *codatv1.CodatConnection) *metav1.Condition {
	conds := obj.Status.Conditions
	for _, t := range []string{codatv1.ConditionStalled, codatv1.ConditionReconciling} {
		if c := meta.FindStatusCondition(conds, t); c != nil && c.Status == metav1.ConditionTrue {
			return c
		}
	}
	if c := meta.FindStatusCondition(conds, codatv1.ConditionSynced); c != nil && c.Status == metav1.ConditionFalse && c.Reason != codatv1.ReasonPaused {
		return c
	}
	return nil
}

// settled says the object's current generation is realized: it has its
// connection, its generation was seen, and no work is left over from an
// earlier pass. A failed routine look at a settled object is not work.
func settled(obj *codatv1.CodatConnection) bool {
	return obj.Status.ConnectionID != "" && obj.Status.ObservedGeneration == obj.Generation &&
		!meta.IsStatusConditionTrue(obj.Status.Conditions, codatv1.ConditionReconciling)
}

func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "..."
	}
	return s
}
