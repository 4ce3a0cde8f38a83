// Package codatclient is a small client for Codat's connection API (the six operations under
// /companies/{companyId}/connections of the Platform API).
//
// It is bounded on purpose: every request has a timeout, there is no retry loop (at most one
// immediate retry of an idempotent request after a connection error), all callers share one
// client-side rate limit, and at most MaxInFlightPerCompany requests per company are in flight,
// as Codat asks. Retrying with backoff is the caller's job (the reconciler requeues).
package codatclient

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/time/rate"
)

// Codat's operationIds, used as metric labels and by the simulator's counters.
const (
	OpListConnections               = "list-connections"
	OpCreateConnection              = "create-connection"
	OpGetConnection                 = "get-connection"
	OpDeleteConnection              = "delete-connection"
	OpUnlinkConnection              = "unlink-connection"
	OpUpdateConnectionAuthorization = "update-connection-authorization"
)

// Defaults for Options.
const (
	DefaultBaseURL               = "https://api.codat.io"
	DefaultTimeout               = 30 * time.Second
	DefaultRequestsPerSecond     = 10
	DefaultBurst                 = 20
	DefaultMaxInFlightPerCompany = 10
	DefaultPageSize              = 100
	DefaultUserAgentVersion      = "dev"

	// maxPageSize is Codat's documented maximum for the pageSize query parameter.
	maxPageSize = 5000
	// maxPages stops a list whose server keeps returning a next link.
	maxPages = 1000

	maxSuccessBody = 16 << 20
	maxErrorBody   = 64 << 10
	maxSnippet     = 200
)

// APIKey is a Codat API key: the bare key (sent Base64-encoded) or a whole header value that already
// starts with "Basic ". It prints as "[redacted]" with fmt, slog and encoding/json.
type APIKey string

func (APIKey) String() string   { return "[redacted]" }
func (APIKey) GoString() string { return "[redacted]" }

// MarshalText keeps the key out of JSON and text logs.
func (APIKey) MarshalText() ([]byte, error) { return []byte("[redacted]"), nil }

// authorization is the Authorization header value for the key.
func (k APIKey) authorization() string {
	v := strings.TrimSpace(string(k))
	if strings.HasPrefix(v, "Basic ") {
		return v
	}
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(v))
}

// secrets are the strings derived from the key that must never be shown.
func (k APIKey) secrets() []string {
	v := strings.TrimSpace(string(k))
	return []string{string(k), v, base64.StdEncoding.EncodeToString([]byte(v)), k.authorization()}
}

// Options configure a Client. Zero values take the defaults.
type Options struct {
	BaseURL               string        // default "https://api.codat.io"
	Timeout               time.Duration // per request, default 30s
	RequestsPerSecond     float64       // shared limiter, default 10
	Burst                 int           // default 20
	MaxInFlightPerCompany int           // default 10
	PageSize              int           // list page size, default 100
	UserAgentVersion      string        // default "dev"
	HTTPClient            *http.Client  // optional; Timeout still applies per request via context
}

// Client talks to Codat. It is safe for concurrent use; share one per process so that the rate
// limit and the per-company cap hold across all callers.
type Client struct {
	baseURL       *url.URL
	httpClient    *http.Client
	timeout       time.Duration
	limiter       *rate.Limiter
	maxPerCompany int
	pageSize      int
	userAgent     string

	mu        sync.Mutex
	companies map[string]*companySlot
}

type companySlot struct {
	sem  chan struct{}
	refs int
}

// New returns a Client with the options' defaults filled in.
func New(o Options) (*Client, error) {
	if o.BaseURL == "" {
		o.BaseURL = DefaultBaseURL
	}
	base, err := url.Parse(strings.TrimRight(o.BaseURL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("codatclient: base URL %q must be an absolute http(s) URL", o.BaseURL)
	}
	if base.User != nil {
		return nil, errors.New("codatclient: base URL must not contain credentials")
	}
	base.RawQuery, base.Fragment = "", ""
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.RequestsPerSecond <= 0 {
		o.RequestsPerSecond = DefaultRequestsPerSecond
	}
	if o.Burst <= 0 {
		o.Burst = DefaultBurst
	}
	if o.MaxInFlightPerCompany <= 0 {
		o.MaxInFlightPerCompany = DefaultMaxInFlightPerCompany
	}
	if o.PageSize <= 0 {
		o.PageSize = DefaultPageSize
	}
	if o.PageSize > maxPageSize {
		return nil, fmt.Errorf("codatclient: page size %d is above Codat's maximum of %d", o.PageSize, maxPageSize)
	}
	if o.UserAgentVersion == "" {
		o.UserAgentVersion = DefaultUserAgentVersion
	}
	hc := o.HTTPClient
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		// Keep enough idle connections for the per-company concurrency Codat allows.
		tr.MaxIdleConnsPerHost = 2 * o.MaxInFlightPerCompany
		hc = &http.Client{Transport: tr}
	}
	return &Client{
		baseURL:       base,
		httpClient:    hc,
		timeout:       o.Timeout,
		limiter:       rate.NewLimiter(rate.Limit(o.RequestsPerSecond), o.Burst),
		maxPerCompany: o.MaxInFlightPerCompany,
		pageSize:      o.PageSize,
		userAgent:     "codat-operator/" + o.UserAgentVersion,
		companies:     map[string]*companySlot{},
	}, nil
}

