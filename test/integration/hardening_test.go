package integration_test

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
	"github.com/codat-operator/codat-operator/internal/codatapi"
	"github.com/codat-operator/codat-operator/internal/codatsim"
	"github.com/codat-operator/codat-operator/internal/controller"
)

// linked makes an object whose connection the business has authorized.
func (c *tcase) linked(name string) *codatv1.CodatConnection {
	c.t.Helper()
	c.create(name, nil)
	obj := c.waitCondition(name, codatv1.ConditionReady, metav1.ConditionFalse, codatv1.ReasonAwaitingAuthorization)
	if err := sim.Link(c.company, obj.Status.ConnectionID); err != nil {
		c.t.Fatal(err)
	}
	c.poll(name)
	return c.waitCondition(name, codatv1.ConditionReady, metav1.ConditionTrue, codatv1.ReasonLinked)
}

// requireRealizedHealthy checks what a realized object shows while a routine look at Codat fails:
// Ready and its health unchanged, the failure on Synced only.
func requireRealizedHealthy(t *testing.T, c *tcase, name string) {
	t.Helper()
	obj := c.get(name)
	for cond, want := range map[string]metav1.ConditionStatus{
		codatv1.ConditionReady: metav1.ConditionTrue, codatv1.ConditionReconciling: metav1.ConditionFalse,
		codatv1.ConditionStalled: metav1.ConditionFalse,
	} {
		if got := condition(obj, cond).Status; got != want {
			t.Errorf("%s=%s during a failed poll of a realized object, want %s", cond, got, want)
		}
	}
	if got := kstatusOf(t, c, name); got != status.CurrentStatus {
		t.Errorf("kstatus %s during a failed poll of a realized object, want Current", got)
	}
}

// A 200 whose body is empty, truncated or not JSON is Codat's fault: the poll is retried with
// backoff, a Linked object stays Ready and healthy, and it recovers by itself.
func TestGarbledAnswersAreRetriedAndRecover(t *testing.T) {
	t.Parallel()
	c := newCase(t)
	c.linked("mangled")
	for _, kind := range []string{codatsim.BadBodyTruncated, codatsim.BadBodyEmpty, codatsim.BadBodyHTML} {
		if err := sim.GarbleCompany(c.company, kind); err != nil {
			t.Fatal(err)
		}
		c.poll("mangled")
		obj := c.waitCondition("mangled", codatv1.ConditionSynced, metav1.ConditionFalse, codatv1.ReasonCodatUnavailable)
		requireContains(t, condition(obj, codatv1.ConditionSynced).Message, "HTTP 200", "not what Codat documents")
		requireRealizedHealthy(t, c, "mangled")
		before := len(c.requests(codatapi.OpGetConnection))
		time.Sleep(3 * time.Second) // backoff: 1s, then 2s at most in this suite
		if n := len(c.requests(codatapi.OpGetConnection)) - before; n < 1 {
			t.Fatalf("%s body: no retry within 3s", kind)
		}

		// Codat answers properly again: no one pokes the object.
		if err := sim.GarbleCompany(c.company, ""); err != nil {
			t.Fatal(err)
		}
		c.waitCondition("mangled", codatv1.ConditionSynced, metav1.ConditionTrue, codatv1.ReasonSynced)
		requireRealizedHealthy(t, c, "mangled")
	}
}

// A create answered with garbage may have made its connection: it is recovered like a lost answer,
// never made twice.
func TestGarbledCreateIsRecoveredNotRepeated(t *testing.T) {
	t.Parallel()
	c := newCase(t)
	if err := sim.GarbleCompany(c.company, codatsim.BadBodyTruncated); err != nil {
		t.Fatal(err)
	}
	c.create("garbled", nil)
	obj := c.waitCondition("garbled", codatv1.ConditionReconciling, metav1.ConditionTrue, codatv1.ReasonCodatUnavailable)
	if got := condition(obj, codatv1.ConditionStalled).Status; got != metav1.ConditionFalse {
		t.Fatalf("Stalled=%s after a garbled create; it is not the user's mistake", got)
	}
	if err := sim.GarbleCompany(c.company, ""); err != nil {
		t.Fatal(err)
	}
	obj = c.waitCondition("garbled", codatv1.ConditionReady, metav1.ConditionFalse, codatv1.ReasonAwaitingAuthorization)
	conns := c.connections()
	if len(conns) != 1 || conns[0].ID != obj.Status.ConnectionID || c.creates() != 1 {
		t.Fatalf("Codat holds %d connections after %d creates; want exactly the one in status", len(conns), c.creates())
	}
}

