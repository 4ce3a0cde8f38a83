package webhooks

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
	"github.com/codat-operator/codat-operator/internal/codatapi"
	"github.com/codat-operator/codat-operator/internal/codatsim"
	"github.com/codat-operator/codat-operator/internal/controller"
	"github.com/codat-operator/codat-operator/test/rig"
)

// gate holds Codat's answers to the operator's reads of one connection while it is shut: the read
// reaches the simulator at once (the answer is what Codat said then), and the answer waits, as
// over a slow network.
type gate struct {
	mu         sync.Mutex
	connection string
	shut       bool
	held       chan struct{}
	open       chan struct{}
}

func newGate() *gate { return &gate{held: make(chan struct{}, 10), open: make(chan struct{})} }

func (g *gate) shutFor(connection string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.connection, g.shut = connection, true
}

// release lets every held answer go, and every later one through.
func (g *gate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.shut {
		g.shut = false
		close(g.open)
	}
}

func (g *gate) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		hold := g.shut && r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/connections/"+g.connection)
		g.mu.Unlock()
		if !hold {
			next.ServeHTTP(w, r)
			return
		}
		answer := httptest.NewRecorder()
		next.ServeHTTP(answer, r)
		g.held <- struct{}{}
		<-g.open
		for k, v := range answer.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(answer.Code)
		_, _ = w.Write(answer.Body.Bytes())
	})
}

