package webhooks

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	crand "crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
	"github.com/codat-operator/codat-operator/internal/codatapi"
	"github.com/codat-operator/codat-operator/internal/codatsim"
	"github.com/codat-operator/codat-operator/internal/controller"
	"github.com/codat-operator/codat-operator/internal/webhook"
	"github.com/codat-operator/codat-operator/test/rig"
)

// slow makes every poll an hour away: only webhooks can bring news within a test.
var slow = controller.Intervals{PendingAuth: time.Hour, Settled: time.Hour, SafetyNet: time.Hour, BackoffBase: time.Second, BackoffMax: 2 * time.Second}

// The business authorizes; with every poll an hour away, the webhook alone turns the object Ready,
// with one read of Codat.
func TestAuthorizationTurnsReadyThroughTheWebhook(t *testing.T) {
	t.Parallel()
	r := rig.New(t, env, k8s, rig.Options{Webhooks: true, Intervals: slow})
	obj := r.Awaiting("acme")
	r.Delivered(codatapi.EventConnectionCreated, 10*time.Second)
	if err := r.Sim.Link(r.Company, obj.Status.ConnectionID); err != nil {
		t.Fatal(err)
	}
	r.WaitReady("acme", codatv1.ReasonLinked, 10*time.Second)
	// The create, then one read on connection.connected. connection.created said what the object
	// already showed (PendingAuth): no read.
	if n, gets := r.Calls(""), r.Calls(codatapi.OpGetConnection); n != 2 || gets != 1 {
		t.Fatalf("%d Codat calls (%d reads) for a create and a link, want 2 (1 read)", n, gets)
	}
	if got := r.Metric(webhook.MetricEventsTotal, map[string]string{"type": codatapi.EventConnectionConnected, "result": "accepted"}); got != 1 {
		t.Errorf("connection.connected accepted %v times, want 1", got)
	}
	if got := r.Metric(webhook.MetricEventToReconcile, nil); got < 1 {
		t.Errorf("no event-to-reconcile latency recorded")
	}
}