// A key that can never be sent is a credentials problem: Stalled, naming the Secret and what is
// wrong, with no Codat call; deleting with deletionPolicy Delete waits for the fix or for Orphan.
func TestUnusableAPIKeyStalls(t *testing.T) {
	t.Parallel()
	c := newCase(t)
	c.secret("codat", map[string]string{"apiKey": apiKey})
	c.create("garbled-key", func(o *codatv1.CodatConnection) {
		o.Spec.CredentialsRef = &codatv1.SecretKeyReference{Name: "codat"}
	})
	c.waitCondition("garbled-key", codatv1.ConditionReady, metav1.ConditionFalse, codatv1.ReasonAwaitingAuthorization)

	for _, tc := range []struct{ value, wantText string }{
		{"sk-first-half\nsk-second-half", "line break"},
		{"sk-bell\a-key", "control character"},
		{"Basic not-base64!", "not Base64"},
	} {
		c.setSecret("codat", map[string]string{"apiKey": tc.value})
		obj := c.waitFor("garbled-key", "Stalled/CredentialsInvalid: "+tc.wantText, func(o *codatv1.CodatConnection) bool {
			s := condition(o, codatv1.ConditionStalled)
			return s.Status == metav1.ConditionTrue && s.Reason == codatv1.ReasonCredentialsInvalid && strings.Contains(s.Message, tc.wantText)
		})
		requireContains(t, condition(obj, codatv1.ConditionStalled).Message, c.ns+"/codat", `"apiKey"`)
	}
	calls := len(c.requests(""))
	c.update("garbled-key", func(o *codatv1.CodatConnection) { o.Spec.DeletionPolicy = codatv1.DeletionPolicyDelete })
	c.delete("garbled-key")
	obj := c.waitCondition("garbled-key", codatv1.ConditionStalled, metav1.ConditionTrue, codatv1.ReasonDeletionBlocked)
	requireContains(t, condition(obj, codatv1.ConditionStalled).Message, "not Base64", "deletionPolicy: Orphan")
	if n := len(c.requests("")) - calls; n != 0 {
		t.Fatalf("%d Codat calls with a key that cannot be sent", n)
	}
	c.update("garbled-key", func(o *codatv1.CodatConnection) { o.Spec.DeletionPolicy = codatv1.DeletionPolicyOrphan })
	c.waitGone("garbled-key")
	if len(c.connections()) != 1 {
		t.Fatalf("Orphan touched the connection in Codat")
	}
}

// An authorization value that is not UTF-8 cannot go into Codat's JSON body unchanged: it is
// refused, naming the Secret and the key, and nothing is sent until it is fixed.
func TestAuthorizationThatIsNotTextIsRefused(t *testing.T) {
	t.Parallel()
	c := newCase(t)
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: c.ns, Name: "tokens"},
		Data:       map[string][]byte{"accessToken": []byte("tok-\xff\xfe-binary"), "businessId": []byte("biz-utf8-check-71")},
	}
	if err := k8s.Create(context.Background(), secret); err != nil {
		t.Fatal(err)
	}
	c.create("binary", func(o *codatv1.CodatConnection) {
		o.Spec.Authorization = &codatv1.AuthorizationSource{SecretRef: codatv1.LocalSecretReference{Name: "tokens"}}
	})
	obj := c.waitCondition("binary", codatv1.ConditionStalled, metav1.ConditionTrue, codatv1.ReasonAuthorizationSecretInvalid)
	requireContains(t, condition(obj, codatv1.ConditionStalled).Message, c.ns+"/tokens", `"accessToken"`, "not valid UTF-8")
	if n := len(c.requests(codatapi.OpUpdateConnectionAuthorization)); n != 0 {
		t.Fatalf("%d authorization calls with a value that is not text", n)
	}

	c.setSecret("tokens", map[string]string{"accessToken": "tok-ünïcode-✓", "businessId": "biz-utf8-check-71"})
	obj = c.waitCondition("binary", codatv1.ConditionReady, metav1.ConditionTrue, codatv1.ReasonLinked)
	got, err := sim.Authorization(c.company, obj.Status.ConnectionID)
	if err != nil || got["accessToken"] != "tok-ünïcode-✓" || got["businessId"] != "biz-utf8-check-71" {
		t.Fatalf("Codat received %v (%v), want exactly the Secret's values", got, err)
	}
}

