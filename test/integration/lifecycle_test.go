package integration_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
	"github.com/codat-operator/codat-operator/internal/codatapi"
)

// A new object creates one connection that waits for the business; once
// the business authorizes through the link, the object turns Ready.
func TestCreateAwaitsAuthorizationThenLinks(t *testing.T) {
	t.Parallel()
	c := newCase(t)
	c.create("acme", nil)

	obj := c.waitCondition("acme", codatv1.ConditionReady, metav1.ConditionFalse, codatv1.ReasonAwaitingAuthorization)
	if obj.Status.ConnectionStatus != codatapi.StatusPendingAuth || obj.Status.LinkURL == "" || obj.Status.ConnectionID == "" {
		t.Fatalf("want PendingAuth with a linkUrl and an id in status, got %+v", obj.Status)
	}
	if got := condition(obj, codatv1.ConditionReconciling).Status; got != metav1.ConditionFalse {
		t.Errorf("Reconciling=%s while awaiting authorization, want False", got)
	}
	if got := condition(obj, codatv1.ConditionStalled).Status; got != metav1.ConditionFalse {
		t.Errorf("Stalled=%s while awaiting authorization, want False", got)
	}
	requireContains(t, condition(obj, codatv1.ConditionReady).Message, "status.linkUrl")
	if obj.Status.PlatformName != "Xero" || obj.Status.IntegrationKey != "gbol" || obj.Status.Created == "" {
		t.Errorf("status lacks what Codat reported: %+v", obj.Status)
	}
	c.waitEvent("acme", "Created")

	// The business authorizes.
	if err := sim.Link(c.company, obj.Status.ConnectionID); err != nil {
		t.Fatal(err)
	}
	obj = c.waitCondition("acme", codatv1.ConditionReady, metav1.ConditionTrue, codatv1.ReasonLinked)
	if obj.Status.ConnectionStatus != codatapi.StatusLinked {
		t.Fatalf("connectionStatus=%s, want Linked", obj.Status.ConnectionStatus)
	}
	if n := c.creates(); n != 1 || len(c.connections()) != 1 {
		t.Fatalf("Codat holds %d connections after %d creates, want 1 and 1", len(c.connections()), n)
	}
}

// Desired Unlinked: a Linked connection is unlinked with one PATCH; a
// PendingAuth one needs no PATCH.
func TestDesiredUnlinked(t *testing.T) {
	t.Parallel()
	t.Run("linked connection is unlinked once", func(t *testing.T) {
		t.Parallel()
		c := newCase(t)
		c.create("linked", nil)
		obj := c.waitCondition("linked", codatv1.ConditionReady, metav1.ConditionFalse, codatv1.ReasonAwaitingAuthorization)
		if err := sim.Link(c.company, obj.Status.ConnectionID); err != nil {
			t.Fatal(err)
		}
		c.waitCondition("linked", codatv1.ConditionReady, metav1.ConditionTrue, codatv1.ReasonLinked)

		c.update("linked", func(o *codatv1.CodatConnection) { o.Spec.State = codatv1.StateUnlinked })
		obj = c.waitCondition("linked", codatv1.ConditionReady, metav1.ConditionTrue, codatv1.ReasonUnlinked)
		if obj.Status.ConnectionStatus != codatapi.StatusUnlinked {
			t.Fatalf("connectionStatus=%s, want Unlinked", obj.Status.ConnectionStatus)
		}
		if got := c.connections()[0].Status; got != codatapi.StatusUnlinked {
			t.Fatalf("Codat says %s, want Unlinked", got)
		}
		c.poll("linked")
		c.waitFor("linked", "polled", func(o *codatv1.CodatConnection) bool { return len(c.requests(codatapi.OpGetConnection)) >= 2 })
		if n := len(c.requests(codatapi.OpUnlinkConnection)); n != 1 {
			t.Fatalf("%d PATCHes, want 1", n)
		}
		c.waitEvent("linked", "Unlinked")
	})
	t.Run("pending connection needs no unlink", func(t *testing.T) {
		t.Parallel()
		c := newCase(t)
		c.create("pending", func(o *codatv1.CodatConnection) { o.Spec.State = codatv1.StateUnlinked })
		obj := c.waitCondition("pending", codatv1.ConditionReady, metav1.ConditionTrue, codatv1.ReasonUnlinked)
		if obj.Status.ConnectionStatus != codatapi.StatusPendingAuth {
			t.Fatalf("connectionStatus=%s, want PendingAuth", obj.Status.ConnectionStatus)
		}
		if n := len(c.requests(codatapi.OpUnlinkConnection)); n != 0 {
			t.Fatalf("%d PATCHes for a PendingAuth connection, want 0", n)
		}
	})
}

