package v1alpha1_test

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
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
	// COMPANY shows the company the operator resolved (spec.companyId, or a companyRef's).
	c.Status.CompanyID = companyA
	if err := k8s.Status().Update(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"get", "codatconnections"}, []string{"NAME", "PLATFORM", "DESIRED", "STATUS", "READY", "SYNCED", "REASON", "AGE", c.Name, "gbol", "Linked"}},
		{[]string{"get", "codatconn", "-o", "wide"}, []string{"COMPANY", "CONNECTION", "ON-DELETE", "COMPANY-REF", companyA}},
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

// During an outage a Linked connection stays READY True: the default columns also show that the
// operator's last look at Codat failed (SYNCED) and Ready's reason.
func TestKubectlGetShowsSyncedAndReason(t *testing.T) {
	ns := newNamespace(t)
	c := connection(ns, nil)
	if err := k8s.Create(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	now := metav1.Now()
	c.Status.ConnectionStatus = "Linked"
	c.Status.Conditions = []metav1.Condition{
		{Type: codatv1.ConditionReady, Status: metav1.ConditionTrue, Reason: codatv1.ReasonLinked, LastTransitionTime: now},
		{Type: codatv1.ConditionSynced, Status: metav1.ConditionFalse, Reason: codatv1.ReasonCodatUnavailable, LastTransitionTime: now},
	}
	if err := k8s.Status().Update(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	out, err := env.Kubectl("get", "codatconnection", c.Name, "-n", ns)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("kubectl get printed %d lines, want a header and a row:\n%s", len(lines), out)
	}
	header, row := strings.Fields(lines[0]), strings.Fields(lines[1])
	got := map[string]string{}
	for i, name := range header {
		if i < len(row) {
			got[name] = row[i]
		}
	}
	for column, want := range map[string]string{"STATUS": "Linked", "READY": "True", "SYNCED": "False", "REASON": codatv1.ReasonLinked} {
		if got[column] != want {
			t.Errorf("column %s is %q, want %q:\n%s", column, got[column], want, out)
		}
	}
}
