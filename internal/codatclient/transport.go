package codatclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/codat-operator/codat-operator/internal/codatapi"
)

const (
	maxSuccessBody = 16 << 20
	maxErrorBody   = 64 << 10
)

type request struct {
	op        string
	method    string
	url       string
	companyID string
	body      []byte
	secrets   []string // request-specific values to keep out of errors
}

// answer is one HTTP exchange that got a response.
type answer struct {
	status   int
	header   http.Header
	body     []byte
	tooLarge bool
}

// idempotent methods may be retried once, immediately, after a network error.
func idempotent(method string) bool {
	return method == http.MethodGet || method == http.MethodPut || method == http.MethodDelete
}

// do sends one request (plus at most one retry, see idempotent) and decodes a 2xx body into out.
func (c *Client) do(ctx context.Context, key APIKey, r request, out any) error {
	if err := key.Validate(); err != nil {
		return &Error{Operation: r.op, Kind: KindInvalidAPIKey, Message: "the API key cannot be used: " + err.Error()}
	}
	secrets := append(key.secrets(), r.secrets...)
	// Codat's cap on concurrent requests is per company; list-companies and create-company name none.
	if r.companyID != "" {
		release, err := c.companies.acquire(ctx, r.companyID)
		if err != nil {
			return &Error{Operation: r.op, Kind: transportKind(ctx, err), Err: err}
		}
		defer release()
	}

	for attempt := 0; ; attempt++ {
		if err := c.limiter.Wait(ctx); err != nil {
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			return &Error{Operation: r.op, Kind: transportKind(ctx, err), Err: fmt.Errorf("waiting for the client-side rate limit: %w", err)}
		}
		a, err := c.send(ctx, key, r)
		if err != nil {
			kind := transportKind(ctx, err)
			if attempt == 0 && idempotent(r.method) && kind == KindNetwork {
				continue
			}
			return &Error{Operation: r.op, Kind: kind, Err: scrubError(err, secrets)}
		}
		if a.status < 200 || a.status > 299 {
			return httpError(r.op, a, secrets)
		}
		return decode(r.op, a, out, secrets)
	}
}

// decode reads a 2xx answer into out. An answer that is not the JSON Codat documents is Codat's
// fault (KindBadResponse), never the caller's.
func decode(op string, a answer, out any, secrets []string) error {
	if out == nil {
		return nil
	}
	bad := func(msg string) error {
		return &Error{Operation: op, Kind: KindBadResponse, StatusCode: a.status, Message: scrub(msg, secrets)}
	}
	switch {
	case a.tooLarge:
		return bad(fmt.Sprintf("the response body is larger than %d bytes", maxSuccessBody))
	case len(bytes.TrimSpace(a.body)) == 0:
		return bad("empty response body")
	}
	if err := json.Unmarshal(a.body, out); err != nil {
		return bad("the response body is not the JSON Codat documents: " + err.Error() + ": " + snippet(a.body))
	}
	return nil
}

// send performs one HTTP exchange under the per-request timeout and records metrics.
func (c *Client) send(ctx context.Context, key APIKey, r request) (answer, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, r.url, body)
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("Authorization", key.authorization())
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}

	start := time.Now()
	resp, err := c.httpClient.Do(req)
	if err != nil {
		c.metrics.request(r.op, "error", time.Since(start))
		return answer{}, err
	}
	defer func() { _ = resp.Body.Close() }()
	limit := int64(maxSuccessBody)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		limit = maxErrorBody
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	c.metrics.request(r.op, strconv.Itoa(resp.StatusCode), time.Since(start))
	c.rateLimitSeen(key, resp.Header)
	if err != nil && resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return answer{}, fmt.Errorf("reading response body: %w", err)
	}
	a := answer{status: resp.StatusCode, header: resp.Header, body: data}
	if int64(len(data)) > limit {
		a.body, a.tooLarge = data[:limit], true
	}
	return a, nil
}

// rateLimitSeen passes Codat's rate-limit headers on to the metrics and OnRateLimit.
func (c *Client) rateLimitSeen(key APIKey, h http.Header) {
	rl, ok := parseRateLimit(h)
	if !ok {
		return
	}
	rl.Key = key.Fingerprint()
	c.metrics.rateLimit(rl)
	if c.onRateLimit != nil {
		c.onRateLimit(rl)
	}
}

// transportKind classifies a failure to get an answer.
func transportKind(ctx context.Context, err error) Kind {
	var (
		ne          net.Error
		unknownCA   x509.UnknownAuthorityError
		hostname    x509.HostnameError
		invalidCert x509.CertificateInvalidError
		verify      *tls.CertificateVerificationError
		recordHdr   tls.RecordHeaderError
		alert       tls.AlertError
	)
	switch {
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		return KindCanceled
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return KindTimeout
	case errors.As(err, &unknownCA), errors.As(err, &hostname), errors.As(err, &invalidCert),
		errors.As(err, &verify), errors.As(err, &recordHdr), errors.As(err, &alert):
		return KindTLS
	default:
		return KindNetwork
	}
}

func httpError(op string, a answer, secrets []string) *Error {
	e := &Error{Operation: op, Kind: KindHTTP, StatusCode: a.status}
	if d, ok := parseRetryAfter(a.header.Get("Retry-After"), time.Now()); ok {
		e.RetryAfter, e.retryAfterSet = d, true
	}
	trimmed := bytes.TrimSpace(a.body)
	var msg errorMessage
	switch {
	case len(trimmed) == 0:
		e.Message = "empty response body"
	case json.Unmarshal(trimmed, &msg) != nil:
		e.Message = "unexpected response body: " + snippet(trimmed)
	default:
		e.Message = msg.Error
		e.CorrelationID = msg.CorrelationID
		e.Service = msg.Service
		if e.Message == "" {
			e.Message = "no error message in response body"
		}
	}
	e.Message = scrub(e.Message, secrets)
	e.CorrelationID = scrub(e.CorrelationID, secrets)
	e.Service = scrub(e.Service, secrets)
	return e
}

// RateLimit is what Codat's rate-limit headers said in one answer.
type RateLimit struct {
	// Key is the fingerprint of the API key the answer was for (APIKey.Fingerprint).
	Key string
	// Limit is the daily quota, Remaining what is left of it; -1 when the header was missing.
	Limit, Remaining int
	// Reset is when the quota resets; zero when the header was missing or unreadable.
	Reset time.Time
}

func parseRateLimit(h http.Header) (RateLimit, bool) {
	rl := RateLimit{Limit: -1, Remaining: -1}
	seen := false
	if n, err := strconv.Atoi(h.Get(codatapi.HeaderRateLimitLimit)); err == nil && n >= 0 {
		rl.Limit, seen = n, true
	}
	if n, err := strconv.Atoi(h.Get(codatapi.HeaderRateLimitRemaining)); err == nil && n >= 0 {
		rl.Remaining, seen = n, true
	}
	if t, ok := ParseTime(h.Get(codatapi.HeaderRateLimitReset)); ok {
		rl.Reset, seen = t, true
	}
	return rl, seen
}
