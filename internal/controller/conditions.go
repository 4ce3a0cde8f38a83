package controller

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
)

// setConditions writes the outcome as the Ready, Reconciling and Stalled
// conditions. meta.SetStatusCondition keeps lastTransitionTime unless the
// status flips, so an unchanged outcome leaves the status byte for byte equal.
func setConditions(obj *codatv1.CodatConnection, out outcome) {
	gen := obj.Generation
	conds := &obj.Status.Conditions
	set := func(t string, s metav1.ConditionStatus, reason, msg string) {
		meta.SetStatusCondition(conds, metav1.Condition{
			Type: t, Status: s, Reason: reason, Message: msg, ObservedGeneration: gen,
		})
	}

	if !out.keepReady || meta.FindStatusCondition(*conds, codatv1.ConditionReady) == nil {
		set(codatv1.ConditionReady, out.ready, out.reason, out.message)
	}
	switch out.progress {
	case retrying:
		set(codatv1.ConditionReconciling, metav1.ConditionTrue, out.reason, out.message)
		set(codatv1.ConditionStalled, metav1.ConditionFalse, out.reason, "")
	case stalled:
		set(codatv1.ConditionReconciling, metav1.ConditionFalse, out.reason, "")
		set(codatv1.ConditionStalled, metav1.ConditionTrue, out.reason, out.message)
	default:
		set(codatv1.ConditionReconciling, metav1.ConditionFalse, out.reason, "")
		set(codatv1.ConditionStalled, metav1.ConditionFalse, out.reason, "")
	}
}

// failureReason is the reason of the failure condition that is True, if any;
// a Warning event is recorded only when it changes, never per retry.
func failureReason(obj *codatv1.CodatConnection) string {
	for _, t := range []string{codatv1.ConditionStalled, codatv1.ConditionReconciling} {
		if c := meta.FindStatusCondition(obj.Status.Conditions, t); c != nil && c.Status == metav1.ConditionTrue {
			return c.Reason
		}
	}
	return ""
}
