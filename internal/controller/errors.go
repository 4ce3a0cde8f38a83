package controller

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/log"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
	"github.com/codat-operator/codat-operator/internal/codatclient"
)

// operationVerbs name Codat's operations in messages for users.
var operationVerbs = map[string]string{
	codatclient.OpCreateConnection:              "create the connection",
	codatclient.OpGetConnection:                 "read the connection",
	codatclient.OpListConnections:               "list the company's connections",
	codatclient.OpUnlinkConnection:              "unlink the connection",
	codatclient.OpUpdateConnectionAuthorization: "update the connection's authorization",
	codatclient.OpDeleteConnection:              "delete the connection",
}

// codatFailed turns a failed Codat call into the outcome a user sees. Each
// message says what to do; none carries a secret, a time or a request id.
func (r *Reconciler) codatFailed(ctx context.Context, obj *codatv1.CodatConnection, op string, err error) outcome {
	log.FromContext(ctx).Info("Codat request failed", "operation", op, "error", err.Error())
	verb := operationVerbs[op]
	code := 0
	var message string
	var cerr *codatclient.Error
	if errors.As(err, &cerr) {
		code, message = cerr.StatusCode, cerr.Message
	}

	switch {
	case codatclient.IsRateLimited(err):
		wait, ok := codatclient.RetryAfter(err)
		if !ok || wait <= 0 {
			wait = r.backoff.When(nameOf(obj))
		}
		r.notBefore.Store(nameOf(obj), r.Now().Add(wait))
		out := retry(codatv1.ReasonRateLimited, "Codat is rate limiting requests (HTTP 429); the operator waits as long as Codat's Retry-After asks, then tries again")
		out.after = wait
		return out
	case codatclient.IsRetryable(err):
		what := "could not be reached"
		if code != 0 {
			what = fmt.Sprintf("answered HTTP %d", code)
		}
		return retry(codatv1.ReasonCodatUnavailable, fmt.Sprintf("Codat %s when asked to %s; retrying with backoff", what, verb))
	case codatclient.IsUnauthorized(err):
		return stall(codatv1.ReasonCredentialsRejected, fmt.Sprintf(
			"Codat rejected the API key (HTTP %d) from %s; put a valid key there. Nothing is retried until it changes",
			code, r.credentialsSource(obj)))
	case codatclient.IsPaymentRequired(err):
		return stall(codatv1.ReasonAccountLimit, fmt.Sprintf(
			"Codat refused to %s: the account reached a limit of its plan (HTTP 402). Raise the limit in Codat, then set the annotation %s to any new value to retry",
			verb, codatv1.AnnotationReconcileRequestedAt))
	case codatclient.IsNotFound(err) && op != codatclient.OpCreateConnection && op != codatclient.OpListConnections:
		return retry(codatv1.ReasonProgressing, "The connection disappeared from Codat while the operator worked on it; looking again")
	case codatclient.IsNotFound(err):
		return stall(codatv1.ReasonCompanyNotFound, fmt.Sprintf(
			"Codat has no company %s (HTTP 404 when asked to %s); check spec.companyId. It cannot be changed: delete this object and create one with the right id",
			obj.Spec.CompanyID, verb))
	}
	if op == codatclient.OpUpdateConnectionAuthorization || message == "" {
		// Codat's message might echo what was sent; the authorization body is secret.
		message = "no details"
	}
	return stall(codatv1.ReasonCodatRejected, fmt.Sprintf(
		"Codat refused to %s (HTTP %d: %s). Fix the object or its Secrets, then set the annotation %s to any new value to retry",
		verb, code, message, codatv1.AnnotationReconcileRequestedAt))
}

// metaWriteFailed handles a failed finalizer or marker write.
func (r *Reconciler) metaWriteFailed(ctx context.Context, err error) outcome {
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		log.FromContext(ctx).V(1).Info("metadata write lost a race; retrying")
		return lostRace()
	}
	log.FromContext(ctx).Error(err, "writing the object's metadata failed")
	return retry(codatv1.ReasonProgressing, "Writing the object's finalizer or annotations failed; retrying")
}

func nameOf(obj *codatv1.CodatConnection) types.NamespacedName {
	return types.NamespacedName{Namespace: obj.Namespace, Name: obj.Name}
}

// event records a change the operator made in Codat (or found there), as an
// event on the object and a line in the log.
func (r *Reconciler) event(ctx context.Context, obj *codatv1.CodatConnection, eventType, reason, note string, args ...any) {
	log.FromContext(ctx).Info(fmt.Sprintf(note, args...), "event", reason)
	r.Recorder.Eventf(obj, nil, eventType, reason, reason, note, args...)
}
