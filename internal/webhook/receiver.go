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

func (h *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	if h.Now != nil {
		now = h.Now()
	}
	eventType := "unknown"
	reject := func(status int, why string) {
		h.Metrics.event(eventType, resultRejected)
		h.Log.V(1).Info("webhook rejected", "status", status, "reason", why)
		http.Error(w, why, status)
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		reject(http.StatusMethodNotAllowed, "only POST")
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		reject(http.StatusUnsupportedMediaType, "only application/json")
		return
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		reject(http.StatusRequestEntityTooLarge, "body too large")
		return
	case err != nil:
		reject(http.StatusBadRequest, "could not read the body")
		return
	}
	switch err := h.Secrets.Verify(raw, r.Header); {
	case errors.Is(err, errNoSecrets):
		// Not configured yet: Codat retries, and the safety-net poll covers the meantime.
		reject(http.StatusServiceUnavailable, "no signing secret loaded")
		return
	case err != nil:
		reject(http.StatusUnauthorized, "signature not valid")
		return
	}

	var b body
	if err := json.Unmarshal(raw, &b); err != nil || b.ID == "" || b.EventType == "" {
		reject(http.StatusBadRequest, "not a Codat webhook")
		return
	}
	eventType = metricEventType(b.EventType)
	switch {
	case strings.HasPrefix(b.EventType, "connection."):
		c := b.Payload.Connection
		if c == nil || c.ID == "" || b.Payload.ReferenceCompany.ID == "" {
			reject(http.StatusBadRequest, "not a ConnectionWebhook: no payload.connection.id or payload.referenceCompany.id")
			return
		}
	case strings.HasPrefix(b.EventType, "client.rateLimit."):
		if b.Payload.DailyQuota == nil || b.Payload.QuotaRemaining == nil {
			reject(http.StatusBadRequest, "not a ClientRateLimitWebhook: no payload.dailyQuota or payload.quotaRemaining")
			return
		}
	}
	if !h.Sink.Ready() {
		// A replica that is not the leader, or one still starting: Codat retries.
		h.Metrics.event(eventType, resultIgnored)
		http.Error(w, "not ready", http.StatusServiceUnavailable)
		return
	}
	if !h.seen.add(b.ID) {
		h.Metrics.event(eventType, resultIgnored)
		h.Log.V(1).Info("webhook already received", "id", b.ID, "type", b.EventType)
		w.WriteHeader(http.StatusOK)
		return
	}

	result := resultIgnored
	switch b.EventType {
	case codatapi.EventConnectionCreated, codatapi.EventConnectionConnected, codatapi.EventConnectionFailed, codatapi.EventConnectionDisconnected,
		codatapi.EventConnectionReconnected, codatapi.EventConnectionDeleted:
		c := b.Payload.Connection
		if h.Sink.Connection(ConnectionEvent{ID: b.ID, Type: b.EventType, CompanyID: b.Payload.ReferenceCompany.ID,
			ConnectionID: c.ID, Status: c.Status, Received: now}) > 0 {
			result = resultAccepted
		}
	case codatapi.EventRateLimitReached, codatapi.EventRateLimitReset:
		expiry, _ := codatclient.ParseTime(b.Payload.ExpiryDate)
		h.Sink.RateLimit(RateLimitEvent{ID: b.ID, Type: b.EventType, DailyQuota: *b.Payload.DailyQuota,
			Remaining: *b.Payload.QuotaRemaining, Expiry: expiry, Received: now})
		result = resultAccepted
	}
	h.Metrics.event(eventType, result)
	if result == resultIgnored {
		h.Log.V(1).Info("webhook concerns no object", "id", b.ID, "type", b.EventType)
	}
	w.WriteHeader(http.StatusOK)
}

// metricEventType keeps the label's values bounded: Codat's types are known, anything else is "other".
func metricEventType(t string) string {
	if slices.Contains(codatapi.Events, t) {
		return t
	}
	return "other"
}
