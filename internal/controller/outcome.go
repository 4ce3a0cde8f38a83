package controller

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
)

// progress says where a reconcile pass left the object, in kstatus terms.
type progress int

const (
	// settled: the operator did all it can; it polls Codat again later.
	settled progress = iota
	// retrying: a transient failure (rate limit, Codat unavailable, a write
	// conflict); the operator tries again after a backoff.
	retrying
	// stalled: only a person can unblock the object; nothing is retried
	// until the object, its Secrets or the credentials change.
	stalled
	// idle: nothing to do until the object changes (paused).
	idle
	// raced: a write to the API server lost a race with a newer version of
	// the object; the pass ends without writing status and runs again.
	raced
	// gone: the finalizer was removed; there is no status left to write.
	gone
)

// outcome is what one reconcile pass concluded: the conditions to show and
// when to look again. Messages are deterministic so that a pass that learns
// nothing new writes nothing.
type outcome struct {
	progress progress
	// ready is the Ready condition's status; keepReady leaves a Ready
	// condition that already exists as it is (a transient failure says
	// nothing new about Codat's connection).
	ready     metav1.ConditionStatus
	keepReady bool
	reason    string
	message   string
	// after overrides the requeue interval (Retry-After, pending polls).
	after time.Duration
}

func ready(reason, message string) outcome {
	return outcome{progress: settled, ready: metav1.ConditionTrue, reason: reason, message: message}
}

// waiting is not a failure: the operator waits for someone outside (the
// business authorizing, re-linking) and polls meanwhile.
func waiting(reason, message string) outcome {
	return outcome{progress: settled, ready: metav1.ConditionFalse, reason: reason, message: message}
}

func retry(reason, message string) outcome {
	return outcome{progress: retrying, ready: metav1.ConditionFalse, keepReady: true, reason: reason, message: message}
}

func stall(reason, message string) outcome {
	return outcome{progress: stalled, ready: metav1.ConditionFalse, reason: reason, message: message}
}

func finished() outcome { return outcome{progress: gone} }

func lostRace() outcome { return outcome{progress: raced} }

func paused() outcome {
	return outcome{
		progress: idle, ready: metav1.ConditionUnknown, keepReady: true, reason: codatv1.ReasonPaused,
		message: "Reconciliation is paused by the " + codatv1.AnnotationPaused + " annotation; no Codat calls are made until it is removed",
	}
}