// signed builds a delivery signed the Standard Webhooks way with key, independently of the
// receiver's library, at the given time.
func signed(t *testing.T, url, secret, id string, at time.Time, body []byte) *http.Request {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	ts := strconv.FormatInt(at.Unix(), 10)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", ts)
	req.Header.Set("webhook-signature", "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	return req
}

func connectionEvent(t *testing.T, id, eventType, company string, conn codatsim.Connection) []byte {
	t.Helper()
	raw, err := json.Marshal(codatsim.ConnectionWebhook{ID: id, EventType: eventType, GeneratedDate: time.Now().UTC().Format(time.RFC3339),
		Payload: codatsim.ConnectionWebhookPayload{ReferenceCompany: codatsim.CompanyReference{ID: company, Name: "Acme"}, Connection: conn}})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func send(t *testing.T, req *http.Request) int {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

// Forged, unsigned, stale, oversized, misdirected and malformed deliveries are rejected without
// enqueueing anything or calling Codat; one event delivered five times costs one read at most.
func TestBadDeliveriesAreRejected(t *testing.T) {
	t.Parallel()
	r := rig.New(t, env, k8s, rig.Options{Webhooks: true, Intervals: slow})
	obj := r.Awaiting("target")
	r.Delivered(codatapi.EventConnectionCreated, 10*time.Second)
	r.Sim.RemoveConsumer(r.Consumer.ID) // from here on, only the test's own deliveries
	if err := r.Sim.Link(r.Company, obj.Status.ConnectionID); err != nil {
		t.Fatal(err)
	}
	conn, err := r.Sim.Connection(r.Company, obj.Status.ConnectionID)
	if err != nil {
		t.Fatal(err)
	}
	body := connectionEvent(t, "evt-1", codatapi.EventConnectionConnected, r.Company, conn)
	before, calls := r.Get("target").ResourceVersion, r.Calls("")

	forged := signed(t, r.Receiver, rig.SecretB, "evt-1", time.Now(), body)
	unsigned := signed(t, r.Receiver, rig.SecretA, "evt-1", time.Now(), body)
	unsigned.Header.Del("webhook-signature")
	stale := signed(t, r.Receiver, rig.SecretA, "evt-1", time.Now().Add(-10*time.Minute), body)
	tampered := signed(t, r.Receiver, rig.SecretA, "evt-1", time.Now(), body)
	tampered.Body = http.NoBody
	huge := signed(t, r.Receiver, rig.SecretA, "evt-1", time.Now(), bytes.Repeat([]byte(" "), webhook.MaxBody+1))
	get := signed(t, r.Receiver, rig.SecretA, "evt-1", time.Now(), body)
	get.Method = http.MethodGet
	text := signed(t, r.Receiver, rig.SecretA, "evt-1", time.Now(), body)
	text.Header.Set("Content-Type", "text/plain")
	notAnEvent := signed(t, r.Receiver, rig.SecretA, "evt-2", time.Now(), []byte(`{"id":"evt-2","eventType":"connection.connected","payload":{}}`))
	for name, tc := range map[string]struct {
		req  *http.Request
		want int
	}{
		"signed with another secret": {forged, http.StatusUnauthorized},
		"no signature":               {unsigned, http.StatusUnauthorized},
		"timestamp ten minutes old":  {stale, http.StatusUnauthorized},
		"body changed after signing": {tampered, http.StatusUnauthorized},
		"body over the limit":        {huge, http.StatusRequestEntityTooLarge},
		"GET":                        {get, http.StatusMethodNotAllowed},
		"not JSON":                   {text, http.StatusUnsupportedMediaType},
		"not a ConnectionWebhook":    {notAnEvent, http.StatusBadRequest},
	} {
		if got := send(t, tc.req); got != tc.want {
			t.Errorf("%s: answered %d, want %d", name, got, tc.want)
		}
	}
	time.Sleep(time.Second) // a window for a reconcile that must not happen
	if n := r.Calls("") - calls; n != 0 {
		t.Fatalf("rejected deliveries caused %d Codat calls", n)
	}
	if after := r.Get("target").ResourceVersion; after != before {
		t.Fatalf("rejected deliveries changed the object")
	}

	// The genuine event, delivered five times at once: one read.
	var wg sync.WaitGroup
	codes := make(chan int, 5)
	for range 5 {
		wg.Go(func() { codes <- send(t, signed(t, r.Receiver, rig.SecretA, "evt-1", time.Now(), body)) })
	}
	wg.Wait()
	close(codes)
	for code := range codes {
		if code != http.StatusOK {
			t.Errorf("a copy of a valid event answered %d, want 200", code)
		}
	}
	r.WaitReady("target", codatv1.ReasonLinked, 10*time.Second)
	time.Sleep(time.Second)
	if n := r.Calls(codatapi.OpGetConnection); n != 1 {
		t.Fatalf("one event delivered five times caused %d reads, want 1", n)
	}

	// A valid event about no object is acknowledged.
	stranger := connectionEvent(t, "evt-3", codatapi.EventConnectionConnected, r.Company, codatsim.Connection{ID: "00000000-0000-4000-8000-000000000000", Status: "Linked"})
	if got := send(t, signed(t, r.Receiver, rig.SecretA, "evt-3", time.Now(), stranger)); got != http.StatusOK {
		t.Errorf("a valid event about no object answered %d, want 200", got)
	}
	if got := r.Metric(webhook.MetricEventsTotal, map[string]string{"type": codatapi.EventConnectionConnected, "result": "ignored"}); got < 1 {
		t.Errorf("the event about no object was not counted as ignored")
	}
}

// Events that arrive in the reverse order of the changes leave the object at Codat's latest state.
func TestEventsOutOfOrderLandOnTheLatestState(t *testing.T) {
	t.Parallel()
	r := rig.New(t, env, k8s, rig.Options{Webhooks: true, Intervals: slow})
	obj := r.Awaiting("reordered")
	r.Delivered(codatapi.EventConnectionCreated, 10*time.Second)
	r.Sim.RemoveConsumer(r.Consumer.ID)
	id := obj.Status.ConnectionID
	if err := r.Sim.Link(r.Company, id); err != nil {
		t.Fatal(err)
	}
	linked, _ := r.Sim.Connection(r.Company, id)
	if err := r.Sim.Deauthorize(r.Company, id); err != nil {
		t.Fatal(err)
	}
	deauthorized, _ := r.Sim.Connection(r.Company, id)

	// The newer event first, then the older one.
	for _, e := range []struct {
		id, eventType string
		conn          codatsim.Connection
	}{{"evt-new", codatapi.EventConnectionDisconnected, deauthorized}, {"evt-old", codatapi.EventConnectionConnected, linked}} {
		if got := send(t, signed(t, r.Receiver, rig.SecretA, e.id, time.Now(), connectionEvent(t, e.id, e.eventType, r.Company, e.conn))); got != http.StatusOK {
			t.Fatalf("%s answered %d", e.id, got)
		}
		time.Sleep(300 * time.Millisecond)
	}
	r.WaitReady("reordered", codatv1.ReasonDeauthorized, 10*time.Second)
	time.Sleep(time.Second)
	if got := r.Get("reordered"); got.Status.ConnectionStatus != codatapi.StatusDeauthorized {
		t.Fatalf("after an older event the object shows %s, want Codat's latest, Deauthorized", got.Status.ConnectionStatus)
	}

	// The simulator's own deliveries, shuffled by delay, land on the latest state too.
	if err := r.Sim.SetFaults(codatsim.Faults{WebhookMaxDelay: 500 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Sim.AddConsumer(codatsim.Consumer{URL: r.Receiver, Secret: rig.SecretA}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		_ = r.Sim.Link(r.Company, id)
		_ = r.Sim.Deauthorize(r.Company, id)
	}
	_ = r.Sim.Link(r.Company, id)
	r.WaitReady("reordered", codatv1.ReasonLinked, 10*time.Second)
}

// With every webhook lost, the safety-net poll still finds the change.
func TestLostWebhooksAreCaughtByTheSafetyNet(t *testing.T) {
	t.Parallel()
	intervals := slow
	intervals.SafetyNet = 2 * time.Second
	r := rig.New(t, env, k8s, rig.Options{Webhooks: true, Intervals: intervals})
	obj := r.Awaiting("dropped")
	if err := r.Sim.SetFaults(codatsim.Faults{WebhookDropRate: 1}); err != nil {
		t.Fatal(err)
	}
	if err := r.Sim.Link(r.Company, obj.Status.ConnectionID); err != nil {
		t.Fatal(err)
	}
	r.WaitReady("dropped", codatv1.ReasonLinked, 20*time.Second)
	dropped := 0
	for _, d := range r.Sim.Deliveries() {
		if d.Fault == "dropped" {
			dropped++
		}
	}
	if dropped == 0 {
		t.Fatal("no delivery was dropped: the test proves nothing")
	}
}

// Without a signing secret the receiver is not healthy: the manager polls at the normal intervals
// and says so; once the Secret appears, polling becomes the safety net again. A receiver that stops
// being healthy brings every object's next poll back within the normal interval.
func TestUnhealthyReceiverFallsBackToPolling(t *testing.T) {
	t.Parallel()
	intervals := slow
	intervals.PendingAuth, intervals.Settled = time.Second, 2*time.Second
	r := rig.New(t, env, k8s, rig.Options{Webhooks: true, Intervals: intervals, NoSigningSecret: true})
	obj := r.Awaiting("unheard")
	if got := r.Metric(webhook.MetricReceiverHealthy, nil); got != 0 {
		t.Fatalf("%s = %v without a signing secret, want 0", webhook.MetricReceiverHealthy, got)
	}
	if err := r.Sim.Link(r.Company, obj.Status.ConnectionID); err != nil {
		t.Fatal(err)
	}
	r.WaitReady("unheard", codatv1.ReasonLinked, 15*time.Second)
	for _, d := range r.Sim.Deliveries() {
		if d.EventType == codatapi.EventConnectionConnected && d.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("a delivery without signing secrets answered %d, want 503 (Codat retries)", d.StatusCode)
		}
	}

	r.SetSigningSecrets(map[string]string{"current": rig.SecretA})
	r.WaitFor("unheard", "a healthy receiver", 15*time.Second, func(*codatv1.CodatConnection) bool {
		return r.Metric(webhook.MetricReceiverHealthy, nil) == 1
	})
	// Healthy: the next poll is a safety-net interval (an hour) away...
	r.Sim.RemoveConsumer(r.Consumer.ID)
	r.SetSigningSecrets(map[string]string{"current": rig.SecretA, "other": rig.SecretB}) // a change, to poll once more
	calls := r.Calls(codatapi.OpGetConnection)
	time.Sleep(5 * time.Second)
	if n := r.Calls(codatapi.OpGetConnection) - calls; n > 1 {
		t.Fatalf("%d polls in 5s while the receiver is healthy, want at most 1", n)
	}
	// ...until the receiver stops being healthy: then within the normal interval.
	if err := k8s.Delete(context.Background(), rig.SecretNamed(r.NS, "codat-webhooks")); err != nil {
		t.Fatal(err)
	}
	calls = r.Calls(codatapi.OpGetConnection)
	r.WaitFor("unheard", "polled again", 20*time.Second, func(*codatv1.CodatConnection) bool {
		return r.Calls(codatapi.OpGetConnection) > calls+1 && r.Metric(webhook.MetricReceiverHealthy, nil) == 0
	})
}

// connection.failed shows on the object with Codat's message, as a condition reason and an event.
func TestFailedLinkShows(t *testing.T) {
	t.Parallel()
	r := rig.New(t, env, k8s, rig.Options{Webhooks: true, Intervals: slow})
	obj := r.Awaiting("cancelled")
	if err := r.Sim.FailLink(r.Company, obj.Status.ConnectionID, "User cancelled"); err != nil {
		t.Fatal(err)
	}
	r.Delivered(codatapi.EventConnectionFailed, 10*time.Second)
	obj = r.WaitReady("cancelled", codatv1.ReasonLinkFailed, 10*time.Second)
	ready := meta.FindStatusCondition(obj.Status.Conditions, codatv1.ConditionReady)
	for _, want := range []string{"User cancelled", "403", "status.linkUrl"} {
		if !strings.Contains(ready.Message, want) {
			t.Errorf("Ready message %q does not say %q", ready.Message, want)
		}
	}
	if c := meta.FindStatusCondition(obj.Status.Conditions, codatv1.ConditionStalled); c.Status != metav1.ConditionFalse {
		t.Errorf("Stalled=%s: a cancelled link waits for the business, nobody else", c.Status)
	}
	note := waitEvent(t, r, "cancelled", codatv1.ReasonLinkFailed)
	if !strings.Contains(note, "User cancelled") {
		t.Errorf("the LinkFailed event says %q", note)
	}
	// The business tries again and succeeds.
	if err := r.Sim.Link(r.Company, obj.Status.ConnectionID); err != nil {
		t.Fatal(err)
	}
	r.WaitReady("cancelled", codatv1.ReasonLinked, 10*time.Second)
}

func waitEvent(t *testing.T, r *rig.Rig, name, reason string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var list eventsv1.EventList
		if err := k8s.List(context.Background(), &list, client.InNamespace(r.NS)); err != nil {
			t.Fatal(err)
		}
		for _, e := range list.Items {
			if e.Regarding.Name == name && e.Reason == reason {
				return e.Note
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no %s event for %s", reason, name)
	return ""
}

// client.rateLimit.reached stops every Codat call until the quota's expiry; .reset resumes at once.
func TestRateLimitEventsGateCodatCalls(t *testing.T) {
	t.Parallel()
	r := rig.New(t, env, k8s, rig.Options{Webhooks: true, Intervals: controller.Intervals{PendingAuth: time.Second, Settled: time.Second, SafetyNet: time.Second,
		BackoffBase: time.Second, BackoffMax: 2 * time.Second}})
	r.Awaiting("metered")
	// A quota whose window ends in 3 seconds, reported used up.
	if err := r.Sim.SetFaults(codatsim.Faults{Quota: 1000, QuotaWindow: 3 * time.Second}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := r.Sim.SendRateLimitEvent(codatapi.EventRateLimitReached); err != nil {
		t.Fatal(err)
	}
	r.Delivered(codatapi.EventRateLimitReached, 5*time.Second)
	calls := r.Calls("")
	r.WaitFor("metered", "RateLimited", 5*time.Second, func(o *codatv1.CodatConnection) bool {
		c := meta.FindStatusCondition(o.Status.Conditions, codatv1.ConditionSynced)
		return c != nil && c.Reason == codatv1.ReasonRateLimited && strings.Contains(c.Message, "client.rateLimit.reached")
	})
	for time.Since(start) < 2500*time.Millisecond {
		if n := r.Calls("") - calls; n != 0 {
			t.Fatalf("%d Codat calls while the daily quota is used up", n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.WaitFor("metered", "polled after the expiry", 10*time.Second, func(*codatv1.CodatConnection) bool { return r.Calls("") > calls })

	// Reached, then reset: calls resume at once, without waiting for the expiry.
	if err := r.Sim.SetFaults(codatsim.Faults{Quota: 1000, QuotaWindow: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if err := r.Sim.SendRateLimitEvent(codatapi.EventRateLimitReached); err != nil {
		t.Fatal(err)
	}
	// Deliveries go out on their own: the second reached must have arrived before the reset is
	// sent, or the reset could overtake it.
	waitDelivered(t, r, codatapi.EventRateLimitReached, 2)
	r.WaitFor("metered", "RateLimited again", 5*time.Second, func(o *codatv1.CodatConnection) bool {
		c := meta.FindStatusCondition(o.Status.Conditions, codatv1.ConditionSynced)
		return c != nil && c.Reason == codatv1.ReasonRateLimited
	})
	calls = r.Calls("")
	if err := r.Sim.SendRateLimitEvent(codatapi.EventRateLimitReset); err != nil {
		t.Fatal(err)
	}
	r.WaitFor("metered", "resumed", 5*time.Second, func(o *codatv1.CodatConnection) bool {
		c := meta.FindStatusCondition(o.Status.Conditions, codatv1.ConditionSynced)
		return r.Calls("") > calls && c != nil && c.Status == metav1.ConditionTrue
	})
}

// Two signing secrets live at once are both accepted; a removed one is refused after the update.
func TestSigningSecretRotation(t *testing.T) {
	t.Parallel()
	r := rig.New(t, env, k8s, rig.Options{Webhooks: true, Intervals: slow})
	obj := r.Awaiting("rotated")
	r.Sim.RemoveConsumer(r.Consumer.ID)
	conn, _ := r.Sim.Connection(r.Company, obj.Status.ConnectionID)
	deliver := func(secret, id string) int {
		return send(t, signed(t, r.Receiver, secret, id, time.Now(), connectionEvent(t, id, codatapi.EventConnectionCreated, r.Company, conn)))
	}
	if got := deliver(rig.SecretB, "rot-1"); got != http.StatusUnauthorized {
		t.Fatalf("a secret not yet in the Secret answered %d", got)
	}
	r.SetSigningSecrets(map[string]string{"current": rig.SecretA, "next": rig.SecretB})
	waitAnswer(t, func() int { return deliver(rig.SecretB, fmt.Sprintf("rot-2-%d", time.Now().UnixNano())) }, http.StatusOK)
	if got := deliver(rig.SecretA, "rot-3"); got != http.StatusOK {
		t.Fatalf("the old secret, still live, answered %d", got)
	}
	r.SetSigningSecrets(map[string]string{"next": rig.SecretB})
	waitAnswer(t, func() int { return deliver(rig.SecretA, fmt.Sprintf("rot-4-%d", time.Now().UnixNano())) }, http.StatusUnauthorized)
	if got := deliver(rig.SecretB, "rot-5"); got != http.StatusOK {
		t.Fatalf("the new secret answered %d after the old one was removed", got)
	}
}

// waitAnswer repeats a delivery until it gets the status: the Secret's update reaches the receiver
// through a watch.
func waitAnswer(t *testing.T, deliver func() int, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	got := 0
	for time.Now().Before(deadline) {
		if got = deliver(); got == want {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("deliveries answered %d, want %d", got, want)
}

// The receiver serves HTTPS from a certificate folder; Codat's deliveries arrive over TLS.
func TestReceiverOverHTTPS(t *testing.T) {
	t.Parallel()
	dir, pool := selfSignedCertificate(t)
	r := rig.New(t, env, k8s, rig.Options{Webhooks: true, Intervals: slow, CertDir: dir,
		Sim: codatsim.Options{WebhookHTTPClient: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}}})
	if !strings.HasPrefix(r.Receiver, "https://") {
		t.Fatalf("receiver at %s", r.Receiver)
	}
	obj := r.Awaiting("secure")
	if err := r.Sim.Link(r.Company, obj.Status.ConnectionID); err != nil {
		t.Fatal(err)
	}
	r.WaitReady("secure", codatv1.ReasonLinked, 10*time.Second)
	// Plain HTTP to the TLS port is refused.
	if resp, err := http.Post(strings.Replace(r.Receiver, "https://", "http://", 1), "application/json", strings.NewReader("{}")); err == nil {
		_ = resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Fatalf("plain HTTP answered %d", resp.StatusCode)
		}
	}
}

// selfSignedCertificate writes tls.crt and tls.key for 127.0.0.1 and returns the folder and a pool
// that trusts the certificate.
func selfSignedCertificate(t *testing.T) (string, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "codat-operator webhooks test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(crand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, block := range map[string]*pem.Block{"tls.crt": {Type: "CERTIFICATE", Bytes: der}, "tls.key": {Type: "EC PRIVATE KEY", Bytes: keyDER}} {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return dir, pool
}
