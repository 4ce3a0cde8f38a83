package v1alpha1_test

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
)

const (
	companyA = "8a210b68-6988-11ed-a1eb-0242ac120002"
	companyB = "2f4e1c3a-5b6d-4e7f-8a9b-0c1d2e3f4a5b"
	connA    = "3f0c2a7e-9b1d-4c55-8e21-6a7d0b9c1e42"
	connB    = "6b1f4f0a-2c3d-4e5f-8a9b-0c1d2e3f4a5b"
)

func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "crd-" + rand.String(8)}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), ns) })
	return ns.Name
}

func connection(ns string, mutate func(*codatv1.CodatConnection)) *codatv1.CodatConnection {
	c := &codatv1.CodatConnection{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "c-" + rand.String(6)},
		Spec:       codatv1.CodatConnectionSpec{CompanyID: companyA, PlatformKey: "gbol"},
	}
	if mutate != nil {
		mutate(c)
	}
	return c
}

func TestDefaults(t *testing.T) {
	c := connection(newNamespace(t), nil)
	if err := k8s.Create(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if c.Spec.State != codatv1.StateLinked || c.Spec.DeletionPolicy != codatv1.DeletionPolicyDelete {
		t.Fatalf("defaults: state=%q deletionPolicy=%q, want Linked and Delete", c.Spec.State, c.Spec.DeletionPolicy)
	}

	withCreds := connection(c.Namespace, func(c *codatv1.CodatConnection) {
		c.Spec.CredentialsRef = &codatv1.SecretKeyReference{Name: "codat"}
	})
	if err := k8s.Create(context.Background(), withCreds); err != nil {
		t.Fatal(err)
	}
	if got := withCreds.Spec.CredentialsRef.Key; got != codatv1.DefaultCredentialsKey {
		t.Fatalf("credentialsRef.key defaulted to %q, want %q", got, codatv1.DefaultCredentialsKey)
	}
}

func TestInvalidSpecsAreRejectedOnCreate(t *testing.T) {
	ns := newNamespace(t)
	cases := []struct {
		name      string
		mutate    func(*codatv1.CodatConnection)
		wantField string
	}{
		{"missing companyId", func(c *codatv1.CodatConnection) { c.Spec.CompanyID = "" }, "spec.companyId"},
		{"companyId not a UUID", func(c *codatv1.CodatConnection) { c.Spec.CompanyID = "acme" }, "spec.companyId"},
		{"platformKey upper case", func(c *codatv1.CodatConnection) { c.Spec.PlatformKey = "XERO" }, "spec.platformKey"},
		{"platformKey too short", func(c *codatv1.CodatConnection) { c.Spec.PlatformKey = "abc" }, "spec.platformKey"},
		{"platformKey too long", func(c *codatv1.CodatConnection) { c.Spec.PlatformKey = "abcde" }, "spec.platformKey"},
		{"unknown state", func(c *codatv1.CodatConnection) { c.Spec.State = "Paused" }, "spec.state"},
		{"unknown deletionPolicy", func(c *codatv1.CodatConnection) { c.Spec.DeletionPolicy = "Retain" }, "spec.deletionPolicy"},
		{"connectionId not a UUID", func(c *codatv1.CodatConnection) { c.Spec.ConnectionID = "conn-1" }, "spec.connectionId"},
		{"empty credentials Secret name", func(c *codatv1.CodatConnection) {
			c.Spec.CredentialsRef = &codatv1.SecretKeyReference{}
		}, "spec.credentialsRef.name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := k8s.Create(context.Background(), connection(ns, tc.mutate))
			requireInvalid(t, err, tc.wantField)
		})
	}
}

func TestImmutableFields(t *testing.T) {
	ns := newNamespace(t)
	cases := []struct {
		name      string
		initial   func(*codatv1.CodatConnection)
		update    func(*codatv1.CodatConnection)
		wantField string
		wantText  string
	}{
		{"companyId changed", nil, func(c *codatv1.CodatConnection) { c.Spec.CompanyID = companyB }, "spec.companyId", "immutable"},
		{"platformKey changed", nil, func(c *codatv1.CodatConnection) { c.Spec.PlatformKey = "qhyg" }, "spec.platformKey", "immutable"},
		{"connectionId changed",
			func(c *codatv1.CodatConnection) { c.Spec.ConnectionID = connA },
			func(c *codatv1.CodatConnection) { c.Spec.ConnectionID = connB }, "spec.connectionId", "cannot be changed or removed"},
		{"connectionId removed",
			func(c *codatv1.CodatConnection) { c.Spec.ConnectionID = connA },
			func(c *codatv1.CodatConnection) { c.Spec.ConnectionID = "" }, "spec.connectionId", "cannot be changed or removed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := connection(ns, tc.initial)
			if err := k8s.Create(context.Background(), c); err != nil {
				t.Fatal(err)
			}
			tc.update(c)
			err := k8s.Update(context.Background(), c)
			requireInvalid(t, err, tc.wantField)
			if !strings.Contains(err.Error(), tc.wantText) {
				t.Fatalf("error %q does not say %q", err, tc.wantText)
			}
		})
	}
}

func TestAllowedChanges(t *testing.T) {
	ns := newNamespace(t)
	c := connection(ns, nil)
	if err := k8s.Create(context.Background(), c); err != nil {
		t.Fatal(err)
	}

	c.Spec.ConnectionID = connA
	if err := k8s.Update(context.Background(), c); err != nil {
		t.Fatalf("setting connectionId on an object that had none: %v", err)
	}
	for _, policy := range []codatv1.DeletionPolicy{codatv1.DeletionPolicyOrphan, codatv1.DeletionPolicyUnlink, codatv1.DeletionPolicyDelete} {
		c.Spec.DeletionPolicy = policy
		if err := k8s.Update(context.Background(), c); err != nil {
			t.Fatalf("changing deletionPolicy to %s: %v", policy, err)
		}
	}
	c.Spec.State = codatv1.StateUnlinked
	if err := k8s.Update(context.Background(), c); err != nil {
		t.Fatalf("changing state: %v", err)
	}
	c.Spec.ConnectionID = connA // unchanged connectionId with other edits stays valid
	c.Spec.Authorization = &codatv1.AuthorizationSource{SecretRef: codatv1.LocalSecretReference{Name: "tokens"}}
	if err := k8s.Update(context.Background(), c); err != nil {
		t.Fatalf("adding an authorization Secret: %v", err)
	}
}

// requireInvalid checks that the API server refused the write as invalid,
// naming the field, so users see what to fix.
func requireInvalid(t *testing.T, err error, field string) {
	t.Helper()
	if err == nil {
		t.Fatalf("the API server accepted it; want a rejection naming %s", field)
	}
	if !apierrors.IsInvalid(err) {
		t.Fatalf("want an Invalid error, got %v", err)
	}
	if !strings.Contains(err.Error(), field) {
		t.Fatalf("error %q does not name %s", err, field)
	}
}
