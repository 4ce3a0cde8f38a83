package codatsim

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/codat-operator/codat-operator/internal/codatapi"
)

// webhookSecretPrefix starts a Standard Webhooks signing secret: whsec_ and the Base64 key.
const webhookSecretPrefix = "whsec_"

// webhookRetrySchedule is Codat's: after a failed delivery it tries again at once, then after
// these waits (about 28 hours in all). Options.WebhookRetryScale compresses it for tests.
var webhookRetrySchedule = []time.Duration{0, 5 * time.Second, 5 * time.Minute, 30 * time.Minute,
	2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour}

// webhookTimeout is how long Codat waits for a consumer's 2xx.
const webhookTimeout = 15 * time.Second

// Consumer is a registered webhook endpoint, as Codat's portal or `POST /webhooks` makes one.
type Consumer struct {
	ID  string `json:"id"`
	URL string `json:"url"`
	// Secret is the endpoint's signing secret, "whsec_" and Base64.
	Secret string `json:"secret"`
	// EventTypes the consumer receives; empty: all.
	EventTypes []string `json:"eventTypes,omitempty"`
}

// Delivery is one attempt to deliver an event to a consumer.
type Delivery struct {
	Time       time.Time `json:"time"`
	ConsumerID string    `json:"consumerId"`
	EventID    string    `json:"eventId"`
	EventType  string    `json:"eventType"`
	// CompanyID is the company's, for company and connection events.
	CompanyID string `json:"companyId,omitempty"`
	// ConnectionID and Status are the connection's, for connection events.
	ConnectionID string `json:"connectionId,omitempty"`
	Status       string `json:"status,omitempty"`
	Attempt      int    `json:"attempt"`
	// StatusCode is the consumer's answer; 0 when none came (or the delivery was dropped).
	StatusCode int `json:"statusCode"`
	// Fault names an injected fault: dropped, duplicate, bad-signature.
	Fault string `json:"fault,omitempty"`
}

// ConnectionWebhook is the body of a connection.* event (the spec's ConnectionWebhook).
type ConnectionWebhook struct {
	ID            string                   `json:"id"`
	EventType     string                   `json:"eventType"`
	GeneratedDate string                   `json:"generatedDate"`
	Payload       ConnectionWebhookPayload `json:"payload"`
}

// ConnectionWebhookPayload is the company and the connection as they are after the change.
type ConnectionWebhookPayload struct {
	ReferenceCompany CompanyReference `json:"referenceCompany"`
	Connection       Connection       `json:"connection"`
}

