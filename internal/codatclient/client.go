// Package codatclient is a small client for Codat's company and connection API (the six operations
// under /companies and /companies/{companyId}, and the six under
// /companies/{companyId}/connections, of the Platform API).
//
// It is bounded on purpose: every request has a timeout, there is no retry loop (at most one
// immediate retry of an idempotent request after a network error), all callers share one
// client-side rate limit, and at most MaxInFlightPerCompany requests per company are in flight,
// as Codat asks (list-companies and create-company name no company and count only against the rate
// limit). Retrying with backoff is the caller's job (the reconciler requeues); ClassOf
// tells the caller whether a failure is worth retrying.
package codatclient

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/time/rate"
)

// Defaults for Options.
const (
	DefaultBaseURL               = "https://api.codat.io"
	DefaultTimeout               = 30 * time.Second
	DefaultRequestsPerSecond     = 15
	DefaultBurst                 = 20
	DefaultMaxInFlightPerCompany = 10
	DefaultPageSize              = 100
	DefaultUserAgentVersion      = "dev"

	// maxPageSize is Codat's documented maximum for the pageSize query parameter.
	maxPageSize = 5000

	// MaxRequestsPerMinute is Codat's hard limit per IP address: past it, Codat may block the
	// address without warning.
	MaxRequestsPerMinute = 1000
	// CeilingPerMinute is the most the client ever sends in a minute (its rate for 60 seconds plus
	// its burst), whatever the options say: Codat's limit less a margin for clocks and windows.
	CeilingPerMinute = 950
)

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
	// Metrics records requests and Codat's rate-limit headers; nil records nothing.
	Metrics *Metrics
	// OnRateLimit, if set, is called with the rate-limit headers of every answer that has them.
	OnRateLimit func(RateLimit)
}

// Client talks to Codat. It is safe for concurrent use; share one per process so that the rate
// limit and the per-company cap hold across all callers.
type Client struct {
	baseURL    *url.URL
	httpClient *http.Client
	// adjusted says how the options' rate and burst were brought under CeilingPerMinute.
	adjusted    string
	timeout     time.Duration
	limiter     *rate.Limiter
	companies   *companyLimiter
	pageSize    int
	userAgent   string
	metrics     *Metrics
	onRateLimit func(RateLimit)
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
	adjusted := ""
	if perMinute := o.RequestsPerSecond*60 + float64(o.Burst); perMinute > CeilingPerMinute {
		asked := fmt.Sprintf("%g requests a second with a burst of %d (up to %.0f in a minute)", o.RequestsPerSecond, o.Burst, perMinute)
		o.Burst = min(o.Burst, DefaultBurst)
		o.RequestsPerSecond = math.Min(o.RequestsPerSecond, float64(CeilingPerMinute-o.Burst)/60)
		adjusted = fmt.Sprintf("%s would pass Codat's limit of %d requests a minute per IP address, past which Codat may block it; using %.2f a second with a burst of %d",
			asked, MaxRequestsPerMinute, o.RequestsPerSecond, o.Burst)
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
		baseURL:     base,
		httpClient:  hc,
		adjusted:    adjusted,
		timeout:     o.Timeout,
		limiter:     rate.NewLimiter(rate.Limit(o.RequestsPerSecond), o.Burst),
		companies:   newCompanyLimiter(o.MaxInFlightPerCompany),
		pageSize:    o.PageSize,
		userAgent:   "codat-operator/" + o.UserAgentVersion,
		metrics:     o.Metrics,
		onRateLimit: o.OnRateLimit,
	}, nil
}

// Adjusted says how the options' rate and burst were lowered to stay under Codat's per-IP limit;
// empty when they were not.
func (c *Client) Adjusted() string { return c.adjusted }

// Limits are the client's rate (requests a second) and burst in force.
func (c *Client) Limits() (perSecond float64, burst int) {
	return float64(c.limiter.Limit()), c.limiter.Burst()
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
