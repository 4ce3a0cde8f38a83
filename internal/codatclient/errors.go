package codatclient

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Error is returned by every Client method for a failed call. Kind says what went wrong; for
// KindHTTP, StatusCode is Codat's status. It never contains the API key, the Authorization header or
// an authorization body.
type Error struct {
	// Operation is Codat's operationId, e.g. "get-connection".
	Operation string
	Kind      Kind
	// StatusCode is the HTTP status of Codat's answer; 0 when there was none.
	StatusCode int
	// Message is Codat's `error` text, or a short description when the body was not Codat's JSON.
	Message       string
	CorrelationID string
	Service       string
	// RetryAfter is the server's Retry-After, when it sent one.
	RetryAfter time.Duration
	// Err is the transport cause; nil for HTTP errors.
	Err error

	retryAfterSet bool
}

// Kind says what went wrong with a call, before asking who can fix it.
type Kind string

const (
	// KindHTTP means Codat answered with a status outside 2xx; StatusCode says which.
	KindHTTP Kind = "http"
	// KindBadResponse is a 2xx whose body is empty, truncated, not JSON, or not the resource asked for.
	KindBadResponse Kind = "bad-response"
	// KindTimeout is no answer within the request timeout.
	KindTimeout Kind = "timeout"
	// KindTLS means the TLS handshake failed or the server's certificate was not trusted.
	KindTLS Kind = "tls"
	// KindNetwork is no answer: DNS, connection refused or reset, a connection closed mid-response.
	KindNetwork Kind = "network"
	// KindInvalidAPIKey means the key can never be sent (see APIKey.Validate); no request was made.
	KindInvalidAPIKey Kind = "invalid-api-key"
	// KindInvalidRequest means arguments the client refuses to send (an empty id); no request was made.
	KindInvalidRequest Kind = "invalid-request"
	// KindCanceled means the caller's context ended (the manager is stopping).
	KindCanceled Kind = "canceled"
)

// Class says who can make a failed call succeed.
type Class string

const (
	// Transient failures may succeed later without anyone changing anything: retry with backoff.
	Transient Class = "transient"
	// NeedsPerson failures repeat until someone changes the key, the request or the Codat account.
	NeedsPerson Class = "needs-person"
	// Canceled calls were stopped by the caller; they say nothing about Codat.
	Canceled Class = "canceled"
)

// ClassOf classifies a failed call. An error that did not come from this package needs a person:
// the client cannot know that retrying it would help.
func ClassOf(err error) Class {
	e, ok := asError(err)
	if !ok {
		return NeedsPerson
	}
	switch e.Kind {
	case KindCanceled:
		return Canceled
	case KindBadResponse, KindTimeout, KindTLS, KindNetwork:
		// A garbled 2xx is Codat's fault, not the user's, and a create answered that way may
		// have committed: the caller must treat it like a lost response. TLS failures are
		// retried too: certificate rotations and proxies heal, and the message names the cause.
		return Transient
	case KindHTTP:
		return StatusClass(e.StatusCode)
	default:
		return NeedsPerson
	}
}

// StatusClass classifies an HTTP status that is not 2xx. Codat documents 400, 401, 402, 403, 404,
// 429, 500 and 503 for the connection operations; the rest follow their HTTP meaning.
func StatusClass(code int) Class {
	switch {
	case code == http.StatusRequestTimeout, code == http.StatusLocked, code == http.StatusTooEarly,
		code == http.StatusTooManyRequests:
		return Transient
	case code == http.StatusNotImplemented, code == http.StatusHTTPVersionNotSupported:
		return NeedsPerson
	case code >= 500 && code <= 599:
		return Transient
	default:
		// 1xx and 3xx (a base URL that redirects), 400, 401, 402, 403, 404, 409 and every other
		// 4xx: the same request fails the same way until something changes.
		return NeedsPerson
	}
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("codat ")
	b.WriteString(e.Operation)
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.StatusCode)
		if t := http.StatusText(e.StatusCode); t != "" {
			b.WriteString(" ")
			b.WriteString(t)
		}
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	var details []string
	if e.Service != "" {
		details = append(details, "service "+e.Service)
	}
	if e.CorrelationID != "" {
		details = append(details, "correlationId "+e.CorrelationID)
	}
	if _, ok := RetryAfter(e); ok {
		details = append(details, "retry after "+e.RetryAfter.String())
	}
	if len(details) > 0 {
		b.WriteString(" (")
		b.WriteString(strings.Join(details, ", "))
		b.WriteString(")")
	}
	return b.String()
}

// GoString keeps %#v as safe as Error(): the transport cause is printed as text, not as a struct dump.
func (e *Error) GoString() string {
	return fmt.Sprintf("&codatclient.Error{Operation:%q, StatusCode:%d, Message:%q, CorrelationID:%q, Service:%q, RetryAfter:%d, Err:%q}",
		e.Operation, e.StatusCode, e.Message, e.CorrelationID, e.Service, e.RetryAfter, errText(e.Err))
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

func asError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

func hasStatus(err error, codes ...int) bool {
	e, ok := asError(err)
	if !ok {
		return false
	}
	for _, c := range codes {
		if e.StatusCode == c {
			return true
		}
	}
	return false
}

// IsNotFound reports a 404: the company or connection does not exist (or was deleted).
func IsNotFound(err error) bool { return hasStatus(err, http.StatusNotFound) }

// IsUnauthorized reports a 401 or 403: the API key is wrong, outdated or not allowed for the resource.
func IsUnauthorized(err error) bool {
	return hasStatus(err, http.StatusUnauthorized, http.StatusForbidden)
}

// IsPaymentRequired reports a 402: an account limit of the Codat plan.
func IsPaymentRequired(err error) bool { return hasStatus(err, http.StatusPaymentRequired) }

// IsRateLimited reports a 429.
func IsRateLimited(err error) bool { return hasStatus(err, http.StatusTooManyRequests) }

// IsRetryable reports failures that may succeed later without anyone changing anything (ClassOf
// is Transient). A call cancelled by the caller's context is not retryable.
func IsRetryable(err error) bool { return ClassOf(err) == Transient }

// RetryAfter returns the Retry-After the server sent with the error, if any.
func RetryAfter(err error) (time.Duration, bool) {
	e, ok := asError(err)
	if !ok {
		return 0, false
	}
	if e.retryAfterSet || e.RetryAfter > 0 {
		return e.RetryAfter, true
	}
	return 0, false
}

// parseRetryAfter reads a Retry-After header: integer seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			secs = 0
		}
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		d := t.Sub(now)
		if d < 0 {
			d = 0
		}
		// Round up so that a caller never comes back before the date.
		if r := d % time.Second; r != 0 {
			d += time.Second - r
		}
		return d, true
	}
	return 0, false
}