// CreateConnection creates a connection for the platform (POST /companies/{companyId}/connections).
// It is never retried: every POST makes a new connection in Codat.
func (c *Client) CreateConnection(ctx context.Context, key APIKey, companyID, platformKey string) (*Connection, error) {
	if err := requireIDs(OpCreateConnection, companyID, "-", platformKey); err != nil {
		return nil, err
	}
	body, err := json.Marshal(map[string]string{"platformKey": platformKey})
	if err != nil {
		return nil, err
	}
	var conn Connection
	err = c.do(ctx, key, request{
		op: OpCreateConnection, method: http.MethodPost, companyID: companyID,
		url: c.endpoint(connectionsPath(companyID), nil), body: body,
	}, &conn)
	if err != nil {
		return nil, err
	}
	return normalize(&conn), nil
}

// GetConnection reads one connection (GET /companies/{companyId}/connections/{connectionId}).
func (c *Client) GetConnection(ctx context.Context, key APIKey, companyID, connectionID string) (*Connection, error) {
	if err := requireIDs(OpGetConnection, companyID, connectionID, "-"); err != nil {
		return nil, err
	}
	var conn Connection
	err := c.do(ctx, key, request{
		op: OpGetConnection, method: http.MethodGet, companyID: companyID,
		url: c.endpoint(connectionPath(companyID, connectionID), nil),
	}, &conn)
	if err != nil {
		return nil, err
	}
	return normalize(&conn), nil
}

// ListConnections returns all of a company's connections, following the pages to the end
// (GET /companies/{companyId}/connections). A connection seen on two pages is returned once.
func (c *Client) ListConnections(ctx context.Context, key APIKey, companyID string) ([]Connection, error) {
	if err := requireIDs(OpListConnections, companyID, "-", "-"); err != nil {
		return nil, err
	}
	next := c.endpoint(connectionsPath(companyID), url.Values{
		"page": {"1"}, "pageSize": {strconv.Itoa(c.pageSize)},
	})
	all := []Connection{}
	seen := map[string]bool{}
	for range maxPages {
		var page connectionsPage
		err := c.do(ctx, key, request{
			op: OpListConnections, method: http.MethodGet, companyID: companyID, url: next,
		}, &page)
		if err != nil {
			return nil, err
		}
		for i := range page.Results {
			if seen[page.Results[i].ID] {
				continue
			}
			seen[page.Results[i].ID] = true
			all = append(all, *normalize(&page.Results[i]))
		}
		switch {
		case page.Links.Next != nil && page.Links.Next.Href != "":
			if next, err = c.resolveHref(page.Links.Next.Href); err != nil {
				return nil, &Error{Operation: OpListConnections, Message: err.Error()}
			}
		case len(page.Results) > 0 && page.PageNumber > 0 && page.PageSize > 0 &&
			page.PageNumber*page.PageSize < page.TotalResults:
			// No next link but more results: fall back to page numbers.
			next = c.endpoint(connectionsPath(companyID), url.Values{
				"page": {strconv.Itoa(page.PageNumber + 1)}, "pageSize": {strconv.Itoa(page.PageSize)},
			})
		default:
			return all, nil
		}
	}
	return nil, &Error{Operation: OpListConnections, Message: fmt.Sprintf("more than %d pages; giving up", maxPages)}
}

