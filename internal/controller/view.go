package controller

import (
	"fmt"
	"strconv"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
	"github.com/codat-operator/codat-operator/internal/budget"
	"github.com/codat-operator/codat-operator/internal/pacer"
)

// stretchedMessage is what objects say while their polls are stretched.
const stretchedMessage = "The operator's last requests to Codat succeeded. Polls of this connection are stretched to keep the operator within its share of Codat's daily quota (--codat-quota-share)"

// render is the view of a conclusion for a CodatConnection: it sets the
// object's conditions, observedGeneration and what status shows of the pass,
// from the conclusion, the pacer's plan for the next look, where link URLs go
// and the effective deletion policy ("": unknown, keep what status says).
func (c conclusion) render(obj *codatv1.CodatConnection, next pacer.Next, linkURLs LinkURLDestination, deletionPolicy codatv1.DeletionPolicy) {
	v := statusView{conds: &obj.Status.Conditions, generation: obj.Generation, observed: &obj.Status.ObservedGeneration,
		deleting: !obj.DeletionTimestamp.IsZero()}
	c.renderConditions(v, next)
	c.renderStalledInputs(&obj.Status.StalledInputs)
	if deletionPolicy != "" {
		obj.Status.DeletionPolicy = deletionPolicy
	}
	if linkURLs == LinkURLsInSecret {
		// Whatever the pass did, a link never reaches status in this mode.
		obj.Status.LinkURL = ""
	}
}

// renderStalledInputs records, for a stall Codat's refusal caused, the digest
// of what the refused request was made with; a realized pass clears it.
func (c conclusion) renderStalledInputs(inputs *string) {
	switch {
	case c.stall != nil:
		*inputs = ""
		if c.stall.fromCodat {
			*inputs = c.stall.inputs
		}
	case c.result == pacer.Realized:
		*inputs = ""
	}
}

// statusView is what the view writes of an object of either kind: its
// conditions and status.observedGeneration.
type statusView struct {
	conds      *[]metav1.Condition
	generation int64
	observed   *int64
	deleting   bool
}

// renderConditions sets the conditions, and observedGeneration, that a
// conclusion and the pacer's plan show.
func (c conclusion) renderConditions(v statusView, next pacer.Next) {
	switch {
	case c.result == pacer.Paused:
		v.paused(c.pausedValue)
	case c.stall != nil:
		v.set(metav1.ConditionFalse, c.stall.reason, c.stall.message, conditionStates{stalled: true})
	case c.wait != nil:
		v.set(metav1.ConditionFalse, c.wait.reason, c.wait.message, conditionStates{reconciling: true})
	case c.retry != nil:
		v.keepReady(c.retry.reason, c.retry.message)
		v.set("", c.retry.reason, c.retry.message, conditionStates{reconciling: c.retry.working})
	default:
		states := conditionStates{synced: true}
		switch next.Mode {
		case budget.Stretched:
			states.syncedReason, states.syncedMessage = codatv1.ReasonPollsStretched, stretchedMessage
		case budget.WritesOnly:
			// This pass's poll went out, but the next one waits for the
			// quota's reset: the object says so now, as one held back does.
			states.synced = false
			states.syncedReason, states.syncedMessage = codatv1.ReasonQuotaLow, quotaLowMessage
		}
		v.set(c.ready.status, c.ready.reason, c.ready.message, states)
	}
	if c.result != pacer.Paused {
		*v.observed = v.generation
	}
}

// conditionStates are the kstatus conditions besides Ready, and Synced.
type conditionStates struct {
	reconciling, stalled, synced bool
	// syncedReason and syncedMessage, when set, replace Synced's usual
	// reason and message (True: "Synced"; False: Ready's).
	syncedReason, syncedMessage string
}

// set writes Ready (unless readyStatus is empty: keep it), and Reconciling,
// Stalled and Synced. meta.SetStatusCondition keeps lastTransitionTime unless
// the status flips, so an unchanged conclusion leaves the status byte for byte
// equal and nothing is written.
func (v statusView) set(readyStatus metav1.ConditionStatus, reason, message string, s conditionStates) {
	gen := v.generation
	conds := v.conds
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
	synced := metav1.Condition{Type: codatv1.ConditionSynced, Status: metav1.ConditionFalse, Reason: reason, Message: message, ObservedGeneration: gen}
	if s.synced {
		synced.Status, synced.Reason, synced.Message = metav1.ConditionTrue, codatv1.ReasonSynced, "The operator's last requests to Codat succeeded"
	}
	if s.syncedReason != "" {
		synced.Reason, synced.Message = s.syncedReason, s.syncedMessage
	}
	meta.SetStatusCondition(conds, synced)
}

// keepReady leaves Ready as it is during a transient failure (one failed
// request says nothing new about the connection, and Ready flapping would
// page people); an object that has no Ready yet gets Ready=False.
func (v statusView) keepReady(reason, message string) {
	if meta.FindStatusCondition(*v.conds, codatv1.ConditionReady) == nil {
		meta.SetStatusCondition(v.conds, metav1.Condition{Type: codatv1.ConditionReady,
			Status: metav1.ConditionFalse, Reason: reason, Message: message, ObservedGeneration: v.generation})
	}
}

// paused shows the pause without pretending anything was done:
// Ready keeps its status with the reason Paused (the REASON column), the
// conditions keep the generation that was last realized, and
// status.observedGeneration does not advance, so a spec change made while
// paused does not look applied. A pause is a person's decision, not a
// failure: Stalled is False while it lasts (a stall it interrupted shows
// again, and is tried again, once the pause ends). A deletion the pause holds
// up is the exception: only a person can let the object go, so it is Stalled,
// and observed, so that GitOps tools see a stuck deletion rather than a
// generation not yet seen.
func (v statusView) paused(badValue string) {
	if v.deleting {
		*v.observed = v.generation
	}
	gen := *v.observed
	message := "Reconciliation is paused by the " + codatv1.AnnotationPaused + " annotation; no Codat calls are made until it is removed"
	if badValue != "" {
		message += fmt.Sprintf(" (its value %s is not true or false: any value but false pauses)", strconv.Quote(truncate(badValue, 63)))
	}
	conds := v.conds
	status := metav1.ConditionUnknown
	if c := meta.FindStatusCondition(*conds, codatv1.ConditionReady); c != nil {
		status = c.Status
	}
	stalled := metav1.Condition{Type: codatv1.ConditionStalled, Status: metav1.ConditionFalse, Reason: codatv1.ReasonPaused}
	if v.deleting {
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

// failureReason is the reason of the failure the conditions show, if any: a
// Warning event is recorded only when it changes, never per retry.
func failureReason(conds []metav1.Condition) string {
	if c := failureOf(conds); c != nil {
		return c.Reason
	}
	return ""
}

func failureMessage(conds []metav1.Condition) string {
	if c := failureOf(conds); c != nil {
		return c.Message
	}
	return ""
}

func failureCondition(obj *codatv1.CodatConnection) *metav1.Condition {
	return failureOf(obj.Status.Conditions)
}

func failureOf(conds []metav1.Condition) *metav1.Condition {
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
