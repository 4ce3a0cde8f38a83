package controller

import (
	"testing"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
	"github.com/codat-operator/codat-operator/internal/codatclient"
)

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
