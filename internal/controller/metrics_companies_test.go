package controller

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
)

// companiesWorld is a cache with CodatCompanies of two tenants in the states users see, and a
// CodatConnection, which the company gauges must not count.
func companiesWorld(t *testing.T) client.Reader {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := codatv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	company := func(ns, name string, conds ...metav1.Condition) client.Object {
		return &codatv1.CodatCompany{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: codatv1.CodatCompanySpec{Name: name}, Status: codatv1.CodatCompanyStatus{Conditions: conds}}
	}
	cond := func(typ string, status metav1.ConditionStatus, reason string) metav1.Condition {
		return metav1.Condition{Type: typ, Status: status, Reason: reason}
	}
	ready := func(status metav1.ConditionStatus, reason string) metav1.Condition {
		return cond(codatv1.ConditionReady, status, reason)
	}
	applied := ready(metav1.ConditionTrue, codatv1.ReasonCompanyApplied)
	return fake.NewClientBuilder().WithScheme(scheme).WithObjects(
		company("team-a", "acme", applied, cond(codatv1.ConditionStalled, metav1.ConditionFalse, codatv1.ReasonCompanyApplied)),
		company("team-a", "globex", applied),
		// Waiting for its connections to go is not stalled.
		company("team-a", "initech", ready(metav1.ConditionFalse, codatv1.ReasonCompanyInUse),
			cond(codatv1.ConditionReconciling, metav1.ConditionTrue, codatv1.ReasonCompanyInUse),
			cond(codatv1.ConditionStalled, metav1.ConditionFalse, codatv1.ReasonCompanyInUse)),
		company("team-b", "unknown", ready(metav1.ConditionFalse, codatv1.ReasonCompanyNotFound),
			cond(codatv1.ConditionStalled, metav1.ConditionTrue, codatv1.ReasonCompanyNotFound)),
		company("team-b", "not-allowed", ready(metav1.ConditionFalse, codatv1.ReasonCompanyNotAllowed),
			cond(codatv1.ConditionStalled, metav1.ConditionTrue, codatv1.ReasonCompanyNotAllowed)),
		// A stall the pause interrupted is not counted while paused, as for connections.
		company("team-b", "paused", ready(metav1.ConditionFalse, codatv1.ReasonPaused),
			cond(codatv1.ConditionStalled, metav1.ConditionFalse, codatv1.ReasonPaused)),
		// Not yet seen by the operator.
		company("team-b", "new"),
		&codatv1.CodatConnection{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "acme-xero"},
			Status: codatv1.CodatConnectionStatus{ConnectionStatus: "Linked", Conditions: []metav1.Condition{
				ready(metav1.ConditionTrue, codatv1.ReasonLinked),
				cond(codatv1.ConditionStalled, metav1.ConditionTrue, codatv1.ReasonCredentialsRejected)}}},
	).Build()
}

// gathered is every sample of the registry's gauges whose name starts with prefix, as
// name{label=value,...} value, sorted.
func gathered(t *testing.T, reg *prometheus.Registry, prefix string) []string {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range families {
		if !strings.HasPrefix(f.GetName(), prefix) {
			continue
		}
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			got = append(got, fmt.Sprintf("%s{%s} %g", f.GetName(), strings.Join(labels, ","), m.GetGauge().GetValue()))
		}
	}
	sort.Strings(got)
	return got
}

// The company gauges count CodatCompanies per tenant (namespace) by Ready's status and reason, and
// the Stalled ones by reason; waiting (CompanyInUse) and paused companies are not stalled, and
// CodatConnections are not companies.
func TestCompanyGauges(t *testing.T) {
	reg := prometheus.NewRegistry()
	if err := reg.Register(companiesCollector{reader: companiesWorld(t)}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"codat_companies_stalled{namespace=team-b,reason=CompanyNotAllowed} 1",
		"codat_companies_stalled{namespace=team-b,reason=CompanyNotFound} 1",
		"codat_companies{namespace=team-a,ready=False,ready_reason=CompanyInUse} 1",
		"codat_companies{namespace=team-a,ready=True,ready_reason=CompanyApplied} 2",
		"codat_companies{namespace=team-b,ready=,ready_reason=} 1",
		"codat_companies{namespace=team-b,ready=False,ready_reason=CompanyNotAllowed} 1",
		"codat_companies{namespace=team-b,ready=False,ready_reason=CompanyNotFound} 1",
		"codat_companies{namespace=team-b,ready=False,ready_reason=Paused} 1",
	}
	if diff := cmp.Diff(want, gathered(t, reg, "codat_")); diff != "" {
		t.Errorf("gauges (-want +got):\n%s", diff)
	}
}

// NewMetrics registers the company gauges beside the connections', from the same reader.
func TestNewMetricsCountsCompanies(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := NewMetrics(reg, companiesWorld(t)); err != nil {
		t.Fatal(err)
	}
	got := gathered(t, reg, "codat_")
	for _, want := range []string{
		"codat_companies{namespace=team-a,ready=True,ready_reason=CompanyApplied} 2",
		"codat_companies_stalled{namespace=team-b,reason=CompanyNotFound} 1",
		"codat_connections_stalled{namespace=team-a,reason=CredentialsRejected} 1",
		"codat_connections{connection_status=Linked,namespace=team-a,ready=True,ready_reason=Linked} 1",
	} {
		if !slices.Contains(got, want) {
			t.Errorf("NewMetrics's registry lacks %s; it has:\n%s", want, strings.Join(got, "\n"))
		}
	}
	desc := make(chan *prometheus.Desc, 8)
	companiesCollector{}.Describe(desc)
	close(desc)
	var names []string
	for d := range desc {
		names = append(names, d.String())
	}
	for _, name := range []string{MetricCompanies, MetricCompaniesStalled} {
		if !slices.ContainsFunc(names, func(d string) bool { return strings.Contains(d, `fqName: "`+name+`"`) }) {
			t.Errorf("the company collector does not describe %s: %v", name, names)
		}
	}
}
