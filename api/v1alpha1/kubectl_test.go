package v1alpha1_test

import (
	"context"
	"strings"
	"testing"
)

// The field descriptions in the CRD are what users read with kubectl explain.
func TestKubectlExplainShowsFieldDescriptions(t *testing.T) {
	out, err := env.Kubectl("explain", "codatconnection.spec")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"companyId", "Codat company the connection belongs to",
		"platformKey", "four-letter key",
		"deletionPolicy", "connectionId", "adopts an existing Codat connection",
		"authorization", "credentialsRef",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl explain codatconnection.spec does not show %q:\n%s", want, out)
		}
	}
}

// kubectl get shows the printer columns, and the short name and the
// category both find the objects.
func TestKubectlGetColumns(t *testing.T) {
	ns := newNamespace(t)
	c := connection(ns, nil)
	if err := k8s.Create(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"get", "codatconnections"}, []string{"NAME", "PLATFORM", "DESIRED", "STATUS", "READY", "AGE", c.Name, "gbol", "Linked"}},
		{[]string{"get", "codatconn", "-o", "wide"}, []string{"COMPANY", "CONNECTION", "REASON", companyA}},
		{[]string{"get", "codat"}, []string{c.Name}},
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