// UnlinkConnection sets a Linked connection to Unlinked (PATCH with {"status":"Unlinked"}).
//
// It is not retried after a connection error: if the first PATCH did land, a second one would fail
// because the connection is no longer Linked; the caller should GET the connection instead.
func (c *Client) UnlinkConnection(ctx context.Context, key APIKey, companyID, connectionID string) (*Connection, error) {
	if err := requireIDs(OpUnlinkConnection, companyID, connectionID, "-"); err != nil {
		return nil, err
	}
	var conn Connection
	err := c.do(ctx, key, request{
		op: OpUnlinkConnection, method: http.MethodPatch, companyID: companyID,
		url:  c.endpoint(connectionPath(companyID, connectionID), nil),
		body: []byte(`{"status":"Unlinked"}`),
	}, &conn)
	if err != nil {
		return nil, err
	}
	return normalize(&conn), nil
}

// UpdateAuthorization replaces the connection's authorization
// (PUT /companies/{companyId}/connections/{connectionId}/authorization). The body's values are
// secrets: they never appear in errors.
func (c *Client) UpdateAuthorization(ctx context.Context, key APIKey, companyID, connectionID string, body map[string]string) (*Connection, error) {
	if err := requireIDs(OpUpdateConnectionAuthorization, companyID, connectionID, "-"); err != nil {
		return nil, err
	}
	if body == nil {
		body = map[string]string{}
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	secrets := make([]string, 0, len(body))
	for _, v := range body {
		secrets = append(secrets, v)
	}
	var conn Connection
	err = c.do(ctx, key, request{
		op: OpUpdateConnectionAuthorization, method: http.MethodPut, companyID: companyID,
		url:  c.endpoint(connectionPath(companyID, connectionID)+"/authorization", nil),
		body: raw, secrets: secrets,
	}, &conn)
	if err != nil {
		return nil, err
	}
	return normalize(&conn), nil
}

// DeleteConnection deletes the connection (DELETE /companies/{companyId}/connections/{connectionId}).
// A connection that is already gone gives an error for which IsNotFound is true.
func (c *Client) DeleteConnection(ctx context.Context, key APIKey, companyID, connectionID string) error {
	if err := requireIDs(OpDeleteConnection, companyID, connectionID, "-"); err != nil {
		return err
	}
	return c.do(ctx, key, request{
		op: OpDeleteConnection, method: http.MethodDelete, companyID: companyID,
		url: c.endpoint(connectionPath(companyID, connectionID), nil),
	}, nil)
}

func requireIDs(op, companyID, connectionID, platformKey string) error {
	switch {
	case companyID == "":
		return &Error{Operation: op, Message: "company id is empty"}
	case connectionID == "":
		return &Error{Operation: op, Message: "connection id is empty"}
	case platformKey == "":
		return &Error{Operation: op, Message: "platform key is empty"}
	}
	return nil
}

func connectionsPath(companyID string) string {
	return "/companies/" + url.PathEscape(companyID) + "/connections"
}

func connectionPath(companyID, connectionID string) string {
	return connectionsPath(companyID) + "/" + url.PathEscape(connectionID)
}

// endpoint joins the base URL (which may have a path prefix) with a path and query.
func (c *Client) endpoint(path string, q url.Values) string {
	s := c.baseURL.String() + path
	if len(q) > 0 {
		s += "?" + q.Encode()
	}
	return s
}

// resolveHref turns a paging link into a URL. Codat's links are relative to the API root; an
// absolute link is followed only to the configured host, so the API key never goes elsewhere.
func (c *Client) resolveHref(href string) (string, error) {
	u, err := url.Parse(href)
	if err != nil {
		return "", fmt.Errorf("invalid next link: %w", err)
	}
	if !u.IsAbs() {
		if !strings.HasPrefix(href, "/") {
			href = "/" + href
		}
		if p := c.baseURL.Path; p != "" && strings.HasPrefix(href, p+"/") {
			href = strings.TrimPrefix(href, p)
		}
		return c.baseURL.String() + href, nil
	}
	if u.Scheme != c.baseURL.Scheme || u.Host != c.baseURL.Host {
		return "", fmt.Errorf("next link points to another host (%s)", u.Host)
	}
	return u.String(), nil
}

// normalize maps a JSON null connectionInfo to nil.
func normalize(conn *Connection) *Connection {
	if string(bytes.TrimSpace(conn.ConnectionInfo)) == "null" {
		conn.ConnectionInfo = nil
	}
	return conn
}

type request struct {
	op        string
	method    string
	url       string
	companyID string
	body      []byte
	secrets   []string // request-specific values to keep out of errors
}

// idempotent methods may be retried once, immediately, after a connection error.
func idempotent(method string) bool {
	return method == http.MethodGet || method == http.MethodPut || method == http.MethodDelete
}

// do sends one request (plus at most one retry, see idempotent) and decodes a 2xx body into out.
func (c *Client) do(ctx context.Context, key APIKey, r request, out any) error {
	secrets := append(key.secrets(), r.secrets...)
	release, err := c.acquire(ctx, r.companyID)
	if err != nil {
		return &Error{Operation: r.op, Err: err}
	}
	defer release()

	for attempt := 0; ; attempt++ {
		if err := c.limiter.Wait(ctx); err != nil {
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			return &Error{Operation: r.op, Err: fmt.Errorf("waiting for the client-side rate limit: %w", err)}
		}
		status, header, body, err := c.send(ctx, key, r)
		if err != nil {
			if attempt == 0 && idempotent(r.method) && ctx.Err() == nil && isConnectionError(err) {
				continue
			}
			return &Error{Operation: r.op, Err: scrubError(err, secrets)}
		}
		if status < 200 || status > 299 {
			return httpError(r.op, status, header, body, secrets)
		}
		if out == nil || len(bytes.TrimSpace(body)) == 0 {
			if out != nil {
				return &Error{Operation: r.op, StatusCode: status, Message: "empty response body"}
			}
			return nil
		}
		if err := json.Unmarshal(body, out); err != nil {
			return &Error{Operation: r.op, StatusCode: status,
				Message: scrub("decoding response: "+err.Error(), secrets)}
		}
		return nil
	}
}

// send performs one HTTP exchange under the per-request timeout and records metrics.
func (c *Client) send(ctx context.Context, key APIKey, r request) (int, http.Header, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, r.url, body)
	if err != nil {
		return 0, nil, nil, err
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
		observe(r.op, "error", time.Since(start))
		return 0, nil, nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	limit := int64(maxSuccessBody)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		limit = maxErrorBody
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	observe(r.op, strconv.Itoa(resp.StatusCode), time.Since(start))
	observeRateLimitRemaining(resp.Header.Get("X-Rate-Limit-Remaining"))
	if err != nil && resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return 0, nil, nil, fmt.Errorf("reading response body: %w", err)
	}
	return resp.StatusCode, resp.Header, data, nil
}

