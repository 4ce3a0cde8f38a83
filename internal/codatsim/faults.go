package codatsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Faults are failures the simulator injects into Codat API requests (not into /link or /_sim).
// Random faults come from a generator seeded with Options.Seed, so the same seed and the same
// sequence of requests give the same faults.
type Faults struct {
	// Latency delays every API request before it is handled.
	Latency time.Duration
	// ErrorRate is the probability (0..1) that a request of an operation fails with ErrorStatus.
	// The key is an operationId, or "*" for every operation.
	ErrorRate map[string]float64
	// ErrorStatus is the status of injected errors: 500 (default) or 503.
	ErrorStatus int
	// RateLimitRate is the probability (0..1) of a 429 on any API request.
	RateLimitRate float64
	// RateLimitNext makes the next N API requests fail with 429.
	RateLimitNext int
	// RetryAfter is the Retry-After of injected 429 and 503 responses, in whole seconds (default 1s).
	RetryAfter time.Duration
	// Quota, when > 0, lets only that many API requests through in each QuotaWindow; after that
	// every request gets 429 with Retry-After until the window ends, ResetQuota is called or the
	// faults are set again. X-Rate-Limit-* headers report this quota.
	Quota int
	// QuotaWindow is the length of a quota period (default 1m).
	QuotaWindow time.Duration
	// QuotaUsed counts that many requests of the period that setting the faults starts as already
	// made by another application of the account, as when the user's own application spent them
	// before the operator's next request. It needs Quota.
	QuotaUsed int
	// LoseCreateResponseNext makes the next N create-connection requests commit the connection and then close the
	// TCP connection without a response: the case that causes duplicates in a careless client.
	LoseCreateResponseNext int
	// LoseCreateResponseRate is the probability (0..1) that a create loses its response that way.
	LoseCreateResponseRate float64
	// LoseCreateCompanyResponseNext does the same to the next N create-company requests: the
	// company is made, the answer never comes.
	LoseCreateCompanyResponseNext int
	// LoseCreateCompanyResponseRate is the probability (0..1) that a create-company loses its
	// response that way.
	LoseCreateCompanyResponseRate float64
	// BadResponseNext makes the next N successful API answers 200s whose body is not what Codat
	// documents (see BadResponseBody); the operation still takes effect, as when a proxy mangles
	// an answer. A create answered that way has made its connection.
	BadResponseNext int
	// BadResponseRate is the probability (0..1) of that for any successful answer.
	BadResponseRate float64
	// BadResponseBody is what such an answer carries: "truncated" (default), "empty" or "html".
	BadResponseBody string

	// WebhookDropNext drops the next N webhook deliveries: the consumer never hears of them.
	WebhookDropNext int
	// WebhookDropRate drops each delivery with this probability (0..1).
	WebhookDropRate float64
	// WebhookDuplicateRate delivers each event twice with this probability (0..1).
	WebhookDuplicateRate float64
	// WebhookMaxDelay delays each delivery by a random time up to this, so events can arrive
	// out of order.
	WebhookMaxDelay time.Duration
	// WebhookBadSignatureNext signs the next N deliveries with a wrong key.
	WebhookBadSignatureNext int
	// WebhookBadSignatureRate signs each delivery with a wrong key with this probability (0..1).
	WebhookBadSignatureRate float64
}

