package v1alpha1_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/rand"
	"sigs.k8s.io/controller-runtime/pkg/client"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
)

func company(ns string, mutate func(*codatv1.CodatCompany)) *codatv1.CodatCompany {
	c := &codatv1.CodatCompany{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "co-" + rand.String(6)},
		Spec:       codatv1.CodatCompanySpec{Name: "Acme Ltd"},
	}
	if mutate != nil {
		mutate(c)
	}
	return c
}

func ptr[T any](v T) *T { return &v }

// tags returns n tags with distinct keys.
func tags(n int) map[string]string {
	out := map[string]string{}
	for i := range n {
		out["k"+strings.Repeat("x", i)] = "v"
	}
	return out
}

func TestCompanyDefaults(t *testing.T) {
	ns := newNamespace(t)
	c := company(ns, nil)
	if err := k8s.Create(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	// No stored default for deletionPolicy: the operator applies Orphan and shows it in status.
	if c.Spec.DeletionPolicy != "" || c.Spec.Tags != nil || c.Spec.Description != nil {
		t.Fatalf("spec after create: %+v", c.Spec)
	}
	got := &unstructured.Unstructured{}
	got.SetGroupVersionKind(codatv1.GroupVersion.WithKind("CodatCompany"))
	if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(c), got); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := unstructured.NestedFieldNoCopy(got.Object, "spec", "tags"); ok {
		t.Errorf("unset tags were stored: %v", got.Object["spec"])
	}
	if g, ok, _ := unstructured.NestedInt64(got.Object, "status", "observedGeneration"); !ok || g != 0 {
		t.Errorf("status.observedGeneration = %d (%t), want 0 on a new object", g, ok)
	}
}

// Unset description and tags leave Codat's as they are; set, even empty, they are managed. Both
// must survive the API server and a write through the Go type.
func TestCompanyEmptyDescriptionAndTagsAreKept(t *testing.T) {
	ns := newNamespace(t)
	c := company(ns, func(c *codatv1.CodatCompany) {
		c.Spec.Description = ptr("")
		c.Spec.Tags = map[string]string{}
	})
	if err := k8s.Create(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	c.Spec.Name = "Acme Group" // a write through the Go type
	if err := k8s.Update(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	got := &codatv1.CodatCompany{}
	if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(c), got); err != nil {
		t.Fatal(err)
	}
	if got.Spec.Description == nil || *got.Spec.Description != "" || got.Spec.Tags == nil || len(got.Spec.Tags) != 0 {
		t.Fatalf("description %v, tags %#v: want set and empty", got.Spec.Description, got.Spec.Tags)
	}
}

func TestInvalidCompaniesAreRejectedOnCreate(t *testing.T) {
	ns := newNamespace(t)
	cases := []struct {
		name      string
		mutate    func(*codatv1.CodatCompany)
		wantField string
		wantText  string
	}{
		{"missing name", func(c *codatv1.CodatCompany) { c.Spec.Name = "" }, "spec.name", "name is required"},
		{"name too long", func(c *codatv1.CodatCompany) { c.Spec.Name = strings.Repeat("a", 256) }, "spec.name", "1 to 255 characters"},
		{"name with brackets", func(c *codatv1.CodatCompany) { c.Spec.Name = "Acme (UK)" }, "spec.name", "Codat removes any other character"},
		{"name with an accent", func(c *codatv1.CodatCompany) { c.Spec.Name = "Café Ltd" }, "spec.name", "only letters (A to Z)"},
		{"name with a tab", func(c *codatv1.CodatCompany) { c.Spec.Name = "Acme\tLtd" }, "spec.name", "only letters"},
		{"name starting with a space", func(c *codatv1.CodatCompany) { c.Spec.Name = " Acme" }, "spec.name", "may not start or end with a space"},
		{"name ending with a space", func(c *codatv1.CodatCompany) { c.Spec.Name = "Acme " }, "spec.name", "may not start or end with a space"},
		{"description too long", func(c *codatv1.CodatCompany) { c.Spec.Description = ptr(strings.Repeat("d", 1025)) }, "spec.description", "at most 1024 characters"},
		{"ten tags", func(c *codatv1.CodatCompany) { c.Spec.Tags = tags(10) }, "spec.tags", "at most 9 tags"},
		{"a tag key of 28 characters", func(c *codatv1.CodatCompany) { c.Spec.Tags = map[string]string{strings.Repeat("k", 28): "v"} }, "spec.tags", "1 to 27 characters"},
		{"an empty tag key", func(c *codatv1.CodatCompany) { c.Spec.Tags = map[string]string{"": "v"} }, "spec.tags", "1 to 27 characters"},
		{"the operator's uid tag", func(c *codatv1.CodatCompany) { c.Spec.Tags = map[string]string{codatv1.CompanyTagUID: "x"} }, "spec.tags", "reserved for the operator"},
		{"the operator's prefix in capitals", func(c *codatv1.CodatCompany) { c.Spec.Tags = map[string]string{"Codat-Operator-team": "x"} }, "spec.tags", "reserved for the operator"},
		{"a tag value of 101 characters", func(c *codatv1.CodatCompany) { c.Spec.Tags = map[string]string{"k": strings.Repeat("v", 101)} }, "spec.tags", "at most 100 characters"},
		{"companyId not a UUID", func(c *codatv1.CodatCompany) { c.Spec.CompanyID = "acme" }, "spec.companyId", "must be a UUID"},
		{"deletionPolicy Unlink", func(c *codatv1.CodatCompany) { c.Spec.DeletionPolicy = "Unlink" }, "spec.deletionPolicy", "must be Delete or Orphan"},
		{"credentials Secret in another namespace", func(c *codatv1.CodatCompany) {
			c.Spec.CredentialsRef = &codatv1.SecretKeyReference{Name: "other-ns/creds"}
		}, "spec.credentialsRef.name", "Secrets of other namespaces cannot be named"},
		{"credentials key that no Secret can have", func(c *codatv1.CodatCompany) {
			c.Spec.CredentialsRef = &codatv1.SecretKeyReference{Name: "codat", Key: "api/key"}
		}, "spec.credentialsRef.key", "must be a key of a Secret"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := k8s.Create(context.Background(), company(ns, tc.mutate))
			requireInvalid(t, err, tc.wantField)
			if !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("error %q does not say %q", err, tc.wantText)
			}
		})
	}
}