// A stall that Codat's refusal caused is not re-sent by a restarted manager while nothing
// changed; a change (here the user's reconcile request) sends it again.
func TestStalledRequestIsNotRepeatedAfterRestart(t *testing.T) {
	t.Parallel()
	c := newCase(t)
	sim.FailCompany(c.company, 402)
	c.create("over-limit", nil)
	stalled := c.waitCondition("over-limit", codatv1.ConditionStalled, metav1.ConditionTrue, codatv1.ReasonAccountLimit)
	if stalled.Status.StalledInputs == "" {
		t.Fatalf("no stalledInputs on a stall Codat caused: %+v", stalled.Status)
	}
	calls := len(c.requests(""))
	if calls != 1 {
		t.Fatalf("%d Codat calls before the stall, want the one refused create", calls)
	}

	// A new process: a reconciler with no memory, reconciling every object as after a restart.
	restarted := &controller.Reconciler{
		Client: k8s, APIReader: k8s, Codat: controller.ClientConnector{Client: codatClient},
		Recorder:    events.NewFakeRecorder(10),
		Credentials: controller.DefaultCredentials{Secret: defaultCredentials, Grant: grant},
	}
	for range 3 {
		if _, err := restarted.Reconcile(context.Background(), reconcile.Request{NamespacedName: c.key("over-limit")}); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(c.requests("")) - calls; n != 0 {
		t.Fatalf("the restarted reconciler made %d Codat calls for an unchanged stall", n)
	}
	if after := c.get("over-limit"); after.ResourceVersion != stalled.ResourceVersion {
		t.Fatalf("the restarted reconciler rewrote an unchanged stall")
	}

	// The user's request changes the inputs: the operator asks Codat again.
	c.poll("over-limit")
	c.waitFor("over-limit", "asked again", func(*codatv1.CodatConnection) bool { return len(c.requests("")) > calls })
}

// The REASON column of `kubectl get -o wide` shows a pause, and a spec change made while paused
// does not look applied.
func TestPausedChangeDoesNotLookApplied(t *testing.T) {
	t.Parallel()
	c := newCase(t)
	obj := c.linked("dozing")
	realized := obj.Generation
	c.update("dozing", func(o *codatv1.CodatConnection) {
		o.Annotations = map[string]string{codatv1.AnnotationPaused: "true"}
		o.Spec.State = codatv1.StateUnlinked
	})
	obj = c.waitFor("dozing", "Ready=True/Paused", func(o *codatv1.CodatConnection) bool {
		r := condition(o, codatv1.ConditionReady)
		return r.Reason == codatv1.ReasonPaused && r.Status == metav1.ConditionTrue
	})
	if obj.Status.ObservedGeneration != realized || obj.Generation == realized {
		t.Fatalf("observedGeneration %d with generation %d; want it left at %d", obj.Status.ObservedGeneration, obj.Generation, realized)
	}
	for _, cond := range obj.Status.Conditions {
		if cond.ObservedGeneration > realized {
			t.Errorf("condition %s claims generation %d while paused", cond.Type, cond.ObservedGeneration)
		}
	}
	if got := kstatusOf(t, c, "dozing"); got == status.CurrentStatus {
		t.Errorf("kstatus Current with an unapplied change")
	}
	out, err := env.Kubectl("get", "codatconnection", "dozing", "-n", c.ns, "-o", "wide", "--no-headers")
	if err != nil {
		t.Fatal(err)
	}
	requireContains(t, out, codatv1.ReasonPaused)
	if conn, _ := sim.Connection(c.company, obj.Status.ConnectionID); conn.Status != codatapi.StatusLinked {
		t.Fatalf("a paused object unlinked its connection")
	}

	c.update("dozing", func(o *codatv1.CodatConnection) { delete(o.Annotations, codatv1.AnnotationPaused) })
	c.waitCondition("dozing", codatv1.ConditionReady, metav1.ConditionTrue, codatv1.ReasonUnlinked)
}