type faultsJSON struct {
	Latency                 string             `json:"latency,omitempty"`
	ErrorRate               map[string]float64 `json:"errorRate,omitempty"`
	ErrorStatus             int                `json:"errorStatus,omitempty"`
	RateLimitRate           float64            `json:"rateLimitRate,omitempty"`
	RateLimitNext           int                `json:"rateLimitNext,omitempty"`
	RetryAfter              string             `json:"retryAfter,omitempty"`
	Quota                   int                `json:"quota,omitempty"`
	QuotaWindow             string             `json:"quotaWindow,omitempty"`
	QuotaUsed               int                `json:"quotaUsed,omitempty"`
	LoseCreateResponseNext  int                `json:"loseCreateResponseNext,omitempty"`
	LoseCreateResponseRate  float64            `json:"loseCreateResponseRate,omitempty"`
	LoseCreateCompanyNext   int                `json:"loseCreateCompanyResponseNext,omitempty"`
	LoseCreateCompanyRate   float64            `json:"loseCreateCompanyResponseRate,omitempty"`
	BadResponseNext         int                `json:"badResponseNext,omitempty"`
	BadResponseRate         float64            `json:"badResponseRate,omitempty"`
	BadResponseBody         string             `json:"badResponseBody,omitempty"`
	WebhookDropNext         int                `json:"webhookDropNext,omitempty"`
	WebhookDropRate         float64            `json:"webhookDropRate,omitempty"`
	WebhookDuplicateRate    float64            `json:"webhookDuplicateRate,omitempty"`
	WebhookMaxDelay         string             `json:"webhookMaxDelay,omitempty"`
	WebhookBadSignatureNext int                `json:"webhookBadSignatureNext,omitempty"`
	WebhookBadSignatureRate float64            `json:"webhookBadSignatureRate,omitempty"`
}