// What Codat accepts unchanged, the API server accepts.
func TestValidCompanies(t *testing.T) {
	ns := newNamespace(t)
	for _, mutate := range []func(*codatv1.CodatCompany){
		func(c *codatv1.CodatCompany) { c.Spec.Name = "A" },
		func(c *codatv1.CodatCompany) { c.Spec.Name = "O'Brien & Sons, Ltd. - Bank of Dave? Yes!" },
		func(c *codatv1.CodatCompany) { c.Spec.Name = "x@y.example" },
		func(c *codatv1.CodatCompany) { c.Spec.Name = strings.Repeat("a", 255) },
		func(c *codatv1.CodatCompany) {
			c.Spec.Tags = tags(codatv1.MaxCompanyTags)
			c.Spec.Tags[strings.Repeat("k", 27)] = strings.Repeat("v", 100)
			delete(c.Spec.Tags, "k")
		},
		func(c *codatv1.CodatCompany) {
			c.Spec.Tags = map[string]string{"uid": "cust_1", "codat-operator": "not the prefix"}
		},
		func(c *codatv1.CodatCompany) {
			c.Spec.CompanyID = companyA
			c.Spec.DeletionPolicy = codatv1.CompanyDeletionPolicyDelete
			c.Spec.Description = ptr(strings.Repeat("d", 1024))
			c.Spec.CredentialsRef = &codatv1.SecretKeyReference{Name: "codat"}
		},
	} {
		c := company(ns, mutate)
		if err := k8s.Create(context.Background(), c); err != nil {
			t.Errorf("spec %+v: %v", c.Spec, err)
		}
	}
}

