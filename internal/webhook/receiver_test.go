package webhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/go-logr/logr"
)

var secret = "whsec_" + base64.StdEncoding.EncodeToString([]byte("unit-test-signing-key"))

type fakeSink struct {
	ready       bool
	connections []ConnectionEvent
	companies   []CompanyEvent
	rateLimits  []RateLimitEvent
	matches     int
}

func (f *fakeSink) Ready() bool { return f.ready }
func (f *fakeSink) Connection(e ConnectionEvent) int {
	f.connections = append(f.connections, e)
	return f.matches
}
func (f *fakeSink) Company(e CompanyEvent) int {
	f.companies = append(f.companies, e)
	return f.matches
}
func (f *fakeSink) RateLimit(e RateLimitEvent) { f.rateLimits = append(f.rateLimits, e) }

func delivery(t *testing.T, id, body string) *http.Request {
	t.Helper()
	key, _ := base64.StdEncoding.DecodeString(secret[len("whsec_"):])
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%s.%s", id, ts, body)
	r := httptest.NewRequest(http.MethodPost, Path, bytes.NewBufferString(body))
	r.Header.Set("Content-Type", "application/json; charset=utf-8")
	r.Header.Set("webhook-id", id)
	r.Header.Set("webhook-timestamp", ts)
	r.Header.Set("webhook-signature", "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	return r
}

func TestReceiverHandsOverOnlyWhatItShould(t *testing.T) {
	secrets := &Secrets{}
	if n, err := secrets.Load(map[string][]byte{"current": []byte(secret + "\n"), "ca.crt": []byte("not a secret")}); n != 1 || err == nil {
		t.Fatalf("Load: %d secrets, %v; want 1 and an error naming ca.crt", n, err)
	}
	sink := &fakeSink{matches: 1}
	h := &Receiver{Secrets: secrets, Sink: sink, Log: logr.Discard()}
	conn := `{"id":"e1","eventType":"connection.connected","payload":{"referenceCompany":{"id":"c"},"connection":{"id":"x","status":"Linked"}}}`
	rate := `{"id":"e2","eventType":"client.rateLimit.reached","payload":{"dailyQuota":1000,"quotaRemaining":0,"expiryDate":"2026-06-02T00:00:00Z"}}`
	company := `{"id":"e5","eventType":"company.deleted","payload":{"id":"c"}}`
	noCompany := `{"id":"e6","eventType":"company.deleted","payload":{}}`
	other := `{"id":"e3","eventType":"dataType.sync.complete","payload":{}}`
	for _, tc := range []struct {
		name  string
		req   *http.Request
		ready bool
		want  int
	}{
		{"not ready: Codat retries", delivery(t, "e1", conn), false, http.StatusServiceUnavailable},
		{"a connection event", delivery(t, "e1", conn), true, http.StatusOK},
		{"the same event again", delivery(t, "e1", conn), true, http.StatusOK},
		{"a quota event", delivery(t, "e2", rate), true, http.StatusOK},
		{"a company event", delivery(t, "e5", company), true, http.StatusOK},
		{"a company event that names no company", delivery(t, "e6", noCompany), true, http.StatusBadRequest},
		{"an event the operator does not act on", delivery(t, "e3", other), true, http.StatusOK},
	} {
		sink.ready = tc.ready
		w := httptest.NewRecorder()
		h.ServeHTTP(w, tc.req)
		if w.Code != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, w.Code, tc.want)
		}
	}
	if len(sink.connections) != 1 || sink.connections[0].ConnectionID != "x" || sink.connections[0].Status != "Linked" {
		t.Errorf("connection events handed over: %+v", sink.connections)
	}
	if len(sink.companies) != 1 || sink.companies[0].CompanyID != "c" || sink.companies[0].Type != "company.deleted" {
		t.Errorf("company events handed over: %+v", sink.companies)
	}
	if len(sink.rateLimits) != 1 || !sink.rateLimits[0].Expiry.Equal(time.Date(2026, 6, 2, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("rate-limit events handed over: %+v", sink.rateLimits)
	}

	empty := &Receiver{Secrets: &Secrets{}, Sink: sink, Log: logr.Discard()}
	w := httptest.NewRecorder()
	empty.ServeHTTP(w, delivery(t, "e4", conn))
	if w.Code != http.StatusServiceUnavailable {
		t.Errorf("without signing secrets: %d, want 503", w.Code)
	}
}

func TestRecentIDsForgetTheOldest(t *testing.T) {
	var r recentIDs
	for i := range recentCapacity {
		if !r.add(fmt.Sprint(i)) {
			t.Fatalf("%d seen twice", i)
		}
	}
	if r.add("0") {
		t.Fatal("a remembered id was taken as new")
	}
	if !r.add("new") || !r.add("0") {
		t.Fatal("the oldest id was not forgotten when the set was full")
	}
}
