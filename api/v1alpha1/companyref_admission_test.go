package v1alpha1_test

import (
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/fields"
	"sigs.k8s.io/controller-runtime/pkg/client"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
)

// byRef is a connection that names its company by a CodatCompany instead of by id.
func byRef(name string) func(*codatv1.CodatConnection) {
	return func(c *codatv1.CodatConnection) {
		c.Spec.CompanyID = ""
		c.Spec.CompanyRef = &codatv1.CodatCompanyReference{Name: name}
	}
}

func TestConnectionNamesItsCompanyByRef(t *testing.T) {
	ns := newNamespace(t)
	c := connection(ns, byRef("acme"))
	if err := k8s.Create(context.Background(), c); err != nil {
		t.Fatalf("a connection with companyRef and no companyId: %v", err)
	}
	other := connection(ns, byRef("globex"))
	if err := k8s.Create(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	// The operator records the company it resolved in status.
	c.Status.CompanyID = companyA
	if err := k8s.Status().Update(context.Background(), c); err != nil {
		t.Fatalf("writing status.companyId: %v", err)
	}
	// Other changes stay allowed with a companyRef.
	c.Spec.State = codatv1.StateUnlinked
	c.Spec.DeletionPolicy = codatv1.DeletionPolicyOrphan
	if err := k8s.Update(context.Background(), c); err != nil {
		t.Fatalf("changing state and deletionPolicy: %v", err)
	}

	// The connections of one CodatCompany can be selected by the field.
	var list codatv1.CodatConnectionList
	if err := k8s.List(context.Background(), &list, client.InNamespace(ns),
		client.MatchingFieldsSelector{Selector: fields.OneTermEqualSelector("spec.companyRef.name", "acme")}); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || list.Items[0].Name != c.Name {
		t.Fatalf("selected %d connections by spec.companyRef.name, want %s only", len(list.Items), c.Name)
	}
	out, err := env.Kubectl("get", "codatconnections", "-o", "wide", "-n", ns)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"COMPANY-REF", "acme", "globex"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl get -o wide: no %q in\n%s", want, out)
		}
	}
}

func TestInvalidCompanyRefsAreRejected(t *testing.T) {
	ns := newNamespace(t)
	cases := []struct {
		name      string
		mutate    func(*codatv1.CodatConnection)
		wantField string
		wantText  string
	}{
		{"neither companyId nor companyRef", func(c *codatv1.CodatConnection) { c.Spec.CompanyID = "" },
			"spec.companyId", "companyId is required: the id of the company in Codat (a UUID), unless companyRef names a CodatCompany"},
		{"both companyId and companyRef", func(c *codatv1.CodatConnection) {
			c.Spec.CompanyRef = &codatv1.CodatCompanyReference{Name: "acme"}
		}, "spec.companyRef", "companyId and companyRef cannot both be set"},
		{"companyRef without a name", byRef(""), "spec.companyRef.name", "name is required: the name of a CodatCompany in this namespace"},
		{"companyRef to another namespace", byRef("other-ns/acme"), "spec.companyRef.name", "CodatCompanies of other namespaces cannot be named"},
		{"companyRef with upper case", byRef("Acme"), "spec.companyRef.name", "lowercase letters"},
		{"companyRef name too long", byRef(strings.Repeat("a", 254)), "spec.companyRef.name", "at most 253"},
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

// A connection never changes company: neither its companyRef nor the way it names its company
// (by id or by reference) can change.
func TestCompanyOfAConnectionIsImmutable(t *testing.T) {
	ns := newNamespace(t)
	cases := []struct {
		name      string
		initial   func(*codatv1.CodatConnection)
		update    func(*codatv1.CodatConnection)
		wantField string
		wantText  string
	}{
		{"companyRef renamed", byRef("acme"), byRef("globex"), "spec.companyRef", "companyRef is immutable"},
		{"companyRef replaced by companyId", byRef("acme"),
			func(c *codatv1.CodatConnection) { c.Spec.CompanyRef, c.Spec.CompanyID = nil, companyA },
			"spec.companyRef", "companyRef cannot be added or removed"},
		{"companyId replaced by companyRef", nil, byRef("acme"),
			"spec.companyId", "companyId cannot be added or removed"},
		{"companyId changed, as before", nil, func(c *codatv1.CodatConnection) { c.Spec.CompanyID = companyB },
			"spec.companyId", "companyId is immutable"},
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
