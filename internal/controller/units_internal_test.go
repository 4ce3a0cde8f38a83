package controller

import (
	"testing"
	"time"

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
