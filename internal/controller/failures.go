package controller

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
	"github.com/codat-operator/codat-operator/internal/codatapi"
	"github.com/codat-operator/codat-operator/internal/codatclient"
	"github.com/codat-operator/codat-operator/internal/pacer"
)

// Every step of a pass returns an error to stop the pass. The error's type
// says what the user sees and when the operator comes back; the end of the
// pass turns it into conditions, events, the status write and the requeue.
// There are four:
//
//   - *stallError: only a person can unblock the object. Stalled=True; no
//     requeue until the object, its Secrets or the credentials change.
//   - *retryError: a transient failure; tried again after a backoff, or after
//     Codat's Retry-After; or a pass the pacer held before any Codat call.
//   - *waitError: the object waits for another object (its CodatCompany, or
//     the connections that still use a company): Reconciling=True, not
//     Stalled; no requeue until a watch says the other object changed.
//   - errRaced: a write lost a race with a newer version of the object (or the
//     manager is stopping); the pass ends quietly and runs again.
//
// Any other error is the API server failing us: it is logged, and retried
// like a transient failure.

type stallError struct {
	reason, message string
	// fromCodat marks a refusal by Codat. inputs, the digest of what the
	// request was made with, goes to status.stalledInputs, and the request is
	// not sent again while the digest stays the same.
	fromCodat bool
	inputs    string
}

func (e *stallError) Error() string { return e.reason + ": " + e.message }

func stall(reason, message string) error { return &stallError{reason: reason, message: message} }

type waitError struct{ reason, message string }

func (e *waitError) Error() string { return e.reason + ": " + e.message }

func wait(reason, message string) error { return &waitError{reason: reason, message: message} }

type retryError struct {
	reason, message string
	// after is Codat's Retry-After, or how long the pacer's hold lasts.
	after time.Duration
	// throttled says Codat answered 429: the pacer holds every object of the key.
	throttled bool
	// hold, when set, says the pacer held the pass before any Codat call.
	hold pacer.Hold
	// working says the failure stopped work on the current generation:
	// creating, unlinking, sending an authorization or deleting. A failed
	// routine look at a realized connection is not work: it shows on Synced
	// only, and health does not flap.
	working bool
}

func (e *retryError) Error() string { return e.reason + ": " + e.message }

func retry(reason, message string, working bool) error {
	return &retryError{reason: reason, message: message, working: working}
}

// rateLimitedMessage is one text for the 429 and the wait after it, so that
// waiting writes nothing new.
const rateLimitedMessage = "Codat is rate limiting requests (HTTP 429); the operator waits as long as Codat's Retry-After asks, then tries again"

var errRaced = errors.New("a write lost a race with a newer version of the object")

// codatFailure turns a failed Codat call into the error a user sees: the
// failure classes of docs/conditions.md. Each message says what to do; none
// carries a secret, a time or a request id. credentials names where the API
// key came from.
func codatFailure(op string, err error, working bool, companyID, credentials string) error {
	operation, _ := codatapi.OperationNamed(op)
	verb := operation.Verb
	var cerr *codatclient.Error
	if !errors.As(err, &cerr) {
		return retry(codatv1.ReasonCodatUnavailable, fmt.Sprintf("Asking Codat to %s failed; retrying with backoff", verb), working)
	}
	switch codatclient.ClassOf(err) {
	case codatclient.Canceled:
		return errRaced
	case codatclient.Transient:
		if cerr.Kind == codatclient.KindHTTP && cerr.StatusCode == http.StatusTooManyRequests {
			return retry(codatv1.ReasonRateLimited, rateLimitedMessage, working)
		}
		return retry(codatv1.ReasonCodatUnavailable, fmt.Sprintf("Codat %s when asked to %s; retrying with backoff", transientWhat(cerr), verb), working)
	}

	var out *stallError
	switch {
	case cerr.Kind == codatclient.KindInvalidAPIKey:
		out = &stallError{reason: codatv1.ReasonCredentialsInvalid, message: fmt.Sprintf(
			"The Codat API key in %s can never work: %s. Put the key there exactly as Codat's portal shows it", credentials, cerr.Message)}
	case cerr.StatusCode == http.StatusUnauthorized || cerr.StatusCode == http.StatusForbidden:
		out = &stallError{reason: codatv1.ReasonCredentialsRejected, message: fmt.Sprintf(
			"Codat rejected the API key (HTTP %d) from %s; put a valid key there. Nothing is retried until it changes",
			cerr.StatusCode, credentials)}
	case cerr.StatusCode == http.StatusPaymentRequired:
		out = &stallError{reason: codatv1.ReasonAccountLimit, message: fmt.Sprintf(
			"Codat refused to %s: the account reached a limit of its plan (HTTP 402). Raise the limit in Codat, then set the annotation %s to any new value to retry",
			verb, codatv1.AnnotationReconcileRequestedAt)}
	case cerr.StatusCode == http.StatusNotFound && !operation.CompanyLevel:
		// The connection went away between two calls of one pass.
		return retry(codatv1.ReasonProgressing, "The connection disappeared from Codat while the operator worked on it; looking again", working)
	case cerr.StatusCode == http.StatusNotFound:
		out = &stallError{reason: codatv1.ReasonCompanyNotFound, message: fmt.Sprintf(
			"Codat has no company %s (HTTP 404 when asked to %s); check spec.companyId. It cannot be changed: delete this object and create one with the right id",
			companyID, verb)}
	default:
		message := cerr.Message
		if op == codatapi.OpUpdateConnectionAuthorization || message == "" {
			// Codat's message might echo what was sent; the authorization body is secret.
			message = "no details"
		}
		what := "HTTP " + fmt.Sprint(cerr.StatusCode)
		if cerr.Kind != codatclient.KindHTTP {
			what = "not sent"
		}
		out = &stallError{reason: codatv1.ReasonCodatRejected, message: fmt.Sprintf(
			"Codat refused to %s (%s: %s). Fix the object or its Secrets, then set the annotation %s to any new value to retry",
			verb, what, message, codatv1.AnnotationReconcileRequestedAt)}
	}
	out.fromCodat = true
	return out
}

// transientWhat says, for a message, how a transient failure looked.
func transientWhat(e *codatclient.Error) string {
	switch e.Kind {
	case codatclient.KindTimeout:
		return "did not answer in time"
	case codatclient.KindTLS:
		return "could not be reached over TLS (if this lasts, check the CA certificates and any proxy between the operator and Codat)"
	case codatclient.KindBadResponse:
		return fmt.Sprintf("answered HTTP %d with a body that is not what Codat documents", e.StatusCode)
	case codatclient.KindHTTP:
		return fmt.Sprintf("answered HTTP %d", e.StatusCode)
	default:
		return "could not be reached"
	}
}