// The authorization Secret is sent once per distinct content; a changed
// Secret is sent again, which re-links a Deauthorized connection.
func TestAuthorizationSecretIsSentOncePerContent(t *testing.T) {
	t.Parallel()
	c := newCase(t)
	c.secret("tokens", map[string]string{"accessToken": "tok-aa11-first", "businessId": "biz-42"})
	c.create("auth", func(o *codatv1.CodatConnection) {
		o.Spec.Authorization = &codatv1.AuthorizationSource{SecretRef: codatv1.LocalSecretReference{Name: "tokens"}}
	})
	obj := c.waitCondition("auth", codatv1.ConditionReady, metav1.ConditionTrue, codatv1.ReasonLinked)
	if n := len(c.requests(codatapi.OpUpdateConnectionAuthorization)); n != 1 {
		t.Fatalf("%d PUTs, want 1", n)
	}
	firstHash := obj.Status.AuthorizationHash
	if len(firstHash) != 64 {
		t.Fatalf("authorizationHash %q is not a SHA-256", firstHash)
	}
	got, err := sim.Authorization(c.company, obj.Status.ConnectionID)
	if err != nil || got["accessToken"] != "tok-aa11-first" || got["businessId"] != "biz-42" {
		t.Fatalf("Codat holds authorization %v (%v), want the Secret's content", got, err)
	}

	// Ten more polls with the same content send nothing.
	for i := range 10 {
		c.poll("auth")
		c.waitFor("auth", "polled", func(*codatv1.CodatConnection) bool {
			return len(c.requests(codatapi.OpGetConnection)) > i
		})
	}
	if n := len(c.requests(codatapi.OpUpdateConnectionAuthorization)); n != 1 {
		t.Fatalf("%d PUTs after ten polls with the same content, want 1", n)
	}

	// Codat loses access; new tokens in the Secret re-link the connection.
	if err := sim.Deauthorize(c.company, obj.Status.ConnectionID); err != nil {
		t.Fatal(err)
	}
	c.poll("auth")
	obj = c.waitCondition("auth", codatv1.ConditionReady, metav1.ConditionFalse, codatv1.ReasonDeauthorized)
	if len(obj.Status.DataConnectionErrors) == 0 {
		t.Errorf("Deauthorized connection shows no dataConnectionErrors")
	}
	c.setSecret("tokens", map[string]string{"accessToken": "tok-bb22-second", "businessId": "biz-42"})
	obj = c.waitCondition("auth", codatv1.ConditionReady, metav1.ConditionTrue, codatv1.ReasonLinked)
	if n := len(c.requests(codatapi.OpUpdateConnectionAuthorization)); n != 2 {
		t.Fatalf("%d PUTs after the content changed once, want 2", n)
	}
	if obj.Status.AuthorizationHash == firstHash {
		t.Fatalf("authorizationHash did not change with the content")
	}
	c.waitEvent("auth", "AuthorizationUpdated")
}

// Deletion follows spec.deletionPolicy.
func TestDeletionPolicies(t *testing.T) {
	t.Parallel()
	cases := []struct {
		policy      codatv1.DeletionPolicy
		wantDeletes int
		wantUnlinks int
		wantLeft    string // the connection's status in Codat afterwards; "" when deleted
	}{
		{codatv1.DeletionPolicyDelete, 1, 0, ""},
		{codatv1.DeletionPolicyUnlink, 0, 1, codatapi.StatusUnlinked},
		{codatv1.DeletionPolicyOrphan, 0, 0, codatapi.StatusLinked},
	}
	for _, tc := range cases {
		t.Run(string(tc.policy), func(t *testing.T) {
			t.Parallel()
			c := newCase(t)
			c.create("doomed", func(o *codatv1.CodatConnection) { o.Spec.DeletionPolicy = tc.policy })
			obj := c.waitCondition("doomed", codatv1.ConditionReady, metav1.ConditionFalse, codatv1.ReasonAwaitingAuthorization)
			if err := sim.Link(c.company, obj.Status.ConnectionID); err != nil {
				t.Fatal(err)
			}
			c.waitCondition("doomed", codatv1.ConditionReady, metav1.ConditionTrue, codatv1.ReasonLinked)
			callsBefore := len(c.requests(""))

			c.delete("doomed")
			c.waitGone("doomed")
			if n := len(c.requests(codatapi.OpDeleteConnection)); n != tc.wantDeletes {
				t.Errorf("%d DELETEs, want %d", n, tc.wantDeletes)
			}
			if n := len(c.requests(codatapi.OpUnlinkConnection)); n != tc.wantUnlinks {
				t.Errorf("%d PATCHes, want %d", n, tc.wantUnlinks)
			}
			if tc.policy == codatv1.DeletionPolicyOrphan && len(c.requests("")) != callsBefore {
				t.Errorf("Orphan made %d Codat calls, want 0", len(c.requests(""))-callsBefore)
			}
			conns := c.connections()
			switch {
			case tc.wantLeft == "" && len(conns) != 0:
				t.Errorf("Codat still holds %d connections", len(conns))
			case tc.wantLeft != "" && (len(conns) != 1 || conns[0].Status != tc.wantLeft):
				t.Errorf("Codat holds %+v, want one %s connection", conns, tc.wantLeft)
			}
		})
	}
}

