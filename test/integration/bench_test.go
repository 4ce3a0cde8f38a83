package integration_test

import (
	"fmt"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
	"github.com/codat-operator/codat-operator/internal/codatapi"
)

// The benchmarks report what an operation costs in Codat calls and writes to
// the API server (the design's budget), besides time: `make bench`.

// BenchmarkCreate creates connections one after another until each is settled.
func BenchmarkCreate(b *testing.B) {
	c := newCase(b)
	// A first object warms the caches and connections, outside the measure.
	c.create("warm-up", func(o *codatv1.CodatConnection) { o.Spec.State = codatv1.StateUnlinked })
	c.waitCondition("warm-up", codatv1.ConditionReady, metav1.ConditionTrue, codatv1.ReasonUnlinked)
	calls := len(c.requests(""))
	names := make([]string, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		name := fmt.Sprintf("bench-%d", i)
		names = append(names, name)
		c.create(name, func(o *codatv1.CodatConnection) { o.Spec.State = codatv1.StateUnlinked })
		c.waitCondition(name, codatv1.ConditionReady, metav1.ConditionTrue, codatv1.ReasonUnlinked)
	}
	b.StopTimer()
	written := 0
	for _, n := range names {
		written += writes.of(c.key(n))
	}
	b.ReportMetric(float64(len(c.requests(codatapi.OpCreateConnection))-1)/float64(b.N), "POSTs/op")
	b.ReportMetric(float64(len(c.requests(""))-calls)/float64(b.N), "codat-calls/op")
	b.ReportMetric(float64(written)/float64(b.N), "writes/op")
}

// BenchmarkPoll polls one settled connection on demand.
func BenchmarkPoll(b *testing.B) {
	c := newCase(b)
	c.create("polled", func(o *codatv1.CodatConnection) { o.Spec.State = codatv1.StateUnlinked })
	c.waitCondition("polled", codatv1.ConditionReady, metav1.ConditionTrue, codatv1.ReasonUnlinked)
	calls, written := len(c.requests("")), writes.of(c.key("polled"))
	b.ResetTimer()
	for i := range b.N {
		c.poll("polled")
		c.waitFor("polled", "polled", func(*codatv1.CodatConnection) bool {
			return len(c.requests(codatapi.OpGetConnection)) > i
		})
	}
	b.StopTimer()
	b.ReportMetric(float64(len(c.requests(""))-calls)/float64(b.N), "codat-calls/op")
	b.ReportMetric(float64(writes.of(c.key("polled"))-written)/float64(b.N), "writes/op")
}