// unlinkInCodat unlinks the connection as someone outside the operator would, through Codat's API.
func unlinkInCodat(t *testing.T, r *rig.Rig, connection string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPatch, fmt.Sprintf("%s/companies/%s/connections/%s", r.SimURL, r.Company, connection),
		strings.NewReader(`{"status":"Unlinked"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(rig.APIKey)))
	req.Header.Set("Content-Type", "application/json")
	if got := send(t, req); got != http.StatusOK {
		t.Fatalf("unlinking in Codat answered %d", got)
	}
}

// deliveredCount counts the simulator's deliveries of the event type answered 2xx.
func deliveredCount(r *rig.Rig, eventType string) int {
	n := 0
	for _, d := range r.Sim.Deliveries() {
		if d.EventType == eventType && d.StatusCode == http.StatusOK {
			n++
		}
	}
	return n
}

func waitDelivered(t *testing.T, r *rig.Rig, eventType string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for deliveredCount(r, eventType) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d %s events delivered", deliveredCount(r, eventType), n, eventType)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// An event that arrives while the read caused by an earlier one waits for Codat's answer is not
// lost: the connection is unlinked in Codat and linked again, both webhooks are delivered while
// the first read is in flight, and its answer (Unlinked) arrives last. The object still ends at
// Codat's latest state, Linked, without waiting for a poll (an hour away here).
func TestAnEventDuringAReadIsNotLost(t *testing.T) {
	t.Parallel()
	g := newGate()
	r := rig.New(t, env, k8s, rig.Options{Webhooks: true, Intervals: slow, CodatProxy: g.wrap})
	t.Cleanup(g.release)
	obj := r.Awaiting("relinked")
	id := obj.Status.ConnectionID
	if err := r.Sim.Link(r.Company, id); err != nil {
		t.Fatal(err)
	}
	r.WaitReady("relinked", codatv1.ReasonLinked, 10*time.Second)
	reads := r.Calls(codatapi.OpGetConnection)

	g.shutFor(id)
	unlinkInCodat(t, r, id)
	select {
	case <-g.held: // the read caused by connection.disconnected has Codat's answer, Unlinked
	case <-time.After(10 * time.Second):
		t.Fatal("the disconnected webhook caused no read")
	}
	if err := r.Sim.Link(r.Company, id); err != nil {
		t.Fatal(err)
	}
	waitDelivered(t, r, codatapi.EventConnectionReconnected, 1)
	g.release()

	// The read after the first one's answer is what finds Codat's latest state.
	deadline := time.Now().Add(10 * time.Second)
	for r.Calls(codatapi.OpGetConnection)-reads < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("no read after the held one: the event that arrived during it was lost; the object shows %s, Codat says Linked",
				r.Get("relinked").Status.ConnectionStatus)
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.WaitFor("relinked", "Linked again", 10*time.Second, func(o *codatv1.CodatConnection) bool {
		return o.Status.ConnectionStatus == codatapi.StatusLinked && meta.IsStatusConditionTrue(o.Status.Conditions, codatv1.ConditionReady)
	})
	time.Sleep(time.Second) // a window for a read that must not happen
	if n := r.Calls(codatapi.OpGetConnection) - reads; n != 2 {
		t.Errorf("%d reads for two changes, the second during the first's read: want 2", n)
	}
}

// warnings lists the reasons of the Warning events recorded for the rig's objects.
func warnings(t *testing.T, r *rig.Rig) []string {
	t.Helper()
	var list eventsv1.EventList
	if err := k8s.List(context.Background(), &list, client.InNamespace(r.NS)); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range list.Items {
		if e.Type == corev1.EventTypeWarning {
			out = append(out, e.Reason)
		}
	}
	return out
}

// The operator's own changes come back as webhooks; those echoes cost no Codat call and raise no
// warning: five unlinks cost five reads and five unlinks, and five deletions five DELETEs, none
// answered 404.
func TestTheOperatorsOwnChangesAreNotOutsideChanges(t *testing.T) {
	t.Parallel()
	r := rig.New(t, env, k8s, rig.Options{Webhooks: true, Intervals: slow})
	const n = 5
	for i := range n {
		obj := r.Awaiting(fmt.Sprint("c-", i))
		if err := r.Sim.Link(r.Company, obj.Status.ConnectionID); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		r.WaitReady(fmt.Sprint("c-", i), codatv1.ReasonLinked, 10*time.Second)
	}
	waitDelivered(t, r, codatapi.EventConnectionConnected, n)
	reads, unlinks := r.Calls(codatapi.OpGetConnection), r.Calls(codatapi.OpUnlinkConnection)

	for i := range n {
		o := r.Get(fmt.Sprint("c-", i))
		o.Spec.State = codatv1.StateUnlinked
		if err := k8s.Update(context.Background(), o); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		r.WaitReady(fmt.Sprint("c-", i), codatv1.ReasonUnlinked, 10*time.Second)
	}
	waitDelivered(t, r, codatapi.EventConnectionDisconnected, n)
	time.Sleep(time.Second) // a window for a read the echoes must not cause
	if got := r.Calls(codatapi.OpGetConnection) - reads; got != n {
		t.Errorf("%d unlinks cost %d reads, want %d", n, got, n)
	}
	if got := r.Calls(codatapi.OpUnlinkConnection) - unlinks; got != n {
		t.Errorf("%d unlinks sent %d unlink requests", n, got)
	}
	if got := warnings(t, r); len(got) != 0 {
		t.Errorf("the operator's own unlinks raised warnings %v", got)
	}

	reads = r.Calls(codatapi.OpGetConnection)
	for i := range n {
		if err := k8s.Delete(context.Background(), r.Get(fmt.Sprint("c-", i))); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		r.WaitGone(fmt.Sprint("c-", i), 10*time.Second)
	}
	waitDelivered(t, r, codatapi.EventConnectionDeleted, n)
	time.Sleep(time.Second)
	if got := r.Calls(codatapi.OpDeleteConnection); got != n {
		t.Errorf("%d deletions sent %d DELETEs, want %d", n, got, n)
	}
	if got := r.Sim.CountStatus(codatapi.OpDeleteConnection, http.StatusNotFound); got != 0 {
		t.Errorf("%d DELETEs answered 404: the echo of a deletion deleted again", got)
	}
	if got := r.Calls(codatapi.OpGetConnection) - reads; got != 0 {
		t.Errorf("deleting cost %d reads, want none", got)
	}
}

// A stall whose message asks for a fix in the cluster heals when that is fixed, with polls an hour
// away and no annotation: the foreign Secret in the way of the link Secret is deleted; the object
// that owned a connection another object adopts is deleted.
func TestStallsHealWhenTheClusterIsFixed(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"acme", strings.Repeat("a", 250)} { // the long one's Secret name is shortened with a digest
		t.Run(fmt.Sprintf("LinkURLSecretConflict/%d characters", len(name)), func(t *testing.T) {
			t.Parallel()
			r := rig.New(t, env, k8s, rig.Options{Webhooks: true, Intervals: slow, LinkURLs: controller.LinkURLsInSecret})
			theirs := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: r.NS, Name: controller.LinkURLSecretName(name)},
				StringData: map[string]string{"note": "someone else's"}}
			if err := k8s.Create(context.Background(), theirs); err != nil {
				t.Fatal(err)
			}
			r.Create(name)
			r.WaitFor(name, "Stalled LinkURLSecretConflict", 10*time.Second, stalledBy(codatv1.ReasonLinkURLSecretConflict))
			if err := k8s.Delete(context.Background(), theirs); err != nil {
				t.Fatal(err)
			}
			o := r.WaitReady(name, codatv1.ReasonAwaitingAuthorization, 10*time.Second)
			if o.Status.LinkURLSecret != theirs.Name || meta.IsStatusConditionTrue(o.Status.Conditions, codatv1.ConditionStalled) {
				t.Fatalf("after the foreign Secret went: linkUrlSecret %q, conditions %+v", o.Status.LinkURLSecret, o.Status.Conditions)
			}
		})
	}
	t.Run("AlreadyOwned", func(t *testing.T) {
		t.Parallel()
		r := rig.New(t, env, k8s, rig.Options{Webhooks: true, Intervals: slow})
		owner := r.Awaiting("owner")
		r.CreateWith("adopter", func(o *codatv1.CodatConnection) { o.Spec.ConnectionID = owner.Status.ConnectionID })
		r.WaitFor("adopter", "Stalled AlreadyOwned", 10*time.Second, stalledBy(codatv1.ReasonAlreadyOwned))
		owner.Spec.DeletionPolicy = codatv1.DeletionPolicyOrphan
		if err := k8s.Update(context.Background(), owner); err != nil {
			t.Fatal(err)
		}
		if err := k8s.Delete(context.Background(), owner); err != nil {
			t.Fatal(err)
		}
		o := r.WaitReady("adopter", codatv1.ReasonAwaitingAuthorization, 10*time.Second)
		if o.Status.ConnectionID != owner.Status.ConnectionID {
			t.Fatalf("the adopter manages %s, want %s", o.Status.ConnectionID, owner.Status.ConnectionID)
		}
	})
}

func stalledBy(reason string) func(*codatv1.CodatConnection) bool {
	return func(o *codatv1.CodatConnection) bool {
		c := meta.FindStatusCondition(o.Status.Conditions, codatv1.ConditionStalled)
		return c != nil && c.Status == metav1.ConditionTrue && c.Reason == reason
	}
}

// Valid events about connections this cluster does not manage are answered from memory: fifty of
// them cost the API server nothing. (Not parallel: it counts the API server's requests, which no
// other test's manager may make meanwhile.)
func TestEventsOfOtherConnectionsCostNoAPICall(t *testing.T) {
	r := rig.New(t, env, k8s, rig.Options{Webhooks: true, Intervals: slow})
	r.Awaiting("ours")
	r.Delivered(codatapi.EventConnectionCreated, 10*time.Second)
	time.Sleep(500 * time.Millisecond)
	before := apiserverLists(t)
	for i := range 50 {
		other := codatsimConnection(string(uuid.NewUUID()), codatapi.StatusLinked)
		body := connectionEvent(t, fmt.Sprint("evt-other-", i), codatapi.EventConnectionConnected, string(uuid.NewUUID()), other)
		if got := send(t, signed(t, r.Receiver, rig.SecretA, fmt.Sprint("evt-other-", i), time.Now(), body)); got != http.StatusOK {
			t.Fatalf("event %d answered %d", i, got)
		}
	}
	if got := apiserverLists(t) - before; got != 0 {
		t.Fatalf("50 events about other connections cost %d LISTs of CodatConnections", got)
	}
	if got := r.Calls(""); got != 1 {
		t.Fatalf("%d Codat calls, want the one create", got)
	}
}

func codatsimConnection(id, status string) codatsim.Connection {
	return codatsim.Connection{ID: id, IntegrationKey: "gbol", PlatformName: "Xero", SourceType: "Accounting", Status: status,
		Created: time.Now().UTC().Format(time.RFC3339)}
}

// apiserverLists sums the API server's count of LISTs of CodatConnections it answered.
func apiserverLists(t *testing.T) int {
	t.Helper()
	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := cs.RESTClient().Get().AbsPath("/metrics").DoRaw(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, line := range strings.Split(string(raw), "\n") {
		if !strings.HasPrefix(line, "apiserver_request_total{") || !strings.Contains(line, `resource="codatconnections"`) ||
			!strings.Contains(line, `verb="LIST"`) {
			continue
		}
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		total += int(v)
	}
	return total
}