// Without usable credentials the operator cannot delete in Codat: the
// object stays and says how to let it go, and Orphan does.
func TestDeletionWithoutCredentialsWaitsForOrphan(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		loseKey  func(c *tcase)
		wantText string
	}{
		{"Secret deleted", func(c *tcase) {
			if err := k8s.Delete(context.Background(), secretObj(c.ns, "codat")); err != nil {
				c.t.Fatal(err)
			}
		}, "not found"},
		{"key rejected", func(c *tcase) {
			c.setSecret("codat", map[string]string{"apiKey": "sk-not-known-to-codat-77"})
		}, "HTTP 401"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newCase(t)
			tenantKey := fmt.Sprintf("sk-tenant-%d-51c2b7", i)
			c.secret("codat", map[string]string{"apiKey": tenantKey})
			sim.AddAPIKey(tenantKey)
			c.create("keyless", func(o *codatv1.CodatConnection) {
				o.Spec.CredentialsRef = &codatv1.SecretKeyReference{Name: "codat"}
			})
			c.waitCondition("keyless", codatv1.ConditionReady, metav1.ConditionFalse, codatv1.ReasonAwaitingAuthorization)

			tc.loseKey(c)
			c.delete("keyless")
			obj := c.waitCondition("keyless", codatv1.ConditionStalled, metav1.ConditionTrue, codatv1.ReasonDeletionBlocked)
			requireContains(t, condition(obj, codatv1.ConditionStalled).Message, "deletionPolicy: Orphan", c.ns+"/codat", tc.wantText)

			c.update("keyless", func(o *codatv1.CodatConnection) { o.Spec.DeletionPolicy = codatv1.DeletionPolicyOrphan })
			c.waitGone("keyless")
			if n := len(c.connections()); n != 1 {
				t.Fatalf("Codat holds %d connections, want the orphaned 1", n)
			}
		})
	}
}

// A connection deleted outside the operator is created anew, once.
func TestConnectionDeletedOutsideIsRecreated(t *testing.T) {
	t.Parallel()
	c := newCase(t)
	c.create("phoenix", nil)
	obj := c.waitCondition("phoenix", codatv1.ConditionReady, metav1.ConditionFalse, codatv1.ReasonAwaitingAuthorization)
	first := obj.Status.ConnectionID

	if err := sim.DeleteConnection(c.company, first); err != nil {
		t.Fatal(err)
	}
	c.poll("phoenix")
	obj = c.waitFor("phoenix", "recreated", func(o *codatv1.CodatConnection) bool {
		return o.Status.ConnectionID != "" && o.Status.ConnectionID != first
	})
	requireContains(t, c.waitEvent("phoenix", "RemoteDeleted"), first)
	conns := c.connections()
	if len(conns) != 1 || conns[0].ID != obj.Status.ConnectionID || c.creates() != 2 {
		t.Fatalf("Codat holds %d connections after %d creates, want exactly the new one after 2", len(conns), c.creates())
	}
}

// A paused object makes no Codat call until the annotation goes; a value
// that is not a boolean pauses too, and says so.
func TestPaused(t *testing.T) {
	t.Parallel()
	c := newCase(t)
	c.create("sleepy", func(o *codatv1.CodatConnection) {
		o.Annotations = map[string]string{codatv1.AnnotationPaused: "yes"}
	})
	obj := c.waitFor("sleepy", "Ready=Unknown/Paused", func(o *codatv1.CodatConnection) bool {
		r := condition(o, codatv1.ConditionReady)
		return r.Reason == codatv1.ReasonPaused && r.Status == metav1.ConditionUnknown
	})
	requireContains(t, condition(obj, codatv1.ConditionReady).Message, codatv1.AnnotationPaused, `"yes"`)
	if obj.Status.ObservedGeneration != 0 {
		t.Errorf("observedGeneration %d on an object never reconciled", obj.Status.ObservedGeneration)
	}
	if got := condition(obj, codatv1.ConditionReconciling); got.Status != metav1.ConditionFalse || got.Reason != codatv1.ReasonPaused {
		t.Errorf("Reconciling=%s/%s while paused", got.Status, got.Reason)
	}
	c.poll("sleepy")
	time.Sleep(2 * time.Second) // a window for calls that must not happen
	if obj = c.get("sleepy"); obj.Status.ConnectionID != "" || createPendingSet(obj) {
		t.Fatalf("a paused object got a connection: %+v", obj.Status)
	}
	if n := len(c.requests("")); n != 0 {
		t.Fatalf("%d Codat calls while paused, want 0", n)
	}

	c.update("sleepy", func(o *codatv1.CodatConnection) { delete(o.Annotations, codatv1.AnnotationPaused) })
	c.waitCondition("sleepy", codatv1.ConditionReady, metav1.ConditionFalse, codatv1.ReasonAwaitingAuthorization)
	if c.creates() != 1 {
		t.Fatalf("%d creates after resuming, want 1", c.creates())
	}
}

func createPendingSet(o *codatv1.CodatConnection) bool {
	_, ok := o.Annotations[codatv1.AnnotationCreatePending]
	return ok
}
