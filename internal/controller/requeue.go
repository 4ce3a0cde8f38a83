package controller

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
	"github.com/codat-operator/codat-operator/internal/budget"
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

// planPoll says when to look at a realized connection again: its poll
// interval, stretched when the budget of its API key's quota is tight. The
// object counts towards its key's load from now on.
func (r *Reconciler) planPoll(obj *codatv1.CodatConnection, res result) (time.Duration, budget.Mode) {
	interval := r.pollInterval(obj, res.ready)
	if r.Budget == nil || res.key == "" {
		return interval, budget.Normal
	}
	class := budget.Waiting
	if res.ready.status == metav1.ConditionTrue {
		class = budget.Settled
	}
	r.Budget.Track(nameOf(obj).String(), res.key, class, interval)
	return r.Budget.Interval(res.key, class, interval)
}

// quotaLowMessage is what objects say while only writes go out.
const quotaLowMessage = "Codat's daily quota is nearly used up, or the operator's share of it is (--codat-quota-share, --codat-quota-floor): only the changes you ask for are sent until the quota resets; polls wait"

// pollAllowed holds back a routine poll while the budget lets only writes
// out; the poll comes back after the quota's reset, spread over the poll
// interval so that the reset is no burst.
func (r *Reconciler) pollAllowed(obj *codatv1.CodatConnection, codat session) error {
	if r.Budget == nil || !settled(obj) {
		return nil
	}
	plan := r.Budget.PlanFor(codat.key)
	if plan.Mode != budget.WritesOnly {
		return nil
	}
	wait := max(plan.Reset.Sub(r.Now()), 0) + rand.N(r.Intervals.Settled) //nolint:gosec // spreads polls; it guards nothing
	return &retryError{reason: codatv1.ReasonQuotaLow, message: quotaLowMessage, after: wait}
}

// replan hears of a key's budget plan changing: when polls may come sooner,
// the key's objects waiting on a stretched schedule are brought back within
// the new interval, spread out. (A tighter plan takes effect at each
// object's next poll; the queue keeps the earlier of two times.)
func (r *Reconciler) replan(key string, p budget.Plan) {
	if r.queue == nil || p.Mode == budget.WritesOnly {
		return
	}
	spread := time.Duration(float64(r.Intervals.Settled) * math.Min(p.Factor[budget.Settled], 1e6))
	if !p.Reset.IsZero() {
		spread = min(spread, max(time.Until(p.Reset), r.Intervals.Settled))
	}
	for _, name := range r.Budget.Objects(key) {
		ns, n, _ := strings.Cut(name, "/")
		req := reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: n}}
		r.queue.AddWithOpts(priorityqueue.AddOpts{After: rand.N(spread) + 1, Priority: ptr.To(priorityPoll)}, req) //nolint:gosec // spreads polls; it guards nothing
	}
}
