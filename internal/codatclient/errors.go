package codatclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Error is returned by every Client method for a failed call: an HTTP error from Codat
// (StatusCode set, Err nil) or a transport failure (StatusCode 0, Err set).
// It never contains the API key, the Authorization header or an authorization body.
type Error struct {
	// Operation is Codat's operationId, e.g. "get-connection".
	Operation  string
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

// IsRetryable reports errors that may succeed later without anyone changing anything: 408, 429,
// 5xx, timeouts and connection errors. A call cancelled by the caller's context is not retryable.
func IsRetryable(err error) bool {
	e, ok := asError(err)
	if !ok {
		return false
	}
	if e.Err != nil {
		return !errors.Is(e.Err, context.Canceled)
	}
	return e.StatusCode == http.StatusRequestTimeout || e.StatusCode == http.StatusTooManyRequests ||
		e.StatusCode >= 500
}

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
