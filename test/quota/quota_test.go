// Package quota tests that the operator lives within Codat's quota: a request budget that keeps its
// polls within a share of the daily quota (a "day" shortened to seconds here), writes that always go
// out, a pause below the floor until the quota resets, and a work queue where one busy company does
// not starve the others. Each test has its own manager and simulator (test/rig).
package quota

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
	"github.com/codat-operator/codat-operator/internal/budget"
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

// eager polls every connection five times a second: without a budget, 100 connections would spend
// a quota of 1,000 in two seconds.
var eager = controller.Intervals{PendingAuth: 200 * time.Millisecond, Settled: 200 * time.Millisecond,
	BackoffBase: 200 * time.Millisecond, BackoffMax: time.Second}

// settle starts a quota period of length day, creates n connections that are settled at once
// (desired Unlinked) and waits for them.
func settle(t *testing.T, r *rig.Rig, n, quota int, day time.Duration) {
	t.Helper()
	if err := r.Sim.SetFaults(codatsim.Faults{Quota: quota, QuotaWindow: day}); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		r.CreateWith(fmt.Sprintf("c-%03d", i), func(o *codatv1.CodatConnection) { o.Spec.State = codatv1.StateUnlinked })
	}
	for i := range n {
		r.WaitReady(fmt.Sprintf("c-%03d", i), codatv1.ReasonUnlinked, time.Minute)
	}
}

// window counts, over one quota period of the simulator, the requests the operator made (its
// companies) and those the test made as the user's application (another company).
type window struct {
	operator, user int
	mode           float64
}

// userCompany is the company the "user's application" calls: the quota is the account's, shared.
const userCompany = "0b5d6e7f-8a9b-4c1d-9e2f-3a4b5c6d7e8f"

// spend makes n requests as the user's own application.
func spend(t *testing.T, r *rig.Rig, n int) {
	t.Helper()
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(rig.APIKey))
	for range n {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, r.SimURL+"/companies/"+userCompany+"/connections", http.NoBody)
		req.Header.Set("Authorization", auth)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
	}
}

// period runs one quota period of length d, with user requests made at its start, and counts; it
// also notes the highest budget mode the metric showed.
func period(t *testing.T, r *rig.Rig, quota int, d time.Duration, user int) window {
	t.Helper()
	if err := r.Sim.SetFaults(codatsim.Faults{Quota: quota, QuotaWindow: d}); err != nil {
		t.Fatal(err)
	}
	start := len(r.Sim.Requests())
	spend(t, r, user)
	var w window
	for end := time.Now().Add(d - 500*time.Millisecond); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		w.mode = max(w.mode, r.Metric(budget.MetricMode, nil))
	}
	for _, q := range r.Sim.Requests()[start:] {
		if q.StatusCode == http.StatusTooManyRequests {
			continue // refused: not spent
		}
		if q.CompanyID == userCompany {
			w.user++
		} else {
			w.operator++
		}
	}
	return w
}

// Over a (shortened) day, 200 connections that would poll five times a second stay within the
// operator's share of the quota; the objects and the metric say their polls are stretched.
func TestPollsStayWithinTheShare(t *testing.T) {
	t.Parallel()
	const quota, share, day = 1000, 0.5, 12 * time.Second
	r := rig.New(t, env, k8s, rig.Options{Intervals: eager, Sim: codatsim.Options{Companies: []string{userCompany}},
		Budget: &budget.Options{Share: share, Floor: 0.1, Period: day}})
	settle(t, r, 200, quota, day)
	w := period(t, r, quota, day, 0)
	t.Logf("over a day the operator made %d requests; its share is %d", w.operator, int(share*quota))
	if most := int(share*quota) + 15; w.operator > most {
		t.Fatalf("the operator made %d requests in a day with a quota of %d and a share of %.1f: over %d", w.operator, quota, share, most)
	}
	if w.operator < 100 {
		t.Fatalf("the operator made %d requests: the test proves nothing", w.operator)
	}
	stretched := 0
	var list codatv1.CodatConnectionList
	if err := k8s.List(context.Background(), &list, client.InNamespace(r.NS)); err != nil {
		t.Fatal(err)
	}
	for _, o := range list.Items {
		if c := meta.FindStatusCondition(o.Status.Conditions, codatv1.ConditionSynced); c != nil && c.Reason == codatv1.ReasonPollsStretched {
			stretched++
		}
	}
	if stretched == 0 {
		t.Error("no object says its polls are stretched")
	}
	if w.mode != float64(budget.Stretched) {
		t.Errorf("%s showed at most %v, want %d (stretched)", budget.MetricMode, w.mode, budget.Stretched)
	}
}

