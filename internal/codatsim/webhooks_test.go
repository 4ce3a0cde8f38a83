package codatsim_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/codat-operator/codat-operator/internal/codatapi"
	"github.com/codat-operator/codat-operator/internal/codatsim"
)

var whsec = "whsec_" + base64.StdEncoding.EncodeToString([]byte("consumer-key-0123456789"))

// consumerServer records what the simulator delivers, answering with status (and 200 after
// failFirst failures).
type consumerServer struct {
	mu        sync.Mutex
	got       []received
	failFirst int
}

type received struct {
	header http.Header
	body   []byte
}

func (c *consumerServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, received{r.Header.Clone(), body})
	if c.failFirst > 0 {
		c.failFirst--
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (c *consumerServer) bodies() []received {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]received(nil), c.got...)
}

func (c *consumerServer) waitFor(t *testing.T, n int) []received {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if got := c.bodies(); len(got) >= n {
			return got
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%d deliveries, want %d", len(c.bodies()), n)
	return nil
}

func eventType(t *testing.T, r received) string {
	t.Helper()
	var e struct {
		EventType string `json:"eventType"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatal(err)
	}
	return e.EventType
}

// verify checks a delivery's Standard Webhooks signature.
func verify(t *testing.T, r received, secret string) bool {
	t.Helper()
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(r.header.Get("webhook-id") + "." + r.header.Get("webhook-timestamp") + "."))
	mac.Write(r.body)
	return r.header.Get("webhook-signature") == "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Every change of a connection goes out as the event Codat sends for it, signed, in a body that
// matches Codat's official spec for that webhook.
func TestWebhookEventsFollowEveryChange(t *testing.T) {
	f := newFixture(t, codatsim.Options{})
	consumer := &consumerServer{}
	srv := httptest.NewServer(consumer)
	defer srv.Close()
	if _, err := f.sim.AddConsumer(codatsim.Consumer{URL: srv.URL, Secret: whsec}); err != nil {
		t.Fatal(err)
	}
	want := []string{}
	step := func(event string, do func()) {
		t.Helper()
		do()
		want = append(want, event)
		consumer.waitFor(t, len(want))
	}
	c := f.create("gbol")
	want = append(want, codatapi.EventConnectionCreated)
	consumer.waitFor(t, 1)
	one := "/companies/" + company + "/connections/" + c.ID
	step(codatapi.EventConnectionFailed, func() { _ = f.sim.FailLink(company, c.ID, "User cancelled") })
	step(codatapi.EventConnectionConnected, func() { f.do("GET", "/link/companies/"+company+"/connections/"+c.ID+"/start", "", "") })
	step(codatapi.EventConnectionDisconnected, func() { f.do("PATCH", one, auth, `{"status":"Unlinked"}`) })
	step(codatapi.EventConnectionReconnected, func() { f.do("PUT", one+"/authorization", auth, `{"token":"t"}`) })
	step(codatapi.EventConnectionDisconnected, func() { _ = f.sim.Deauthorize(company, c.ID) })
	step(codatapi.EventConnectionReconnected, func() { _ = f.sim.Link(company, c.ID) })
	step(codatapi.EventConnectionDeleted, func() { f.do("DELETE", one, auth, "") })
	other := f.create("mqjo")
	want = append(want, codatapi.EventConnectionCreated)
	consumer.waitFor(t, len(want))
	step(codatapi.EventConnectionDeleted, func() { _ = f.sim.DeleteConnection(company, other.ID) })
	step(codatapi.EventRateLimitReached, func() { _ = f.sim.SendRateLimitEvent(codatapi.EventRateLimitReached) })
	// A company made and deleted through the API. Deleting it deletes its connection with it, and
	// Codat documents only company.deleted for that.
	made := f.createCompany(`{"name":"Acme","description":"d","tags":{"region":"uk"}}`)
	want = append(want, codatapi.EventCompanyCreated)
	consumer.waitFor(t, len(want))
	step(codatapi.EventConnectionCreated, func() {
		f.do("POST", "/companies/"+made.ID+"/connections", auth, `{"platformKey":"gbol"}`)
	})
	step(codatapi.EventCompanyDeleted, func() { f.do("DELETE", "/companies/"+made.ID, auth, "") })
	// One deleted outside the API (as in the Portal).
	step(codatapi.EventCompanyDeleted, func() { _ = f.sim.DeleteCompany(company) })

	doc, err := openapi3.NewLoader().LoadFromFile(officialSpec)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // lets a delivery that should not exist (a connection.deleted) arrive and be counted
	got := consumer.bodies()
	if len(got) != len(want) {
		t.Fatalf("%d deliveries, want %d", len(got), len(want))
	}
	for i, r := range got {
		if typ := eventType(t, r); typ != want[i] {
			t.Errorf("delivery %d is %s, want %s", i, typ, want[i])
		}
		if !verify(t, r, whsec) {
			t.Errorf("delivery %d (%s) is not signed with the consumer's secret", i, want[i])
		}
		if ts := r.header.Get("webhook-timestamp"); ts == "" || r.header.Get("webhook-id") == "" {
			t.Errorf("delivery %d lacks webhook-id or webhook-timestamp", i)
		}
		item := doc.Webhooks[want[i]]
		if item == nil || item.Post == nil {
			t.Fatalf("Codat's spec has no webhook %s", want[i])
		}
		schema := item.Post.RequestBody.Value.Content.Get("application/json").Schema.Value
		var v any
		if err := json.Unmarshal(r.body, &v); err != nil {
			t.Fatal(err)
		}
		// The webhooks' schemas reference parameters, which kin-openapi's JSON Schema 2020-12 mode
		// cannot follow: validate them as 3.0 does, and refuse nulls, which 3.1 would.
		if err := schema.VisitJSON(v); err != nil {
			t.Errorf("delivery %d (%s) does not match Codat's spec: %v\n%s", i, want[i], err, r.body)
		}
		if path := nullAt(v, "$"); path != "" {
			t.Errorf("delivery %d (%s) has a null at %s, which OpenAPI 3.1 does not allow there", i, want[i], path)
		}
	}
	var created, deleted codatsim.CompanyWebhook
	if err := json.Unmarshal(got[len(got)-4].body, &created); err != nil || created.Payload.ID != made.ID ||
		created.Payload.Name != "Acme" || created.Payload.Tags["region"] != "uk" || created.Payload.Redirect != made.Redirect {
		t.Errorf("company.created payload %+v (%v)", created.Payload, err)
	}
	if err := json.Unmarshal(got[len(got)-2].body, &deleted); err != nil || deleted.Payload.ID != made.ID || deleted.Payload.Name != "Acme" {
		t.Errorf("company.deleted payload %+v (%v)", deleted.Payload, err)
	}
	var conn codatsim.ConnectionWebhook
	if err := json.Unmarshal(got[len(got)-3].body, &conn); err != nil || conn.Payload.ReferenceCompany.Name != "Acme" ||
		conn.Payload.ReferenceCompany.Description != "d" || conn.Payload.ReferenceCompany.Tags["region"] != "uk" {
		t.Errorf("connection.created's referenceCompany %+v (%v)", conn.Payload.ReferenceCompany, err)
	}
	for _, d := range f.sim.Deliveries() {
		if d.EventType == codatapi.EventCompanyDeleted && d.CompanyID == "" {
			t.Errorf("a company.deleted delivery does not name its company: %+v", d)
		}
	}
}

// A consumer that fails gets Codat's retries, on its schedule (compressed here); faults drop,
// duplicate or mis-sign deliveries.
func TestWebhookRetriesAndFaults(t *testing.T) {
	f := newFixture(t, codatsim.Options{WebhookRetryScale: 0.0001})
	consumer := &consumerServer{failFirst: 2}
	srv := httptest.NewServer(consumer)
	defer srv.Close()
	if _, err := f.sim.AddConsumer(codatsim.Consumer{URL: srv.URL, Secret: whsec, EventTypes: []string{codatapi.EventConnectionCreated}}); err != nil {
		t.Fatal(err)
	}
	f.create("gbol")
	got := consumer.waitFor(t, 3)
	if got[0].header.Get("webhook-id") != got[2].header.Get("webhook-id") {
		t.Errorf("a retry has another webhook-id")
	}
	var attempts []int
	for _, d := range f.sim.Deliveries() {
		attempts = append(attempts, d.Attempt)
	}
	if len(attempts) != 3 || attempts[2] != 3 {
		t.Errorf("attempts %v, want 1, 2, 3", attempts)
	}

	for _, tc := range []struct {
		faults codatsim.Faults
		want   int // deliveries the consumer sees
		check  func([]received) bool
	}{
		{codatsim.Faults{WebhookDropNext: 1}, 0, nil},
		{codatsim.Faults{WebhookDuplicateRate: 1}, 2, func(r []received) bool { return r[0].header.Get("webhook-id") == r[1].header.Get("webhook-id") }},
		{codatsim.Faults{WebhookBadSignatureNext: 1}, 1, func(r []received) bool { return !verify(t, r[0], whsec) }},
	} {
		consumer.mu.Lock()
		consumer.got, consumer.failFirst = nil, 0
		consumer.mu.Unlock()
		if err := f.sim.SetFaults(tc.faults); err != nil {
			t.Fatal(err)
		}
		f.create("gbol")
		time.Sleep(200 * time.Millisecond)
		got := consumer.bodies()
		if len(got) < tc.want || (tc.check != nil && !tc.check(got)) {
			t.Errorf("faults %+v: %d deliveries", tc.faults, len(got))
		}
		if tc.want == 0 && len(got) != 0 {
			t.Errorf("a dropped delivery arrived")
		}
	}
	if _, err := f.sim.AddConsumer(codatsim.Consumer{URL: srv.URL, Secret: "not-a-secret"}); err == nil {
		t.Error("a consumer without a whsec_ secret was accepted")
	}
}

// Running out of the quota sends client.rateLimit.reached, and its reset client.rateLimit.reset.
func TestQuotaEventsFollowTheQuota(t *testing.T) {
	f := newFixture(t, codatsim.Options{})
	consumer := &consumerServer{}
	srv := httptest.NewServer(consumer)
	defer srv.Close()
	if _, err := f.sim.AddConsumer(codatsim.Consumer{URL: srv.URL, Secret: whsec,
		EventTypes: []string{codatapi.EventRateLimitReached, codatapi.EventRateLimitReset}}); err != nil {
		t.Fatal(err)
	}
	if err := f.sim.SetFaults(codatsim.Faults{Quota: 1, QuotaWindow: time.Hour}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		f.do("GET", "/companies/"+company+"/connections", auth, "")
	}
	got := consumer.waitFor(t, 1)
	var reached codatsim.RateLimitWebhook
	if err := json.Unmarshal(got[0].body, &reached); err != nil || reached.EventType != codatapi.EventRateLimitReached ||
		reached.Payload.DailyQuota != 1 || reached.Payload.QuotaRemaining != 0 || reached.Payload.ExpiryDate == "" {
		t.Fatalf("reached = %+v (%v)", reached, err)
	}
	f.sim.ResetQuota()
	got = consumer.waitFor(t, 2)
	if eventType(t, got[1]) != codatapi.EventRateLimitReset || len(got) != 2 {
		t.Fatalf("after the reset: %d deliveries, the last %s", len(got), eventType(t, got[1]))
	}
}

// nullAt names the first JSON null in v, or "".
func nullAt(v any, path string) string {
	switch v := v.(type) {
	case nil:
		return path
	case map[string]any:
		for k, e := range v {
			if p := nullAt(e, path+"."+k); p != "" {
				return p
			}
		}
	case []any:
		for i, e := range v {
			if p := nullAt(e, fmt.Sprintf("%s[%d]", path, i)); p != "" {
				return p
			}
		}
	}
	return ""
}
