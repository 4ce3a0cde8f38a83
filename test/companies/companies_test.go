// Package companies tests CodatCompanies with the real reconcilers against a real API server, the
// simulator over real HTTP and, where a test asks, Codat's webhooks: what changes in Codat outside
// the operator, and what the connections that name a company do then. Each test has its own
// namespace, simulator and manager (test/rig).
package companies

import (
	"context"
	"strings"
	"testing"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
	"github.com/codat-operator/codat-operator/internal/codatapi"
	"github.com/codat-operator/codat-operator/internal/codatsim"
	"github.com/codat-operator/codat-operator/internal/controller"
	"github.com/codat-operator/codat-operator/internal/testenv"
	"github.com/codat-operator/codat-operator/test/rig"
)

var (
	env *testenv.Env
	k8s client.Client
)

func TestMain(m *testing.M) {
	testenv.MainWithManagers(m, func(e *testenv.Env, c client.Client) { env, k8s = e, c })
}

// slow makes every poll an hour away: only webhooks and the test's changes bring a look.
var slow = controller.Intervals{PendingAuth: time.Hour, Settled: time.Hour, SafetyNet: time.Hour, BackoffBase: 200 * time.Millisecond, BackoffMax: time.Second}

func createCompany(t *testing.T, r *rig.Rig, name string, mutate func(*codatv1.CodatCompany)) {
	t.Helper()
	o := &codatv1.CodatCompany{ObjectMeta: metav1.ObjectMeta{Namespace: r.NS, Name: name},
		Spec: codatv1.CodatCompanySpec{Name: "Wayne Trading Ltd", Tags: map[string]string{"region": "uk"},
			CredentialsRef: &codatv1.SecretKeyReference{Name: "codat"}}}
	if mutate != nil {
		mutate(o)
	}
	if err := k8s.Create(context.Background(), o); err != nil {
		t.Fatal(err)
	}
}

func getCompany(t *testing.T, r *rig.Rig, name string) *codatv1.CodatCompany {
	t.Helper()
	o := &codatv1.CodatCompany{}
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: r.NS, Name: name}, o); err != nil {
		t.Fatal(err)
	}
	return o
}

// waitWayne polls the CodatCompany wayne until ok.
func waitWayne(t *testing.T, r *rig.Rig, what string, ok func(*codatv1.CodatCompany) bool) *codatv1.CodatCompany {
	t.Helper()
	var last *codatv1.CodatCompany
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if last = getCompany(t, r, "wayne"); ok(last) {
			return last
		}
	}
	t.Fatalf("wayne never became %s; status %+v", what, last.Status)
	return nil
}

func applied(o *codatv1.CodatCompany) bool {
	c := meta.FindStatusCondition(o.Status.Conditions, codatv1.ConditionReady)
	return c != nil && c.Reason == codatv1.ReasonCompanyApplied && c.ObservedGeneration == o.Generation && o.Status.CompanyID != ""
}

// eventReasons lists the reasons of the events recorded for the rig's objects.
func eventReasons(t *testing.T, r *rig.Rig) []string {
	t.Helper()
	var list eventsv1.EventList
	if err := k8s.List(context.Background(), &list, client.InNamespace(r.NS)); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range list.Items {
		out = append(out, e.Reason)
	}
	return out
}

// A change of the spec is applied once; a change made in Codat (its portal) is put back at the
// next look, and an event says so.
func TestDriftIsPutBack(t *testing.T) {
	t.Parallel()
	r := rig.New(t, env, k8s, rig.Options{Intervals: controller.Intervals{PendingAuth: time.Second, Settled: time.Second,
		BackoffBase: 200 * time.Millisecond, BackoffMax: time.Second}})
	createCompany(t, r, "wayne", nil)
	id := waitWayne(t, r, "applied", applied).Status.CompanyID

	o := getCompany(t, r, "wayne")
	o.Spec.Description = ptr.To("Applied for invoice finance")
	if err := k8s.Update(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	waitWayne(t, r, "applied again", applied)
	if c, _ := r.Sim.Company(id); c.Description != "Applied for invoice finance" {
		t.Fatalf("Codat's description %q after the spec changed", c.Description)
	}
	replaces := r.Sim.Count(codatapi.OpReplaceCompany)
	if replaces != 1 {
		t.Fatalf("%d replace-company calls for one change of the spec", replaces)
	}

	if _, err := r.Sim.EditCompany(id, codatsim.CompanyEdit{Name: ptr.To("Renamed in the portal"), Tags: map[string]string{}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for c, _ := r.Sim.Company(id); c.Name != "Wayne Trading Ltd" || c.Tags["region"] != "uk"; c, _ = r.Sim.Company(id) {
		if time.Now().After(deadline) {
			t.Fatalf("the change made in Codat was not put back: %+v", c)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := r.Sim.Count(codatapi.OpReplaceCompany) - replaces; n != 1 {
		t.Fatalf("%d replace-company calls to put back one change", n)
	}
	waitEvent(t, r, "ChangedInCodat")
}

func waitEvent(t *testing.T, r *rig.Rig, reason string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		for _, got := range eventReasons(t, r) {
			if got == reason {
				return
			}
		}
	}
	t.Fatalf("no %s event; events %v", reason, eventReasons(t, r))
}

// A company the operator created and someone deleted in Codat (with its connections) is created
// anew, at once through the company.deleted webhook; the connections that name it follow it into
// the new company. One that names the company by id instead is told the company is gone.
func TestACompanyDeletedInCodatIsCreatedAnew(t *testing.T) {
	t.Parallel()
	r := rig.New(t, env, k8s, rig.Options{Webhooks: true, Intervals: slow})
	createCompany(t, r, "wayne", nil)
	old := waitWayne(t, r, "applied", applied).Status.CompanyID
	r.CreateWith("wayne-xero", func(o *codatv1.CodatConnection) {
		o.Spec.CompanyID, o.Spec.CompanyRef = "", &codatv1.CodatCompanyReference{Name: "wayne"}
	})
	r.WaitReady("wayne-xero", codatv1.ReasonAwaitingAuthorization, 15*time.Second)

	if err := r.Sim.DeleteCompany(old); err != nil {
		t.Fatal(err)
	}
	renewed := waitWayne(t, r, "a new company", func(o *codatv1.CodatCompany) bool {
		return applied(o) && o.Status.CompanyID != old
	})
	conn := r.WaitFor("wayne-xero", "in the new company", 15*time.Second, func(o *codatv1.CodatConnection) bool {
		return o.Status.CompanyID == renewed.Status.CompanyID && o.Status.ConnectionStatus == codatapi.StatusPendingAuth
	})
	if conns := r.Sim.Connections(renewed.Status.CompanyID); len(conns) != 1 || conns[0].ID != conn.Status.ConnectionID {
		t.Fatalf("the new company's connections: %+v, the object's %s", conns, conn.Status.ConnectionID)
	}
	for _, want := range []string{"RemoteDeleted", "CompanyReplaced"} {
		waitEvent(t, r, want)
	}
	if got := eventReasons(t, r); strings.Contains(strings.Join(got, " "), "CompanyNotFound") {
		t.Fatalf("a connection that follows its CodatCompany stalled on the way: events %v", got)
	}
}
