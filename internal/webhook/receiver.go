// Package webhook receives Codat's signed webhooks (Standard Webhooks, as Codat's consumers are
// signed) and hands the verified connection.* and client.rateLimit.* events to a Sink. The handler
// only verifies, decodes and hands over: no Codat call is made while Codat waits for the answer.
package webhook

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-logr/logr"

	"github.com/codat-operator/codat-operator/internal/codatapi"
	"github.com/codat-operator/codat-operator/internal/codatclient"
)

// Path is where the receiver takes Codat's deliveries.
const Path = "/webhooks/codat"

// MaxBody bounds a delivery: a connection event is a few kilobytes.
const MaxBody = 1 << 20

// The receiver acts on the event types of codatapi; any other verified event is acknowledged and
// ignored.

// ConnectionEvent is a verified connection.* event: which connection changed, and what Codat
// said it became.
type ConnectionEvent struct {
	ID, Type             string
	CompanyID            string
	ConnectionID, Status string
	// Received is when the receiver got it, for the event-to-reconcile latency.
	Received time.Time
}

// CompanyEvent is a verified company.* event: which company was created or deleted.
type CompanyEvent struct {
	ID, Type, CompanyID string
	Received            time.Time
}

// RateLimitEvent is a verified client.rateLimit.* event.
type RateLimitEvent struct {
	ID, Type              string
	DailyQuota, Remaining int
	// Expiry is when the daily quota resets; zero when Codat's date could not be read.
	Expiry   time.Time
	Received time.Time
}

// Sink takes verified events. Its methods must not block: Codat gives a delivery 15 seconds.
type Sink interface {
	// Ready says whether events can be acted on now (the controller runs on this replica).
	Ready() bool
	// Connection hands over a connection event; it returns how many objects it concerns.
	Connection(ConnectionEvent) int
	// Company hands over a company event; it returns how many objects it concerns.
	Company(CompanyEvent) int
	RateLimit(RateLimitEvent)
}

// Receiver is the http.Handler of Path.
type Receiver struct {
	Secrets *Secrets
	Sink    Sink
	Metrics *Metrics
	Log     logr.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time

	seen recentIDs
}

