package integration_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
	"github.com/codat-operator/codat-operator/internal/codatapi"
	"github.com/codat-operator/codat-operator/internal/codatsim"
)

// These tests inject faults into the whole simulator, so they do not run in
// parallel; Go runs them before the parallel tests.

// A 429 with Retry-After: 2 keeps the object away from Codat for 2 seconds.
func TestRetryAfterIsHonoured(t *testing.T) {
	c := newCase(t)
	setFaults(t, codatsim.Faults{RateLimitNext: 1, RetryAfter: 2 * time.Second})
	c.create("throttled", nil)
	c.waitCondition("throttled", codatv1.ConditionReady, metav1.ConditionFalse, codatv1.ReasonAwaitingAuthorization)

	reqs := c.requests("")
	if len(reqs) < 2 || reqs[0].StatusCode != http.StatusTooManyRequests {
		t.Fatalf("want a 429 first, then more requests; got %+v", reqs)
	}
	if gap := reqs[1].Time.Sub(reqs[0].Time); gap < 2*time.Second {
		t.Fatalf("the next request came %s after the 429, before its Retry-After of 2s", gap)
	}
	if c.creates() != 1 || len(c.connections()) != 1 {
		t.Fatalf("%d creates, %d connections; want 1 and 1", c.creates(), len(c.connections()))
	}
}

// With half of all requests failing, 20 objects all reach their state,
// with exactly one connection each.
func TestTransientErrorsConverge(t *testing.T) {
	setFaults(t, codatsim.Faults{ErrorRate: map[string]float64{"*": 0.5}, ErrorStatus: 503})
	cases := make([]*tcase, 20)
	for i := range cases {
		cases[i] = newCase(t)
		// Each pass now succeeds with a chance of 1 in 4 (list, then create),
		// and waits up to BackoffMax after a failure.
		cases[i].timeout = 3 * time.Minute
		cases[i].create(fmt.Sprintf("flaky-%d", i), nil)
	}
	var wg sync.WaitGroup
	for i, c := range cases {
		wg.Go(func() {
			c.waitCondition(fmt.Sprintf("flaky-%d", i), codatv1.ConditionReady, metav1.ConditionFalse, codatv1.ReasonAwaitingAuthorization)
		})
	}
	wg.Wait()
	failed := 0
	for _, c := range cases {
		if c.creates() != 1 || len(c.connections()) != 1 {
			t.Errorf("company %s: %d creates, %d connections; want 1 and 1", c.company, c.creates(), len(c.connections()))
		}
		for _, r := range c.requests("") {
			if r.StatusCode == http.StatusServiceUnavailable {
				failed++
			}
		}
	}
	if failed == 0 {
		t.Fatalf("no request failed: the fault injection did not happen")
	}
}

// A create that Codat commits but whose reply is lost is recovered by
// listing, not repeated.
func TestLostCreateResponseMakesNoDuplicate(t *testing.T) {
	c := newCase(t)
	setFaults(t, codatsim.Faults{LoseCreateResponseNext: 1})
	c.create("lost", nil)
	obj := c.waitCondition("lost", codatv1.ConditionReady, metav1.ConditionFalse, codatv1.ReasonAwaitingAuthorization)

	conns := c.connections()
	if len(conns) != 1 || conns[0].ID != obj.Status.ConnectionID {
		t.Fatalf("Codat holds %+v; want exactly the one in status (%s)", conns, obj.Status.ConnectionID)
	}
	if n := len(c.requests(codatapi.OpCreateConnection)); n != 1 {
		t.Fatalf("%d POSTs, want the 1 whose reply was lost", n)
	}
	if n := len(c.requests(codatapi.OpListConnections)); n < 1 {
		t.Fatalf("recovered without listing")
	}
}