// The user's own calls leave the operator less, and it uses less.
func TestTheUsersCallsReduceWhatTheOperatorUses(t *testing.T) {
	t.Parallel()
	const quota, day = 1000, 10 * time.Second
	// 20 connections polled every second want 200 requests a day: within the operator's share of
	// 500 beside a quiet application, not beside one that spends 750 of the 1,000.
	everySecond := controller.Intervals{PendingAuth: time.Second, Settled: time.Second, BackoffBase: 200 * time.Millisecond, BackoffMax: time.Second}
	r := rig.New(t, env, k8s, rig.Options{Intervals: everySecond, Sim: codatsim.Options{Companies: []string{userCompany}},
		Budget: &budget.Options{Share: 0.5, Floor: 0.1, Period: day}})
	settle(t, r, 20, quota, day)
	quiet := period(t, r, quota, day, 0)
	busy := period(t, r, quota, day, 750)
	if busy.user != 750 {
		t.Fatalf("the user's application made %d requests, want 750", busy.user)
	}
	if quiet.operator < 150 {
		t.Fatalf("beside a quiet application the operator made %d requests, want about 200: the test proves nothing", quiet.operator)
	}
	if busy.operator >= quiet.operator {
		t.Fatalf("beside a busy application the operator made %d requests, beside a quiet one %d: the user's calls did not reduce its use",
			busy.operator, quiet.operator)
	}
	// 1,000 - 750 leaves 250, of which the floor keeps 100.
	if most := quota - 750 - 100 + 15; busy.operator > most {
		t.Fatalf("the operator made %d requests beside the busy application, over the %d left above the floor", busy.operator, most)
	}
}

// A quota used up by the user's application: no poll until it resets, and the objects say why;
// after the reset the polls resume by themselves. A write still goes out below the floor.
func TestUsedUpQuotaHoldsPollsUntilTheReset(t *testing.T) {
	t.Parallel()
	const quota, day = 400, 8 * time.Second
	r := rig.New(t, env, k8s, rig.Options{Intervals: eager, Sim: codatsim.Options{Companies: []string{userCompany}},
		Budget: &budget.Options{Share: 0.5, Floor: 0.1, Period: day}})
	settle(t, r, 10, quota, day)
	// A new period in which the user's application has already spent all but 20 requests, below
	// the floor of 40. Spent all at once: spent over a second, polls in between would see the quota
	// fall, stretch to the reset and never meet the floor, a different (and also correct) path.
	reset := time.Now().Add(day)
	if err := r.Sim.SetFaults(codatsim.Faults{Quota: quota, QuotaWindow: day, QuotaUsed: quota - 20}); err != nil {
		t.Fatal(err)
	}
	// The first poll in the new period learns it; c-000 says so at its next planned look, which
	// a change of plan does not bring forward, and which is at most an interval past the reset
	// of the earlier period, before this one's.
	r.WaitFor("c-000", "Synced=False/QuotaLow", day, func(o *codatv1.CodatConnection) bool {
		c := meta.FindStatusCondition(o.Status.Conditions, codatv1.ConditionSynced)
		return c != nil && c.Reason == codatv1.ReasonQuotaLow
	})
	// Polls that passed the budget before it knew may still finish; none starts from here on.
	time.Sleep(time.Second)
	polls := r.Calls(codatapi.OpGetConnection)

	// A write the user asks for goes out anyway.
	r.CreateWith("asked-for", nil)
	r.WaitReady("asked-for", codatv1.ReasonAwaitingAuthorization, 5*time.Second)
	for time.Until(reset) > 300*time.Millisecond {
		if n := r.Calls(codatapi.OpGetConnection) - polls; n != 0 {
			t.Fatalf("%d polls below the floor, before the quota reset", n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.WaitFor("c-000", "polled again after the reset", 20*time.Second, func(o *codatv1.CodatConnection) bool {
		c := meta.FindStatusCondition(o.Status.Conditions, codatv1.ConditionSynced)
		return r.Calls(codatapi.OpGetConnection) > polls && c != nil && c.Status == metav1.ConditionTrue
	})
}

// One company's mass apply does not starve another's: its one new object is created among the
// first, not after all of the busy company's; and no company has more than 10 requests in flight.
func TestOneBusyCompanyDoesNotStarveTheOthers(t *testing.T) {
	t.Parallel()
	r := rig.New(t, env, k8s, rig.Options{Intervals: eager, RequestsPerSecond: 5, Burst: 1, Companies: 2, Workers: 4})
	for i := range 40 {
		r.Create(fmt.Sprintf("busy-%02d", i))
	}
	r.CreateWith("quiet", func(o *codatv1.CodatConnection) { o.Spec.CompanyID = r.Companies[1] })
	r.WaitReady("quiet", codatv1.ReasonAwaitingAuthorization, time.Minute)
	var creates []string
	for _, q := range r.Sim.Requests() {
		if q.Operation == codatapi.OpCreateConnection {
			creates = append(creates, q.CompanyID)
		}
	}
	position := -1
	for i, company := range creates {
		if company == r.Companies[1] {
			position = i
		}
	}
	if position < 0 || position > 12 {
		t.Fatalf("the quiet company's create came %dth of %d: behind the busy company's mass apply", position+1, len(creates))
	}
	for _, company := range r.Companies {
		if n := r.Sim.MaxInFlight(company); n > 10 {
			t.Fatalf("%d requests in flight for one company, over Codat's 10", n)
		}
	}
}
