package integration_test

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
	"github.com/codat-operator/codat-operator/internal/codatapi"
)

// The costs docs/design.md holds the operator to ("Costs it is held to"), counted.
func TestCosts(t *testing.T) {
	t.Parallel()
	c := newCase(t)
	// Desired Unlinked: the new PendingAuth connection is settled at once,
	// so no poll for the business's authorization muddles the counts.
	c.create("thrifty", func(o *codatv1.CodatConnection) { o.Spec.State = codatv1.StateUnlinked })
	c.waitCondition("thrifty", codatv1.ConditionReady, metav1.ConditionTrue, codatv1.ReasonUnlinked)

	// Creating: exactly one POST and at most two writes to the object.
	if n := len(c.requests(codatapi.OpCreateConnection)); n != 1 {
		t.Errorf("creating took %d POSTs, want 1", n)
	}
	if n := writes.of(c.key("thrifty")); n > 2 {
		t.Errorf("creating took %d writes to the CodatConnection, want at most 2", n)
	}
	// The operator's own writes caused no further Codat call.
	time.Sleep(2 * time.Second)
	if n := len(c.requests("")); n != 1 {
		t.Errorf("%d Codat calls after creating, want the 1 POST: the operator's own writes must not cause calls", n)
	}

	gets, written := len(c.requests(codatapi.OpGetConnection)), writes.of(c.key("thrifty"))

	c.poll("thrifty")
	c.waitFor("thrifty", "polled", func(*codatv1.CodatConnection) bool {
		return len(c.requests(codatapi.OpGetConnection)) > gets
	})
	time.Sleep(time.Second) // a window for a write or call that must not happen
	if n := len(c.requests(codatapi.OpGetConnection)) - gets; n != 1 {
		t.Errorf("a poll took %d GETs, want 1", n)
	}
	if n := len(c.requests("")) - len(c.requests(codatapi.OpGetConnection)); n != 1 {
		t.Errorf("%d calls other than GET in all, want only the first POST", n)
	}
	if n := writes.of(c.key("thrifty")) - written; n != 0 {
		t.Errorf("a poll that found nothing new wrote the object %d times, want 0", n)
	}
}
