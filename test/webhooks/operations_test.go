package webhooks

import (
	"context"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/util/uuid"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
	"github.com/codat-operator/codat-operator/internal/codatapi"
	"github.com/codat-operator/codat-operator/internal/codatclient"
	"github.com/codat-operator/codat-operator/internal/controller"
	"github.com/codat-operator/codat-operator/test/rig"
)

// What an operations team watches: each change Codat reports that the
// operator did not make is an event, and the gauges count the objects by
// Codat's status and Ready's reason, and the Stalled ones by reason; failed
// passes are counted by class.
func TestOutsideChangesAreEventsAndCounted(t *testing.T) {
	t.Parallel()
	r := rig.New(t, env, k8s, rig.Options{Webhooks: true, Intervals: slow})
	wantConnections := func(status, reason string, want float64) {
		t.Helper()
		r.WaitMetric(controller.MetricConnections, map[string]string{"connection_status": status, "ready_reason": reason}, want, 5*time.Second)
	}

	obj := r.Awaiting("acme")
	id := obj.Status.ConnectionID
	wantConnections(codatapi.StatusPendingAuth, codatv1.ReasonAwaitingAuthorization, 1)

	// The business links.
	if err := r.Sim.Link(r.Company, id); err != nil {
		t.Fatal(err)
	}
	r.WaitReady("acme", codatv1.ReasonLinked, 10*time.Second)
	requireNote(t, waitEvent(t, r, "acme", "Linked"), id, "the business authorized it")
	wantConnections(codatapi.StatusLinked, codatv1.ReasonLinked, 1)
	wantConnections(codatapi.StatusPendingAuth, codatv1.ReasonAwaitingAuthorization, 0)

	// Codat loses access.
	if err := r.Sim.Deauthorize(r.Company, id); err != nil {
		t.Fatal(err)
	}
	r.WaitReady("acme", codatv1.ReasonDeauthorized, 10*time.Second)
	requireNote(t, waitEvent(t, r, "acme", codatv1.ReasonDeauthorized), id, "lost access")
	wantConnections(codatapi.StatusDeauthorized, codatv1.ReasonDeauthorized, 1)

	// The business re-links, then the user's own application unlinks the
	// connection through Codat's API, behind the operator's back.
	if err := r.Sim.Link(r.Company, id); err != nil {
		t.Fatal(err)
	}
	r.WaitReady("acme", codatv1.ReasonLinked, 10*time.Second)
	app, err := codatclient.New(codatclient.Options{BaseURL: r.SimURL})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := app.UnlinkConnection(context.Background(), rig.APIKey, r.Company, id); err != nil {
		t.Fatal(err)
	}
	r.WaitReady("acme", codatv1.ReasonUnlinked, 10*time.Second)
	requireNote(t, waitEvent(t, r, "acme", "UnlinkedOutside"), id, "unlinked outside the operator")
	wantConnections(codatapi.StatusUnlinked, codatv1.ReasonUnlinked, 1)

	// A company Codat does not know stalls the object: counted by reason, and
	// the failed pass by class.
	r.CreateWith("unknown", func(o *codatv1.CodatConnection) { o.Spec.CompanyID = string(uuid.NewUUID()) })
	r.WaitFor("unknown", "Stalled", 10*time.Second, func(o *codatv1.CodatConnection) bool {
		c := meta.FindStatusCondition(o.Status.Conditions, codatv1.ConditionStalled)
		return c != nil && c.Reason == codatv1.ReasonCompanyNotFound
	})
	r.WaitMetric(controller.MetricStalled, map[string]string{"reason": codatv1.ReasonCompanyNotFound}, 1, 5*time.Second)
	wantConnections("", codatv1.ReasonCompanyNotFound, 1) // no connection yet: an empty status
	if n := r.Metric(controller.MetricFailures, map[string]string{"class": string(codatclient.NeedsPerson), "reason": codatv1.ReasonCompanyNotFound}); n < 1 {
		t.Errorf("%s{class=needs-person,reason=CompanyNotFound} = %v, want at least 1", controller.MetricFailures, n)
	}
	if n := r.Metric(controller.MetricFailures, map[string]string{"class": string(codatclient.Transient)}); n != 0 {
		t.Errorf("%s{class=transient} = %v with no transient failure", controller.MetricFailures, n)
	}
}

func requireNote(t *testing.T, note string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(note, w) {
			t.Errorf("event note %q does not say %q", note, w)
		}
	}
}
