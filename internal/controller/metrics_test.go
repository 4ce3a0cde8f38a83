package controller

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
)

// The gauges of the objects say which tenant (namespace) each count belongs to, Ready's status
// beside its reason (a connection unlinked outside and one unlinked as desired share the reason),
// and per namespace how long a business has been awaited the longest.
func TestConnectionGauges(t *testing.T) {
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = codatv1.AddToScheme(scheme)
	at := func(ago time.Duration) metav1.Time { return metav1.NewTime(testNow.Add(-ago)) }
	obj := func(ns, name, status string, conds ...metav1.Condition) client.Object {
		return &codatv1.CodatConnection{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Status: codatv1.CodatConnectionStatus{ConnectionStatus: status, Conditions: conds}}
	}
	ready := func(status metav1.ConditionStatus, reason string, since time.Duration) metav1.Condition {
		return metav1.Condition{Type: codatv1.ConditionReady, Status: status, Reason: reason, LastTransitionTime: at(since)}
	}
	stalled := metav1.Condition{Type: codatv1.ConditionStalled, Status: metav1.ConditionTrue, Reason: codatv1.ReasonCompanyNotFound}
	k8s := fake.NewClientBuilder().WithScheme(scheme).WithObjects(
		obj("team-a", "linked", "Linked", ready(metav1.ConditionTrue, codatv1.ReasonLinked, time.Hour)),
		obj("team-a", "waiting", "PendingAuth", ready(metav1.ConditionFalse, codatv1.ReasonAwaitingAuthorization, 30*time.Hour)),
		obj("team-a", "failed-link", "PendingAuth", ready(metav1.ConditionFalse, codatv1.ReasonLinkFailed, 2*time.Hour)),
		obj("team-a", "unlinked-outside", "Unlinked", ready(metav1.ConditionFalse, codatv1.ReasonUnlinked, time.Hour)),
		obj("team-b", "unlinked-as-desired", "Unlinked", ready(metav1.ConditionTrue, codatv1.ReasonUnlinked, time.Hour)),
		obj("team-b", "waiting", "PendingAuth", ready(metav1.ConditionFalse, codatv1.ReasonAwaitingAuthorization, time.Hour)),
		obj("team-b", "unknown-company", "", ready(metav1.ConditionFalse, codatv1.ReasonCompanyNotFound, time.Hour), stalled),
	).Build()
	reg := prometheus.NewRegistry()
	if err := reg.Register(connectionsCollector{reader: k8s, now: func() time.Time { return testNow }}); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range families {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			got = append(got, fmt.Sprintf("%s{%s} %g", f.GetName(), strings.Join(labels, ","), m.GetGauge().GetValue()))
		}
	}
	sort.Strings(got)
	want := []string{
		"codat_connections_awaiting_authorization_max_seconds{namespace=team-a} 108000",
		"codat_connections_awaiting_authorization_max_seconds{namespace=team-b} 3600",
		"codat_connections_stalled{namespace=team-b,reason=CompanyNotFound} 1",
		"codat_connections{connection_status=,namespace=team-b,ready=False,ready_reason=CompanyNotFound} 1",
		"codat_connections{connection_status=Linked,namespace=team-a,ready=True,ready_reason=Linked} 1",
		"codat_connections{connection_status=PendingAuth,namespace=team-a,ready=False,ready_reason=AwaitingAuthorization} 1",
		"codat_connections{connection_status=PendingAuth,namespace=team-a,ready=False,ready_reason=LinkFailed} 1",
		"codat_connections{connection_status=PendingAuth,namespace=team-b,ready=False,ready_reason=AwaitingAuthorization} 1",
		"codat_connections{connection_status=Unlinked,namespace=team-a,ready=False,ready_reason=Unlinked} 1",
		"codat_connections{connection_status=Unlinked,namespace=team-b,ready=True,ready_reason=Unlinked} 1",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("gauges (-want +got):\n%s", diff)
	}
}