// CompanyReference is the spec's companyReference.
type CompanyReference struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Description string            `json:"description,omitempty"`
	Links       map[string]string `json:"links,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
}

// CompanyWebhook is the body of a company.created or company.deleted event (the spec's
// CompanyWebhook): the company's details as they were.
type CompanyWebhook struct {
	ID            string         `json:"id"`
	EventType     string         `json:"eventType"`
	GeneratedDate string         `json:"generatedDate"`
	Payload       CompanyDetails `json:"payload"`
}

// RateLimitWebhook is the body of a client.rateLimit.* event.
type RateLimitWebhook struct {
	ID            string           `json:"id"`
	EventType     string           `json:"eventType"`
	GeneratedDate string           `json:"generatedDate"`
	Payload       RateLimitPayload `json:"payload"`
}

// RateLimitPayload is the spec's clientRateLimitWebhookPayload.
type RateLimitPayload struct {
	DailyQuota     int    `json:"dailyQuota"`
	QuotaRemaining int    `json:"quotaRemaining"`
	ExpiryDate     string `json:"expiryDate"`
}

// AddConsumer registers a webhook endpoint. Every later change of a connection, and the quota's
// events, are delivered to it, signed with its secret.
func (s *Simulator) AddConsumer(c Consumer) (Consumer, error) {
	u := c.URL
	if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
		return Consumer{}, errors.New("codatsim: a consumer needs an http(s) url")
	}
	if _, err := signingKey(c.Secret); err != nil {
		return Consumer{}, err
	}
	for _, t := range c.EventTypes {
		if !slices.Contains(codatapi.Events, t) {
			return Consumer{}, fmt.Errorf("codatsim: unknown event type %q", t)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.ID == "" {
		c.ID = uuidFrom(s.webhookRNG)
	}
	c.EventTypes = slices.Clone(c.EventTypes)
	s.consumers = append(slices.DeleteFunc(s.consumers, func(old Consumer) bool { return old.ID == c.ID }), c)
	return c, nil
}

// RemoveConsumer stops deliveries to a consumer.
func (s *Simulator) RemoveConsumer(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.consumers = slices.DeleteFunc(s.consumers, func(c Consumer) bool { return c.ID == id })
}

// Consumers returns the registered consumers.
func (s *Simulator) Consumers() []Consumer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.consumers)
}

// Deliveries returns every delivery attempt so far, oldest first.
func (s *Simulator) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.deliveries)
}

// FailLink does what Codat does when the business cancels in Link or the platform refuses: the
// connection stays PendingAuth with an active error, and a connection.failed event goes out.
func (s *Simulator) FailLink(companyID, connectionID, message string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	conn, err := s.findLocked(companyID, connectionID)
	if err != nil {
		return err
	}
	if message == "" {
		message = "User cancelled"
	}
	active := "Active"
	conn.Status = codatapi.StatusPendingAuth
	conn.DataConnectionErrors = append(conn.DataConnectionErrors, DataConnectionError{
		StatusCode: "403", StatusText: "Forbidden", ErrorMessage: message,
		ErroredOnUtc: s.now().Format(TimeFormat), Status: &active,
	})
	s.emitConnectionLocked(codatapi.EventConnectionFailed, companyID, conn.Connection)
	return nil
}

// SendRateLimitEvent sends client.rateLimit.reached or client.rateLimit.reset with the quota's
// state, as Codat does when the daily quota runs out or resets.
func (s *Simulator) SendRateLimitEvent(eventType string) error {
	if eventType != codatapi.EventRateLimitReached && eventType != codatapi.EventRateLimitReset {
		return fmt.Errorf("codatsim: %q is not a rate-limit event", eventType)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.emitRateLimitLocked(eventType)
	return nil
}

// transitionEvent is the event Codat sends when a connection's status changes from one to another.
func transitionEvent(from, to string) string {
	switch {
	case from == to:
		return ""
	case to == codatapi.StatusLinked && from == codatapi.StatusPendingAuth:
		return codatapi.EventConnectionConnected
	case to == codatapi.StatusLinked:
		return codatapi.EventConnectionReconnected
	case from == codatapi.StatusLinked:
		return codatapi.EventConnectionDisconnected
	}
	return ""
}

// changedLocked sends the event for a status change, if it is one Codat reports.
func (s *Simulator) changedLocked(companyID string, conn *connection, from string) {
	if t := transitionEvent(from, conn.Status); t != "" {
		s.emitConnectionLocked(t, companyID, conn.Connection)
	}
}

func (s *Simulator) emitConnectionLocked(eventType, companyID string, conn Connection) {
	if len(s.consumers) == 0 {
		return
	}
	ref := CompanyReference{ID: companyID,
		Links: map[string]string{"portal": "https://app.codat.io/companies/" + companyID + "/summary"}}
	if c := s.companies[companyID]; c != nil {
		ref.Name, ref.Description, ref.Tags = c.name, c.description, maps.Clone(c.tags)
	}
	body := ConnectionWebhook{
		ID: uuidFrom(s.webhookRNG), EventType: eventType, GeneratedDate: s.now().Format(TimeFormat),
		Payload: ConnectionWebhookPayload{ReferenceCompany: ref, Connection: conn.clone()},
	}
	s.deliverLocked(Delivery{EventID: body.ID, EventType: eventType, CompanyID: companyID, ConnectionID: conn.ID, Status: conn.Status}, body)
}

// emitCompanyLocked sends company.created or company.deleted with the company's details.
func (s *Simulator) emitCompanyLocked(eventType string, details CompanyDetails) {
	if len(s.consumers) == 0 {
		return
	}
	body := CompanyWebhook{ID: uuidFrom(s.webhookRNG), EventType: eventType, GeneratedDate: s.now().Format(TimeFormat), Payload: details}
	s.deliverLocked(Delivery{EventID: body.ID, EventType: eventType, CompanyID: details.ID}, body)
}

func (s *Simulator) emitRateLimitLocked(eventType string) {
	remaining := max(s.quota.limit-s.quota.used, 0)
	body := RateLimitWebhook{
		ID: uuidFrom(s.webhookRNG), EventType: eventType, GeneratedDate: s.now().Format(TimeFormat),
		Payload: RateLimitPayload{DailyQuota: s.quota.limit, QuotaRemaining: remaining, ExpiryDate: s.quota.resetAt.Format(TimeFormat)},
	}
	s.deliverLocked(Delivery{EventID: body.ID, EventType: eventType}, body)
}

// deliverLocked starts the delivery of one event (described by event: its id, type, company,
// connection and status) to every consumer that wants it, applying the webhook faults.
func (s *Simulator) deliverLocked(event Delivery, body any) {
	raw, err := marshal(body)
	if err != nil {
		return
	}
	for _, c := range s.consumers {
		if len(c.EventTypes) > 0 && !slices.Contains(c.EventTypes, event.EventType) {
			continue
		}
		d := event
		d.ConsumerID = c.ID
		s.deliverToLocked(c, d, raw)
	}
}

// webhookDraw is what one delivery draws from webhookRNG. All four are drawn, in this order,
// whatever faults are set, so that setting one changes no later draw.
type webhookDraw struct{ drop, duplicate, badSignature, delay float64 }

// deliverToLocked starts the delivery d of the event raw to consumer c: dropped (only logged),
// or sent once or twice, after a delay, signed with c's key or a wrong one, as the faults decide.
func (s *Simulator) deliverToLocked(c Consumer, d Delivery, raw []byte) {
	f := &s.faults
	draw := webhookDraw{drop: s.webhookRNG.Float64(), duplicate: s.webhookRNG.Float64(),
		badSignature: s.webhookRNG.Float64(), delay: s.webhookRNG.Float64()}
	if faultFires(&f.WebhookDropNext, draw.drop, f.WebhookDropRate) {
		d.Time, d.Fault = s.now(), "dropped"
		s.deliveries = append(s.deliveries, d)
		return
	}
	key, _ := signingKey(c.Secret)
	if faultFires(&f.WebhookBadSignatureNext, draw.badSignature, f.WebhookBadSignatureRate) {
		key, d.Fault = []byte("not the consumer's secret"), "bad-signature"
	}
	wait := time.Duration(draw.delay * float64(f.WebhookMaxDelay))
	copies := 1
	if draw.duplicate < f.WebhookDuplicateRate {
		copies = 2
	}
	for i := range copies {
		d := d
		if i > 0 {
			d.Fault = "duplicate"
		}
		go s.deliver(c.URL, key, raw, d, wait)
	}
}

// faultFires decides a fault set as "the next N" and a rate: it fires while *next counts down
// (using one up), then with probability rate (draw is uniform in [0, 1)).
func faultFires(next *int, draw, rate float64) bool {
	if *next > 0 {
		*next--
		return true
	}
	return draw < rate
}

// deliver posts one event, retrying on Codat's schedule until the consumer answers 2xx.
func (s *Simulator) deliver(url string, key, body []byte, d Delivery, wait time.Duration) {
	scale := s.opts.WebhookRetryScale
	if scale <= 0 {
		scale = 1
	}
	client := s.opts.WebhookHTTPClient
	if client == nil {
		client = http.DefaultClient
	}
	s.sleep(wait)
	for attempt, backoff := range webhookRetrySchedule {
		if attempt > 0 {
			s.sleep(time.Duration(float64(backoff) * scale))
		}
		if s.stopped() {
			return
		}
		d.Attempt, d.Time = attempt+1, s.now()
		d.StatusCode = post(client, url, key, body, d.EventID, s.now())
		s.mu.Lock()
		s.deliveries = append(s.deliveries, d)
		s.mu.Unlock()
		if d.StatusCode >= 200 && d.StatusCode <= 299 {
			return
		}
	}
}

// post sends one signed delivery (Standard Webhooks: webhook-id, webhook-timestamp and
// webhook-signature "v1,<Base64 HMAC-SHA256 of id.timestamp.body>") and returns the status.
func post(client *http.Client, url string, key, body []byte, id string, now time.Time) int {
	ctx, cancel := context.WithTimeout(context.Background(), webhookTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", ts)
	req.Header.Set("webhook-signature", "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	resp, err := client.Do(req)
	if err != nil {
		return 0
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

// signingKey decodes a "whsec_<Base64>" secret.
func signingKey(secret string) ([]byte, error) {
	enc, ok := strings.CutPrefix(secret, webhookSecretPrefix)
	key, err := base64.StdEncoding.DecodeString(enc)
	if !ok || err != nil || len(key) == 0 {
		return nil, errors.New(`codatsim: a signing secret is "whsec_" followed by a Base64 key`)
	}
	return key, nil
}