// isConnectionError reports a failure to talk to the server that is not a timeout: worth one
// immediate retry for an idempotent request.
func isConnectionError(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	var ue *url.Error
	return errors.As(err, &ue) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

func httpError(op string, status int, header http.Header, body []byte, secrets []string) *Error {
	e := &Error{Operation: op, StatusCode: status}
	if d, ok := parseRetryAfter(header.Get("Retry-After"), time.Now()); ok {
		e.RetryAfter, e.retryAfterSet = d, true
	}
	trimmed := bytes.TrimSpace(body)
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

// snippet is a short, single-line excerpt of a body for an error message.
func snippet(b []byte) string {
	s := strings.ToValidUTF8(string(b), "?")
	s = strings.Join(strings.FieldsFunc(s, unicode.IsSpace), " ")
	if utf8.RuneCountInString(s) > maxSnippet {
		s = string([]rune(s)[:maxSnippet]) + "..."
	}
	return s
}

// scrub removes secrets a server might echo back.
func scrub(s string, secrets []string) string {
	for _, sec := range secrets {
		if len(sec) >= 4 && strings.Contains(s, sec) {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return s
}

// scrubbedError keeps the cause for errors.Is/As but prints a scrubbed text.
type scrubbedError struct {
	msg   string
	cause error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.cause }

func scrubError(err error, secrets []string) error {
	return &scrubbedError{msg: scrub(err.Error(), secrets), cause: err}
}

// acquire takes one of the company's in-flight slots.
func (c *Client) acquire(ctx context.Context, companyID string) (func(), error) {
	c.mu.Lock()
	slot := c.companies[companyID]
	if slot == nil {
		slot = &companySlot{sem: make(chan struct{}, c.maxPerCompany)}
		c.companies[companyID] = slot
	}
	slot.refs++
	c.mu.Unlock()

	done := func() {
		c.mu.Lock()
		slot.refs--
		if slot.refs == 0 {
			delete(c.companies, companyID)
		}
		c.mu.Unlock()
	}
	select {
	case slot.sem <- struct{}{}:
		return func() { <-slot.sem; done() }, nil
	case <-ctx.Done():
		done()
		return nil, ctx.Err()
	}
}