func TestCompanyImmutableFields(t *testing.T) {
	ns := newNamespace(t)
	cases := []struct {
		name      string
		initial   func(*codatv1.CodatCompany)
		update    func(*codatv1.CodatCompany)
		wantField string
		wantText  string
	}{
		{"companyId changed",
			func(c *codatv1.CodatCompany) { c.Spec.CompanyID = companyA },
			func(c *codatv1.CodatCompany) { c.Spec.CompanyID = companyB }, "spec.companyId", "cannot be changed or removed"},
		{"companyId removed",
			func(c *codatv1.CodatCompany) { c.Spec.CompanyID = companyA },
			func(c *codatv1.CodatCompany) { c.Spec.CompanyID = "" }, "spec.companyId", "cannot be changed or removed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := company(ns, tc.initial)
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

// An object that manages a company cannot be told to adopt another one; naming the one it manages,
// and every other change, is accepted.
func TestCompanyIDMustBeTheManagedOne(t *testing.T) {
	ns := newNamespace(t)
	c := company(ns, nil)
	if err := k8s.Create(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	c.Status.CompanyID = companyA
	c.Status.DeletionPolicy = codatv1.CompanyDeletionPolicyOrphan
	if err := k8s.Status().Update(context.Background(), c); err != nil {
		t.Fatalf("writing status: %v", err)
	}
	c.Spec.CompanyID = companyB
	err := k8s.Update(context.Background(), c)
	requireInvalid(t, err, "spec.companyId")
	for _, want := range []string{companyA, companyB, "never switches companies"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	c.Spec.CompanyID = companyA
	c.Spec.Name = "Acme Group"
	c.Spec.Description = ptr("renamed")
	c.Spec.Tags = map[string]string{"region": "uk"}
	c.Spec.DeletionPolicy = codatv1.CompanyDeletionPolicyDelete
	if err := k8s.Update(context.Background(), c); err != nil {
		t.Fatalf("naming the company the object manages, with other changes: %v", err)
	}
	c.Spec.DeletionPolicy = codatv1.CompanyDeletionPolicyOrphan
	c.Spec.Tags = nil
	if err := k8s.Update(context.Background(), c); err != nil {
		t.Fatalf("changing the deletion policy and unsetting the tags: %v", err)
	}
}

// TestCompanyRejectionsReadCleanly: kubectl prints one line per problem, naming the field, without
// the "some validation rules were not checked" line.
func TestCompanyRejectionsReadCleanly(t *testing.T) {
	ns := newNamespace(t)
	cases := map[string]string{
		"missing spec": `{"apiVersion":"codat.io/v1alpha1","kind":"CodatCompany","metadata":{"name":"a"}}`,
		"missing name": `{"apiVersion":"codat.io/v1alpha1","kind":"CodatCompany","metadata":{"name":"b"},"spec":{"description":"d"}}`,
		"bad everything": `{"apiVersion":"codat.io/v1alpha1","kind":"CodatCompany","metadata":{"name":"c"},
			"spec":{"name":"Acme (UK)","deletionPolicy":"Unlink","companyId":"acme","tags":{"codat-operator-uid":"x","` + strings.Repeat("k", 30) + `":"v"}}}`,
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

func TestKubectlShowsCompanies(t *testing.T) {
	ns := newNamespace(t)
	c := company(ns, nil)
	if err := k8s.Create(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	c.Status.CompanyID = companyA
	c.Status.Redirect = "https://link.codat.io/company/" + companyA
	c.Status.DeletionPolicy = codatv1.CompanyDeletionPolicyOrphan
	c.Status.Conditions = []metav1.Condition{{Type: codatv1.ConditionReady, Status: metav1.ConditionTrue,
		Reason: codatv1.ReasonCompanyApplied, Message: "m", LastTransitionTime: metav1.Now()}}
	if err := k8s.Status().Update(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"get", "codatcompanies"}, []string{"NAME", "COMPANY ID", "READY", "REASON", "AGE", c.Name, companyA, "True", codatv1.ReasonCompanyApplied}},
		{[]string{"get", "codatco", "-o", "wide"}, []string{"COMPANY-NAME", "SYNCED", "ON-DELETE", "LINK", "Acme Ltd", "Orphan", c.Status.Redirect}},
		{[]string{"get", "codat"}, []string{c.Name}},
		{[]string{"get", "codatcompanies", "--field-selector", "status.companyId=" + companyA}, []string{c.Name}},
		{[]string{"explain", "codatcompany.spec"}, []string{"name", "would silently remove", "description", "tags", "codat-operator-uid",
			"companyId", "adopts an existing Codat company", "deletionPolicy", "Unset, it is", "Orphan", "credentialsRef"}},
	}
	for _, tc := range cases {
		out, err := env.Kubectl(append(tc.args, "-n", ns)...)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range tc.want {
			if !strings.Contains(out, want) {
				t.Errorf("kubectl %s: no %q in\n%s", strings.Join(tc.args, " "), want, out)
			}
		}
	}
}
