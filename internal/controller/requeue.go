package controller

import (
	"math/rand/v2"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
)

// pollInterval says when to look at a settled connection again. One in its
// desired state is polled every Settled interval. One that waits for the
// business is polled sooner, and less often the longer it has waited: every
// half of the time waited so far, from PendingAuth up to Settled.
func (r *Reconciler) pollInterval(obj *codatv1.CodatConnection, out outcome) time.Duration {
	if out.after > 0 {
		return out.after
	}
	if out.ready == metav1.ConditionTrue {
		return jitter(r.Intervals.Settled)
	}
	interval := r.Intervals.PendingAuth
	if c := meta.FindStatusCondition(obj.Status.Conditions, codatv1.ConditionReady); c != nil {
		interval = max(interval, min(r.Now().Sub(c.LastTransitionTime.Time)/2, r.Intervals.Settled))
	}
	return jitter(interval)
}

// jitter adds up to a tenth, so that objects created together do not poll
// Codat together forever.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return d
	}
	return d + rand.N(d/10+1)
}

// rateLimitedFor is how long Codat's last Retry-After for the object still
// forbids calling Codat, whatever event brought the object back early.
func (r *Reconciler) rateLimitedFor(obj *codatv1.CodatConnection) time.Duration {
	name := nameOf(obj)
	v, ok := r.notBefore.Load(name)
	if !ok {
		return 0
	}
	wait := v.(time.Time).Sub(r.Now())
	if wait <= 0 {
		r.notBefore.Delete(name)
		return 0
	}
	return wait
}
