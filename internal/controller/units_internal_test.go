package controller

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
	"github.com/codat-operator/codat-operator/internal/codatclient"
)

func TestParseCodatTime(t *testing.T) {
	cases := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"2022-10-27T09:53:29Z", time.Date(2022, 10, 27, 9, 53, 29, 0, time.UTC), true},
		{"2022-10-27T10:22:43.6464237Z", time.Date(2022, 10, 27, 10, 22, 43, 646423700, time.UTC), true},
		{"2021-11-15T01:00:00", time.Date(2021, 11, 15, 1, 0, 0, 0, time.UTC), true},
		{"2021-11-15T01:00:00.1234567", time.Date(2021, 11, 15, 1, 0, 0, 123456700, time.UTC), true},
		{"2021-11-15T03:00:00+02:00", time.Date(2021, 11, 15, 1, 0, 0, 0, time.UTC), true},
		{"2022-10-23", time.Date(2022, 10, 23, 0, 0, 0, 0, time.UTC), true},
		{"yesterday", time.Time{}, false},
	}
	for _, tc := range cases {
		got, ok := parseCodatTime(tc.in)
		if ok != tc.ok || !got.Equal(tc.want) {
			t.Errorf("parseCodatTime(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestNewestErrorsAreBounded(t *testing.T) {
	var errs []codatclient.DataConnectionError
	for _, day := range []string{"03", "07", "01", "05", "02", "06", "04"} {
		errs = append(errs, codatclient.DataConnectionError{ErroredOnUtc: "2024-05-" + day + "T00:00:00Z"})
	}
	got := newestErrors(errs)
	if len(got) != codatv1.MaxDataConnectionErrors {
		t.Fatalf("kept %d errors, want %d", len(got), codatv1.MaxDataConnectionErrors)
	}
	for i, day := range []string{"07", "06", "05", "04", "03"} {
		if want := "2024-05-" + day + "T00:00:00Z"; got[i].ErroredOnUTC != want {
			t.Errorf("error %d is from %s, want %s (newest first)", i, got[i].ErroredOnUTC, want)
		}
	}
}

func TestAuthorizationHashDependsOnContentOnly(t *testing.T) {
	a := authorizationHash(map[string]string{"accessToken": "x", "businessId": "y"})
	b := authorizationHash(map[string]string{"businessId": "y", "accessToken": "x"})
	c := authorizationHash(map[string]string{"accessToken": "x", "businessId": "z"})
	if a != b || a == c || len(a) != 64 {
		t.Fatalf("hashes %s %s %s: want equal for equal content, different otherwise", a, b, c)
	}
}

// Waiting for the business polls sooner at first and less often the longer it waits.
func TestPollIntervalGrowsWhileWaiting(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	r := &Reconciler{Intervals: DefaultIntervals, Now: func() time.Time { return now }}
	waitingSince := func(d time.Duration) *codatv1.CodatConnection {
		return &codatv1.CodatConnection{Status: codatv1.CodatConnectionStatus{Conditions: []metav1.Condition{{
			Type: codatv1.ConditionReady, Status: metav1.ConditionFalse, LastTransitionTime: metav1.NewTime(now.Add(-d)),
		}}}}
	}
	cases := []struct {
		waited   time.Duration
		min, max time.Duration
	}{
		{0, time.Minute, 66 * time.Second},
		{10 * time.Minute, 5 * time.Minute, 330 * time.Second},
		{24 * time.Hour, 10 * time.Minute, 11 * time.Minute},
	}
	out := waiting(codatv1.ReasonAwaitingAuthorization, "")
	for _, tc := range cases {
		got := r.pollInterval(waitingSince(tc.waited), out)
		if got < tc.min || got > tc.max {
			t.Errorf("after waiting %s: poll in %s, want between %s and %s", tc.waited, got, tc.min, tc.max)
		}
	}
	if got := r.pollInterval(waitingSince(0), ready(codatv1.ReasonLinked, "")); got < 10*time.Minute || got > 11*time.Minute {
		t.Errorf("settled: poll in %s, want the poll interval plus jitter", got)
	}
}