func durationString(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

// MarshalJSON writes durations as Go duration strings ("250ms").
func (f Faults) MarshalJSON() ([]byte, error) {
	return json.Marshal(faultsJSON{
		Latency: durationString(f.Latency), ErrorRate: f.ErrorRate, ErrorStatus: f.ErrorStatus,
		RateLimitRate: f.RateLimitRate, RateLimitNext: f.RateLimitNext,
		RetryAfter: durationString(f.RetryAfter), Quota: f.Quota, QuotaWindow: durationString(f.QuotaWindow), QuotaUsed: f.QuotaUsed,
		LoseCreateResponseNext: f.LoseCreateResponseNext, LoseCreateResponseRate: f.LoseCreateResponseRate,
		LoseCreateCompanyNext: f.LoseCreateCompanyResponseNext, LoseCreateCompanyRate: f.LoseCreateCompanyResponseRate,
		BadResponseNext: f.BadResponseNext, BadResponseRate: f.BadResponseRate, BadResponseBody: f.BadResponseBody,
		WebhookDropNext: f.WebhookDropNext, WebhookDropRate: f.WebhookDropRate, WebhookDuplicateRate: f.WebhookDuplicateRate,
		WebhookMaxDelay: durationString(f.WebhookMaxDelay), WebhookBadSignatureNext: f.WebhookBadSignatureNext,
		WebhookBadSignatureRate: f.WebhookBadSignatureRate,
	})
}

// UnmarshalJSON reads durations as Go duration strings ("250ms", "2s").
func (f *Faults) UnmarshalJSON(b []byte) error {
	var j faultsJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields() // a misspelt fault must not be silently ignored
	if err := dec.Decode(&j); err != nil {
		return err
	}
	out := Faults{
		ErrorRate: j.ErrorRate, ErrorStatus: j.ErrorStatus, RateLimitRate: j.RateLimitRate,
		RateLimitNext: j.RateLimitNext, Quota: j.Quota, QuotaUsed: j.QuotaUsed,
		LoseCreateResponseNext: j.LoseCreateResponseNext, LoseCreateResponseRate: j.LoseCreateResponseRate,
		LoseCreateCompanyResponseNext: j.LoseCreateCompanyNext, LoseCreateCompanyResponseRate: j.LoseCreateCompanyRate,
		BadResponseNext: j.BadResponseNext, BadResponseRate: j.BadResponseRate, BadResponseBody: j.BadResponseBody,
		WebhookDropNext: j.WebhookDropNext, WebhookDropRate: j.WebhookDropRate, WebhookDuplicateRate: j.WebhookDuplicateRate,
		WebhookBadSignatureNext: j.WebhookBadSignatureNext, WebhookBadSignatureRate: j.WebhookBadSignatureRate,
	}
	for _, d := range []struct {
		name string
		in   string
		out  *time.Duration
	}{{"latency", j.Latency, &out.Latency}, {"retryAfter", j.RetryAfter, &out.RetryAfter}, {"quotaWindow", j.QuotaWindow, &out.QuotaWindow},
		{"webhookMaxDelay", j.WebhookMaxDelay, &out.WebhookMaxDelay}} {
		if d.in == "" {
			continue
		}
		v, err := time.ParseDuration(d.in)
		if err != nil {
			return fmt.Errorf("%s: %w", d.name, err)
		}
		*d.out = v
	}
	*f = out
	return nil
}

func (f Faults) validate() error {
	rates := map[string]float64{"rateLimitRate": f.RateLimitRate, "loseCreateResponseRate": f.LoseCreateResponseRate,
		"loseCreateCompanyResponseRate": f.LoseCreateCompanyResponseRate,
		"badResponseRate":               f.BadResponseRate, "webhookDropRate": f.WebhookDropRate, "webhookDuplicateRate": f.WebhookDuplicateRate,
		"webhookBadSignatureRate": f.WebhookBadSignatureRate}
	for op, r := range f.ErrorRate {
		if op != "*" && !isOperation(op) {
			return fmt.Errorf("errorRate: unknown operation %q", op)
		}
		rates["errorRate["+op+"]"] = r
	}
	for name, r := range rates {
		if r < 0 || r > 1 {
			return fmt.Errorf("%s must be between 0 and 1", name)
		}
	}
	if f.ErrorStatus != 0 && (f.ErrorStatus < 400 || f.ErrorStatus > 599) {
		return fmt.Errorf("errorStatus %d is not an HTTP error status", f.ErrorStatus)
	}
	if f.QuotaUsed > 0 && f.Quota == 0 {
		return fmt.Errorf("quotaUsed needs quota")
	}
	if f.QuotaUsed > f.Quota {
		return fmt.Errorf("quotaUsed %d is more than the quota of %d", f.QuotaUsed, f.Quota)
	}
	if f.Latency < 0 || f.RetryAfter < 0 || f.QuotaWindow < 0 || f.Quota < 0 || f.QuotaUsed < 0 || f.RateLimitNext < 0 ||
		f.LoseCreateResponseNext < 0 || f.LoseCreateCompanyResponseNext < 0 || f.BadResponseNext < 0 || f.WebhookDropNext < 0 || f.WebhookMaxDelay < 0 ||
		f.WebhookBadSignatureNext < 0 {
		return fmt.Errorf("faults must not be negative")
	}
	if _, ok := badBodies[f.BadResponseBody]; !ok && f.BadResponseBody != "" {
		return fmt.Errorf("badResponseBody %q must be truncated, empty or html", f.BadResponseBody)
	}
	return nil
}

func (f Faults) withDefaults() Faults {
	if f.ErrorStatus == 0 {
		f.ErrorStatus = 500
	}
	if f.RetryAfter <= 0 {
		f.RetryAfter = time.Second
	}
	if f.QuotaWindow <= 0 {
		f.QuotaWindow = time.Minute
	}
	return f
}

// Fault names as recorded in Request.Fault.
const (
	FaultRateLimit    = "rate-limit"
	FaultQuota        = "quota"
	FaultError        = "error"
	FaultLostResponse = "lost-response"
	FaultCompany      = "company" // FailCompany
	FaultBadResponse  = "bad-response"
)

// Bodies of bad 200 answers (Faults.BadResponseBody, GarbleCompany).
const (
	BadBodyTruncated = "truncated"
	BadBodyEmpty     = "empty"
	BadBodyHTML      = "html"
)

// badBodies turn a good body into a bad one of each kind.
var badBodies = map[string]func([]byte) []byte{
	BadBodyTruncated: func(b []byte) []byte { return b[:len(b)/2] },
	BadBodyEmpty:     func([]byte) []byte { return nil },
	BadBodyHTML: func([]byte) []byte {
		return []byte("<!doctype html><title>Service Unavailable</title><p>The upstream answered with an error page.</p>")
	},
}

// draw is the random input for one API request. Every API request draws the same numbers whatever
// faults are set, so the fault sequence depends only on the seed and the request order.
type draw struct{ rateLimit, errorRate, loseCreate, badResponse float64 }
