package controller

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/log"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
	"github.com/codat-operator/codat-operator/internal/codatclient"
)

// pollInterval says when to look at a realized connection again. While the
// webhook receiver is healthy, every realized connection is polled at the
// SafetyNet interval. Otherwise one in its desired state is polled every
// Settled interval. One that waits for the
// business is polled sooner, and less often the longer it has waited: every
// half of the time waited so far, from PendingAuth up to Settled.
func (r *Reconciler) pollInterval(obj *codatv1.CodatConnection, state readiness) time.Duration {
	if r.Webhooks.safetyNet() {
		return jitter(r.Intervals.SafetyNet)
	}
	if state.status == metav1.ConditionTrue {
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
	return d + rand.N(d/10+1) //nolint:gosec // jitter spreads polls; it guards nothing
}

// maxRetryAfter bounds how long one Retry-After keeps an object away from
// Codat: Codat's daily quota resets within a day, and a larger value is more
// likely a broken header than advice.
const maxRetryAfter = 24 * time.Hour

// codatFailed turns a failed Codat call into the error that stops the pass
// (codatFailure), and remembers Codat's Retry-After for the object: every
// later pass waits for it, whatever event brings the object back early.
func (r *Reconciler) codatFailed(ctx context.Context, obj *codatv1.CodatConnection, codat session, op string, err error, working bool) error {
	out := codatFailure(op, err, working, obj.Spec.CompanyID, codat.credentials)
	// Every failure, at debug level; summarize reports each new failure reason once.
	log.FromContext(ctx).V(1).Info("Codat request failed", "operation", op, "class", codatclient.ClassOf(err), "error", err.Error())
	var serr *stallError
	if errors.As(out, &serr) {
		serr.inputs = codat.inputs
	}
	// A 429, or a 503 for maintenance, says when to come back: every later
	// pass waits for it. A 429 without a usable Retry-After backs off.
	var rerr *retryError
	if errors.As(out, &rerr) {
		wait, ok := codatclient.RetryAfter(err)
		if (!ok || wait <= 0) && codatclient.IsRateLimited(err) {
			wait, ok = r.backoff.When(nameOf(obj)), true
		}
		if ok && wait > 0 {
			wait = min(wait, maxRetryAfter)
			r.notBefore.Store(nameOf(obj), r.Now().Add(wait))
			rerr.after = wait
		}
	}
	return out
}

// rateLimited stops the pass while Codat's last Retry-After for the object
// still forbids calling Codat.
func (r *Reconciler) rateLimited(obj *codatv1.CodatConnection) error {
	name := nameOf(obj)
	v, ok := r.notBefore.Load(name)
	if !ok {
		return nil
	}
	wait := v.(time.Time).Sub(r.Now())
	if wait <= 0 {
		r.notBefore.Delete(name)
		return nil
	}
	return &retryError{
		reason:  codatv1.ReasonRateLimited,
		message: rateLimitedMessage,
		after:   wait, working: !settled(obj),
	}
}

// quotaMessage is what objects say while Codat's daily quota is used up.
const quotaMessage = "Codat reported the account's daily quota used up (client.rateLimit.reached); the operator makes no request until Codat reports it reset, or the quota's expiry passes"

// quotaExhausted stops the pass while Codat's webhook says the daily quota is used up.
func (r *Reconciler) quotaExhausted(obj *codatv1.CodatConnection) error {
	wait := r.Webhooks.quotaExhausted()
	if wait <= 0 {
		return nil
	}
	return &retryError{reason: codatv1.ReasonRateLimited, message: quotaMessage, after: wait, working: !settled(obj)}
}
