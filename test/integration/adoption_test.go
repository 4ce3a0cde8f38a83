package integration_test

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
	"github.com/codat-operator/codat-operator/internal/codatapi"
	"github.com/codat-operator/codat-operator/internal/codatclient"
)

// existing makes a connection in Codat the way someone outside the operator would.
func existing(t *testing.T, company, platform string) *codatclient.Connection {
	t.Helper()
	conn, err := outsideClient(t).CreateConnection(context.Background(), apiKey, company, platform)
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

func outsideClient(t *testing.T) *codatclient.Client {
	t.Helper()
	c, err := codatclient.New(codatclient.Options{BaseURL: simURL})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Adoption by spec.connectionId.
func TestAdoption(t *testing.T) {
	t.Parallel()
	t.Run("an existing connection is adopted without a create", func(t *testing.T) {
		t.Parallel()
		c := newCase(t)
		conn := existing(t, c.company, "gbol")
		c.create("adopter", func(o *codatv1.CodatConnection) { o.Spec.ConnectionID = conn.ID })
		obj := c.waitCondition("adopter", codatv1.ConditionReady, metav1.ConditionFalse, codatv1.ReasonAwaitingAuthorization)
		if obj.Status.ConnectionID != conn.ID {
			t.Fatalf("status.connectionId=%s, want %s", obj.Status.ConnectionID, conn.ID)
		}
		if n := c.creates(); n != 1 { // the one made outside
			t.Fatalf("%d creates, want only the one made outside", n)
		}
		c.waitEvent("adopter", "Adopted")
	})
	t.Run("a connection of another platform is refused", func(t *testing.T) {
		t.Parallel()
		c := newCase(t)
		conn := existing(t, c.company, "qhyg")
		c.create("wrong", func(o *codatv1.CodatConnection) { o.Spec.ConnectionID = conn.ID })
		obj := c.waitCondition("wrong", codatv1.ConditionStalled, metav1.ConditionTrue, codatv1.ReasonPlatformMismatch)
		requireContains(t, condition(obj, codatv1.ConditionStalled).Message, conn.ID, "qhyg", "gbol")
		if obj.Status.ConnectionID != "" || controllerutil.ContainsFinalizer(obj, codatv1.Finalizer) {
			t.Fatalf("a refused connection was recorded: %+v", obj)
		}
	})
	t.Run("a connection owned by another object is refused", func(t *testing.T) {
		t.Parallel()
		c := newCase(t)
		c.create("owner", nil)
		owned := c.waitCondition("owner", codatv1.ConditionReady, metav1.ConditionFalse, codatv1.ReasonAwaitingAuthorization).Status.ConnectionID
		c.create("usurper", func(o *codatv1.CodatConnection) { o.Spec.ConnectionID = owned })
		obj := c.waitCondition("usurper", codatv1.ConditionStalled, metav1.ConditionTrue, codatv1.ReasonAlreadyOwned)
		requireContains(t, condition(obj, codatv1.ConditionStalled).Message, owned, c.ns+"/owner")

		// Deleting the refused object must not touch the owner's connection.
		c.delete("usurper")
		c.waitGone("usurper")
		if len(c.connections()) != 1 || len(c.requests(codatapi.OpDeleteConnection)) != 0 {
			t.Fatalf("deleting the refused object touched the owner's connection")
		}
	})
	t.Run("an adopted connection deleted outside is not replaced", func(t *testing.T) {
		t.Parallel()
		c := newCase(t)
		conn := existing(t, c.company, "gbol")
		c.create("adopted", func(o *codatv1.CodatConnection) { o.Spec.ConnectionID = conn.ID })
		c.waitCondition("adopted", codatv1.ConditionReady, metav1.ConditionFalse, codatv1.ReasonAwaitingAuthorization)
		if err := sim.DeleteConnection(c.company, conn.ID); err != nil {
			t.Fatal(err)
		}
		c.poll("adopted")
		c.waitCondition("adopted", codatv1.ConditionStalled, metav1.ConditionTrue, codatv1.ReasonConnectionNotFound)
		if c.creates() != 1 {
			t.Fatalf("an adopted connection was replaced")
		}
	})
}

// An object left with the create-pending marker and no id recovers by
// listing: one match is adopted without a create, two are for a person.
func TestCreatePendingRecovery(t *testing.T) {
	t.Parallel()
	pending := func(o *codatv1.CodatConnection) {
		o.Annotations = map[string]string{codatv1.AnnotationCreatePending: time.Now().Add(-time.Minute).UTC().Format(time.RFC3339Nano)}
		o.Finalizers = []string{codatv1.Finalizer}
	}
	t.Run("one match is adopted", func(t *testing.T) {
		t.Parallel()
		c := newCase(t)
		conn := existing(t, c.company, "gbol")
		existing(t, c.company, "qhyg") // another platform: never a candidate
		c.create("interrupted", pending)
		obj := c.waitCondition("interrupted", codatv1.ConditionReady, metav1.ConditionFalse, codatv1.ReasonAwaitingAuthorization)
		if obj.Status.ConnectionID != conn.ID {
			t.Fatalf("recovered %s, want %s", obj.Status.ConnectionID, conn.ID)
		}
		if c.creates() != 2 {
			t.Fatalf("%d creates, want only the 2 made outside", c.creates())
		}
	})
	t.Run("two matches stall with both ids", func(t *testing.T) {
		t.Parallel()
		c := newCase(t)
		a, b := existing(t, c.company, "gbol"), existing(t, c.company, "gbol")
		c.create("ambiguous", pending)
		obj := c.waitCondition("ambiguous", codatv1.ConditionStalled, metav1.ConditionTrue, codatv1.ReasonAmbiguousCreate)
		requireContains(t, condition(obj, codatv1.ConditionStalled).Message, a.ID, b.ID, "spec.connectionId")
		if c.creates() != 2 {
			t.Fatalf("%d creates, want only the 2 made outside", c.creates())
		}
		// The user picks one.
		c.update("ambiguous", func(o *codatv1.CodatConnection) { o.Spec.ConnectionID = b.ID })
		obj = c.waitCondition("ambiguous", codatv1.ConditionReady, metav1.ConditionFalse, codatv1.ReasonAwaitingAuthorization)
		if obj.Status.ConnectionID != b.ID {
			t.Fatalf("status.connectionId=%s, want the picked %s", obj.Status.ConnectionID, b.ID)
		}
	})
}
