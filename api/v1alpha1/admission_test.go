package v1alpha1_test

import (
	"context"
	"os"
	"path/filepath"
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
	// deletionPolicy has no stored default: unset, the operator picks Delete
	// or Orphan by whether the connection is adopted (status.deletionPolicy).
	if c.Spec.State != codatv1.StateLinked || c.Spec.DeletionPolicy != "" {
		t.Fatalf("defaults: state=%q deletionPolicy=%q, want Linked and unset", c.Spec.State, c.Spec.DeletionPolicy)
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
	long := strings.Repeat("a", 254)
	cases := []struct {
		name      string
		mutate    func(*codatv1.CodatConnection)
		wantField string
		wantText  string
	}{
		{"missing companyId", func(c *codatv1.CodatConnection) { c.Spec.CompanyID = "" }, "spec.companyId", "companyId is required"},
		{"companyId not a UUID", func(c *codatv1.CodatConnection) { c.Spec.CompanyID = "acme" }, "spec.companyId", "must be a UUID"},
		{"platformKey upper case", func(c *codatv1.CodatConnection) { c.Spec.PlatformKey = "XERO" }, "spec.platformKey", "four lowercase letters"},
		{"platformKey too short", func(c *codatv1.CodatConnection) { c.Spec.PlatformKey = "abc" }, "spec.platformKey", "four lowercase letters"},
		{"platformKey too long", func(c *codatv1.CodatConnection) { c.Spec.PlatformKey = "abcde" }, "spec.platformKey", "four lowercase letters"},
		{"unknown state", func(c *codatv1.CodatConnection) { c.Spec.State = "Paused" }, "spec.state", "must be Linked or Unlinked"},
		{"unknown deletionPolicy", func(c *codatv1.CodatConnection) { c.Spec.DeletionPolicy = "Retain" }, "spec.deletionPolicy", "must be Delete, Unlink or Orphan"},
		{"connectionId not a UUID", func(c *codatv1.CodatConnection) { c.Spec.ConnectionID = "conn-1" }, "spec.connectionId", "must be a UUID"},
		{"empty credentials Secret name", func(c *codatv1.CodatConnection) {
			c.Spec.CredentialsRef = &codatv1.SecretKeyReference{}
		}, "spec.credentialsRef.name", "name of a Secret in this namespace"},
		{"credentials Secret in another namespace", func(c *codatv1.CodatConnection) {
			c.Spec.CredentialsRef = &codatv1.SecretKeyReference{Name: "other-ns/creds"}
		}, "spec.credentialsRef.name", "Secrets of other namespaces cannot be named"},
		{"credentials Secret name too long", func(c *codatv1.CodatConnection) {
			c.Spec.CredentialsRef = &codatv1.SecretKeyReference{Name: long}
		}, "spec.credentialsRef.name", "at most 253"},
		{"credentials Secret name with upper case", func(c *codatv1.CodatConnection) {
			c.Spec.CredentialsRef = &codatv1.SecretKeyReference{Name: "Codat"}
		}, "spec.credentialsRef.name", "lowercase letters"},
		{"credentials key that no Secret can have", func(c *codatv1.CodatConnection) {
			c.Spec.CredentialsRef = &codatv1.SecretKeyReference{Name: "codat", Key: "api/key"}
		}, "spec.credentialsRef.key", "must be a key of a Secret"},
		{"authorization Secret in another namespace", func(c *codatv1.CodatConnection) {
			c.Spec.Authorization = &codatv1.AuthorizationSource{SecretRef: codatv1.LocalSecretReference{Name: "Other_NS/tokens"}}
		}, "spec.authorization.secretRef.name", "Secrets of other namespaces cannot be named"},
		{"authorization Secret name empty", func(c *codatv1.CodatConnection) {
			c.Spec.Authorization = &codatv1.AuthorizationSource{}
		}, "spec.authorization.secretRef.name", "name of a Secret in this namespace"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := k8s.Create(context.Background(), connection(ns, tc.mutate))
			requireInvalid(t, err, tc.wantField)
			if !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("error %q does not say %q", err, tc.wantText)
			}
		})
	}
}

// TestRejectionsReadCleanly: what kubectl prints for a bad object names the field and says what is
// wrong, in one line per problem, without the API server's "some validation rules were not
// checked" line (which any failed OpenAPI enum, required or length check adds).
func TestRejectionsReadCleanly(t *testing.T) {
	ns := newNamespace(t)
	cases := map[string]string{
		"missing spec": `{"apiVersion":"codat.io/v1alpha1","kind":"CodatConnection","metadata":{"name":"a"}}`,
		"missing companyId": `{"apiVersion":"codat.io/v1alpha1","kind":"CodatConnection","metadata":{"name":"b"},
			"spec":{"platformKey":"gbol"}}`,
		"missing platformKey": `{"apiVersion":"codat.io/v1alpha1","kind":"CodatConnection","metadata":{"name":"c"},
			"spec":{"companyId":"` + companyA + `"}}`,
		"bad enum values": `{"apiVersion":"codat.io/v1alpha1","kind":"CodatConnection","metadata":{"name":"d"},
			"spec":{"companyId":"` + companyA + `","platformKey":"gbol","state":"Paused","deletionPolicy":"Retain"}}`,
		"credentialsRef without a name": `{"apiVersion":"codat.io/v1alpha1","kind":"CodatConnection","metadata":{"name":"e"},
			"spec":{"companyId":"` + companyA + `","platformKey":"gbol","credentialsRef":{"key":"apiKey"}}}`,
		"too long a Secret name": `{"apiVersion":"codat.io/v1alpha1","kind":"CodatConnection","metadata":{"name":"f"},
			"spec":{"companyId":"` + companyA + `","platformKey":"gbol","authorization":{"secretRef":{"name":"` + strings.Repeat("x", 300) + `"}}}}`,
	}
	for name, manifest := range cases {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "bad.json")
			if err := os.WriteFile(file, []byte(manifest), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := env.Kubectl("create", "-n", ns, "--dry-run=server", "-f", file)
			if err == nil {
				t.Fatalf("accepted")
			}
			t.Logf("%s", err)
			for _, bad := range []string{"some validation rules were not checked", "<nil>"} {
				if strings.Contains(err.Error(), bad) {
					t.Errorf("the rejection says %q: %v", bad, err)
				}
			}
			if !strings.Contains(err.Error(), "spec") {
				t.Errorf("the rejection does not name the field: %v", err)
			}
		})
	}
}

// TestConnectionIDMustBeTheManagedOne: an object that manages a connection cannot be told to
// adopt another one; naming the one it manages is accepted.
func TestConnectionIDMustBeTheManagedOne(t *testing.T) {
	ns := newNamespace(t)
	c := connection(ns, nil)
	if err := k8s.Create(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	c.Status.ConnectionID = connA
	if err := k8s.Status().Update(context.Background(), c); err != nil {
		t.Fatalf("writing status: %v", err)
	}
	c.Spec.ConnectionID = connB
	err := k8s.Update(context.Background(), c)
	requireInvalid(t, err, "spec.connectionId")
	for _, want := range []string{connA, connB, "never switches connections"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	c.Spec.ConnectionID = connA
	if err := k8s.Update(context.Background(), c); err != nil {
		t.Fatalf("naming the connection the object manages: %v", err)
	}
	// The operator's own status writes are not refused by the rule.
	c.Status.ConnectionStatus = "Linked"
	if err := k8s.Status().Update(context.Background(), c); err != nil {
		t.Fatalf("writing status after adoption: %v", err)
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
