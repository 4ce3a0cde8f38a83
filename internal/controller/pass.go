package controller

import (
	"context"
	"errors"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/log"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
	"github.com/codat-operator/codat-operator/internal/codatclient"
	"github.com/codat-operator/codat-operator/internal/pacer"
)

// pass is the state of one reconcile of one object: the object as the pass
// changes it, its status before, Codat as bound to its credentials, and what
// the pass came to.
type pass struct {
	r      *Reconciler
	obj    *codatv1.CodatConnection
	before codatv1.CodatConnectionStatus
	codat  session
	outcome
}

// outcome is what a pass of either kind came to, before its end sorts it.
type outcome struct {
	// ready is how Codat compares with the desired state, when the pass got
	// that far without an error.
	ready readiness
	// err stopped the pass: *stallError, *waitError, *retryError, errRaced,
	// or the API server failing us.
	err error
	// released: the finalizer is gone, there is no status left to write.
	released bool
	// paused by the annotation (its value when it is not a boolean).
	paused      bool
	pausedValue string
	// working says a failure of the API server stopped work, not a routine look.
	working bool
}

// run is one pass, in the order of docs/design.md: paused, the company,
// credentials, what the pacer allows, deletion, a stall nothing changed since,
// identity (create or adopt), converge, assess.
func (p *pass) run(ctx context.Context) {
	r, obj := p.r, p.obj
	p.working = !settled(obj)
	if p.paused, p.pausedValue = pausedBy(obj); p.paused {
		return
	}
	if err := r.resolveCompany(ctx, obj); err != nil {
		if obj.DeletionTimestamp.IsZero() || companyOf(obj) != "" {
			p.err = err
			return
		}
		// Deleted before its company was known: it never reached Codat.
		if p.err = r.delete(ctx, obj, session{}, nil); p.err == nil {
			p.released = true
		}
		return
	}
	codat, err := r.connect(ctx, obj)
	p.codat = codat
	if err == nil {
		err = p.allowed()
	}
	if err == nil {
		err = unchangedSinceStall(obj, codat)
	}
	if !obj.DeletionTimestamp.IsZero() {
		if p.err = r.delete(ctx, obj, codat, err); p.err == nil {
			p.released = true
		}
		return
	}
	if p.err = err; err != nil {
		return
	}

	conn, err := r.connection(ctx, obj, codat)
	if p.err = err; err != nil {
		return
	}
	r.noticeChanges(ctx, obj, conn)
	recordConnection(obj, conn)
	conn, err = r.converge(ctx, obj, codat, conn)
	recordConnection(obj, conn)
	if p.err = err; err != nil {
		return
	}
	if p.err = r.publishLinkURL(ctx, obj); p.err != nil {
		return
	}
	p.ready, p.err = assess(obj)
}

// allowed asks the pacer whether the pass may call Codat now. A routine
// poll of a realized object is what the request budget holds back first.
func (p *pass) allowed() error {
	hold, wait := p.r.Pacer.Allow(nameOf(p.obj), p.codat.key, settled(p.obj) && p.obj.DeletionTimestamp.IsZero())
	return heldBy(hold, wait, !settled(p.obj))
}

// heldBy is the error that stops a pass the pacer holds, if it does.
func heldBy(hold pacer.Hold, wait time.Duration, working bool) error {
	switch hold {
	case pacer.RetryAfter:
		return &retryError{reason: codatv1.ReasonRateLimited, message: rateLimitedMessage, after: wait, working: working, hold: hold}
	case pacer.QuotaReached:
		return &retryError{reason: codatv1.ReasonRateLimited, message: quotaMessage, after: wait, working: working, hold: hold}
	case pacer.QuotaLow:
		return &retryError{reason: codatv1.ReasonQuotaLow, message: quotaLowMessage, after: wait, hold: hold}
	}
	return nil
}

// quotaMessage is what objects say while Codat's daily quota is used up.
const quotaMessage = "Codat reported the account's daily quota used up (client.rateLimit.reached); the operator makes no request until Codat reports it reset, or the quota's expiry passes (at most a day)"

// quotaLowMessage is what objects say while only writes go out.
const quotaLowMessage = "Codat's daily quota is nearly used up, or the operator's share of it is (--codat-quota-share, --codat-quota-floor): only the changes you ask for are sent until the quota resets; polls wait"

// unchangedSinceStall keeps a stall that Codat's refusal caused while the
// inputs of the refused request are the same: a manager restart, or any
// event that changes nothing the request is made with, must not send it again.
func unchangedSinceStall(obj *codatv1.CodatConnection, codat session) error {
	s := obj.Status
	if s.StalledInputs == "" || s.StalledInputs != codat.inputs {
		return nil
	}
	c := failureCondition(obj)
	if c == nil || c.Type != codatv1.ConditionStalled {
		return nil
	}
	return &stallError{reason: c.Reason, message: c.Message, fromCodat: true, inputs: codat.inputs}
}

// codatFailed turns a failed Codat call into the error that stops the pass.
func (r *Reconciler) codatFailed(ctx context.Context, obj *codatv1.CodatConnection, codat session, op string, err error, working bool) error {
	return failedCall(ctx, op, err, working, companyOf(obj), codat.credentials, codat.inputs)
}

// failedCall turns a failed Codat call of either kind of object into the
// error that stops the pass (codatFailure), with what the pacer needs:
// Codat's Retry-After, and whether Codat throttled the call; and, for a stall,
// the digest of the inputs (see stalledInputs).
func failedCall(ctx context.Context, op string, err error, working bool, companyID, credentials, inputs string) error {
	out := codatFailure(op, err, working, companyID, credentials)
	// Every failure, at debug level; the end of the pass reports each new failure reason once.
	log.FromContext(ctx).V(1).Info("Codat request failed", "operation", op, "class", codatclient.ClassOf(err), "error", err.Error())
	var stall *stallError
	var retry *retryError
	switch {
	case errors.As(out, &stall):
		stall.inputs = inputs
	case errors.As(out, &retry):
		if wait, ok := codatclient.RetryAfter(err); ok && wait > 0 {
			retry.after = wait
		}
		retry.throttled = codatclient.IsRateLimited(err)
	}
	return out
}