// body is what the receiver reads of a delivery: the shape shared by Codat's ConnectionWebhook and
// ClientRateLimitWebhook.
type body struct {
	ID        string `json:"id"`
	EventType string `json:"eventType"`
	Payload   struct {
		// ID is the company of a company.* event.
		ID               string `json:"id"`
		ReferenceCompany struct {
			ID string `json:"id"`
		} `json:"referenceCompany"`
		Connection *struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"connection"`
		DailyQuota     *int   `json:"dailyQuota"`
		QuotaRemaining *int   `json:"quotaRemaining"`
		ExpiryDate     string `json:"expiryDate"`
	} `json:"payload"`
}

// Results of a delivery, as counted by codat_webhook_events_total.
const (
	resultAccepted = "accepted"
	resultIgnored  = "ignored"
	resultRejected = "rejected"
)

// refusal is a delivery the receiver answers with an error status.
type refusal struct {
	status int
	why    string
}

func (h *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	if h.Now != nil {
		now = h.Now()
	}
	b, refused := h.read(w, r)
	if refused != nil {
		eventType := "unknown"
		if b != nil {
			eventType = metricEventType(b.EventType)
		}
		h.Metrics.event(eventType, resultRejected)
		h.Log.V(1).Info("webhook rejected", "status", refused.status, "reason", refused.why)
		http.Error(w, refused.why, refused.status)
		return
	}
	eventType := metricEventType(b.EventType)
	switch {
	case !h.Sink.Ready():
		// A replica that is not the leader, or one still starting: Codat retries.
		h.Metrics.event(eventType, resultIgnored)
		http.Error(w, "not ready", http.StatusServiceUnavailable)
	case !h.seen.add(b.ID):
		h.Metrics.event(eventType, resultIgnored)
		h.Log.V(1).Info("webhook already received", "id", b.ID, "type", b.EventType)
		w.WriteHeader(http.StatusOK)
	default:
		result := h.handOver(b, now)
		h.Metrics.event(eventType, result)
		if result == resultIgnored {
			h.Log.V(1).Info("webhook concerns no object", "id", b.ID, "type", b.EventType)
		}
		w.WriteHeader(http.StatusOK)
	}
}

// read takes a delivery only as Codat sends one: a signed JSON POST of a known shape. A body that
// decoded is returned with its refusal, for the metric's event type.
func (h *Receiver) read(w http.ResponseWriter, r *http.Request) (*body, *refusal) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return nil, &refusal{http.StatusMethodNotAllowed, "only POST"}
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return nil, &refusal{http.StatusUnsupportedMediaType, "only application/json"}
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, &refusal{http.StatusRequestEntityTooLarge, "body too large"}
	case err != nil:
		return nil, &refusal{http.StatusBadRequest, "could not read the body"}
	}
	switch err := h.Secrets.Verify(raw, r.Header); {
	case errors.Is(err, errNoSecrets):
		// Not configured yet: Codat retries, and the safety-net poll covers the meantime.
		return nil, &refusal{http.StatusServiceUnavailable, "no signing secret loaded"}
	case err != nil:
		return nil, &refusal{http.StatusUnauthorized, "signature not valid"}
	}
	var b body
	if err := json.Unmarshal(raw, &b); err != nil || b.ID == "" || b.EventType == "" {
		return nil, &refusal{http.StatusBadRequest, "not a Codat webhook"}
	}
	if why := b.malformed(); why != "" {
		return &b, &refusal{http.StatusBadRequest, why}
	}
	return &b, nil
}

// malformed says what a connection or rate-limit event lacks, if anything.
func (b *body) malformed() string {
	switch {
	case strings.HasPrefix(b.EventType, "connection."):
		if c := b.Payload.Connection; c == nil || c.ID == "" || b.Payload.ReferenceCompany.ID == "" {
			return "not a ConnectionWebhook: no payload.connection.id or payload.referenceCompany.id"
		}
	case strings.HasPrefix(b.EventType, "client.rateLimit."):
		if b.Payload.DailyQuota == nil || b.Payload.QuotaRemaining == nil {
			return "not a ClientRateLimitWebhook: no payload.dailyQuota or payload.quotaRemaining"
		}
	case strings.HasPrefix(b.EventType, "company."):
		if b.Payload.ID == "" {
			return "not a CompanyWebhook: no payload.id"
		}
	}
	return ""
}

// handOver gives a verified event to the sink, and says whether it concerned anything.
func (h *Receiver) handOver(b *body, now time.Time) string {
	switch b.EventType {
	case codatapi.EventConnectionCreated, codatapi.EventConnectionConnected, codatapi.EventConnectionFailed, codatapi.EventConnectionDisconnected,
		codatapi.EventConnectionReconnected, codatapi.EventConnectionDeleted:
		c := b.Payload.Connection
		if h.Sink.Connection(ConnectionEvent{ID: b.ID, Type: b.EventType, CompanyID: b.Payload.ReferenceCompany.ID,
			ConnectionID: c.ID, Status: c.Status, Received: now}) > 0 {
			return resultAccepted
		}
	case codatapi.EventCompanyCreated, codatapi.EventCompanyDeleted:
		if h.Sink.Company(CompanyEvent{ID: b.ID, Type: b.EventType, CompanyID: b.Payload.ID, Received: now}) > 0 {
			return resultAccepted
		}
	case codatapi.EventRateLimitReached, codatapi.EventRateLimitReset:
		expiry, _ := codatclient.ParseTime(b.Payload.ExpiryDate)
		h.Sink.RateLimit(RateLimitEvent{ID: b.ID, Type: b.EventType, DailyQuota: *b.Payload.DailyQuota,
			Remaining: *b.Payload.QuotaRemaining, Expiry: expiry, Received: now})
		return resultAccepted
	}
	return resultIgnored
}

// metricEventType keeps the label's values bounded: Codat's types are known, anything else is "other".
func metricEventType(t string) string {
	if slices.Contains(codatapi.Events, t) {
		return t
	}
	return "other"
}
