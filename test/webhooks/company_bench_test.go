package webhooks

import (
	"context"
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
	"github.com/codat-operator/codat-operator/internal/codatapi"
	"github.com/codat-operator/codat-operator/internal/codatsim"
	"github.com/codat-operator/codat-operator/internal/controller"
	"github.com/codat-operator/codat-operator/internal/testenv"
	"github.com/codat-operator/codat-operator/test/rig"
)

// companyCalls counts the simulator's company requests (create, get, replace, list, delete).
func companyCalls(r *rig.Rig) map[string]int {
	out := map[string]int{}
	for _, q := range r.Sim.Requests() {
		switch q.Operation {
		case codatapi.OpCreateCompany, codatapi.OpGetCompany, codatapi.OpReplaceCompany, codatapi.OpListCompanies, codatapi.OpDeleteCompany:
			out[q.Operation]++
		}
	}
	return out
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// BenchmarkCompanyCosts counts what CodatCompanies cost in Codat calls and API-server writes: per
// company created (until it is Ready), and per idle company per day, with webhooks (the safety net)
// and polling only, at the default intervals scaled down 600 times as BenchmarkIdleCallsPerDay
// does, the counts scaled back up to a day.
func BenchmarkCompanyCosts(b *testing.B) {
	const scale, n, window = 600, 10, 72 * time.Second
	scaled := controller.Intervals{
		PendingAuth: controller.DefaultIntervals.PendingAuth / scale, Settled: controller.DefaultIntervals.Settled / scale,
		SafetyNet:   controller.DefaultIntervals.SafetyNet / scale,
		BackoffBase: controller.DefaultIntervals.BackoffBase, BackoffMax: controller.DefaultIntervals.BackoffMax,
	}
	for _, mode := range []struct {
		name      string
		noSecrets bool
	}{{"webhooks", false}, {"polling-only", true}} {
		b.Run(mode.name, func(b *testing.B) {
			r := rig.New(b, env, k8s, rig.Options{Webhooks: true, Intervals: scaled, NoSigningSecret: mode.noSecrets,
				Sim: codatsim.Options{DailyQuota: 1 << 30}})
			watching, err := client.NewWithWatch(env.Config, client.Options{Scheme: testenv.Scheme})
			if err != nil {
				b.Fatal(err)
			}
			watcher, err := watching.Watch(context.Background(), &codatv1.CodatCompanyList{}, client.InNamespace(r.NS))
			if err != nil {
				b.Fatal(err)
			}
			defer watcher.Stop()
			for i := range n {
				obj := &codatv1.CodatCompany{ObjectMeta: metav1.ObjectMeta{Namespace: r.NS, Name: fmt.Sprintf("company-%02d", i)},
					Spec: codatv1.CodatCompanySpec{Name: fmt.Sprintf("Company %02d", i), CredentialsRef: &codatv1.SecretKeyReference{Name: "codat"}}}
				if err := k8s.Create(context.Background(), obj); err != nil {
					b.Fatal(err)
				}
			}
			// Until every company is Ready: the writes are the watch's modifications.
			ready, writes := map[string]bool{}, 0
			for deadline := time.After(time.Minute); len(ready) < n; {
				select {
				case e := <-watcher.ResultChan():
					o, ok := e.Object.(*codatv1.CodatCompany)
					if !ok {
						continue
					}
					if e.Type == watch.Modified {
						writes++
					}
					if meta.IsStatusConditionTrue(o.Status.Conditions, codatv1.ConditionReady) {
						ready[o.Name] = true
					}
				case <-deadline:
					b.Fatalf("%d of %d companies Ready", len(ready), n)
				}
			}
			// The calls of the creates, counted when the last company is Ready: polls at the scaled
			// intervals begin within a second.
			created := companyCalls(r)
			time.Sleep(2 * time.Second) // a write that belongs to the creates lands
			drain := func() int {
				m := 0
				for {
					select {
					case e := <-watcher.ResultChan():
						if e.Type == watch.Modified {
							m++
						}
					default:
						return m
					}
				}
			}
			writes += drain()
			polled := companyCalls(r)

			b.ResetTimer() // (it also clears what ReportMetric reported: report after)
			time.Sleep(window)
			b.StopTimer()
			perDay := func(count int) float64 { return float64(count) / n * float64(24*time.Hour) / float64(window*scale) }
			b.ReportMetric(float64(sum(created))/n, "calls/company-created")
			b.ReportMetric(float64(writes)/n, "writes/company-created")
			b.ReportMetric(perDay(sum(companyCalls(r))-sum(polled)), "calls/company/day")
			b.ReportMetric(perDay(drain()), "writes/company/day")
		})
	}
}
