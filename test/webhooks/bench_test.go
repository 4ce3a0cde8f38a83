package webhooks

import (
	"context"
	"fmt"
	"slices"
	"sync"
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

// BenchmarkAuthorizationToReady measures, over 100 connections, the time from the business
// authorizing (the simulator links the connection) to the object showing Ready, with webhooks
// and with polling only, at the default poll intervals. It runs once whatever -benchtime says.
func BenchmarkAuthorizationToReady(b *testing.B) {
	for _, mode := range []struct {
		name      string
		noSecrets bool
	}{{"webhooks", false}, {"polling-only", true}} {
		b.Run(mode.name, func(b *testing.B) {
			r := rig.New(b, env, k8s, rig.Options{Webhooks: true, Intervals: controller.DefaultIntervals, NoSigningSecret: mode.noSecrets})
			latencies := linkAll(b, r, 100)
			slices.Sort(latencies)
			b.ReportMetric(float64(latencies[len(latencies)/2].Milliseconds()), "p50-ms")
			b.ReportMetric(float64(latencies[len(latencies)*99/100].Milliseconds()), "p99-ms")
		})
	}
}

// linkAll creates n objects, waits until they wait for the business, links them all and returns
// how long each took to show Ready after its link.
func linkAll(b *testing.B, r *rig.Rig, n int) []time.Duration {
	b.Helper()
	for i := range n {
		r.Create(fmt.Sprintf("bench-%03d", i))
	}
	ids := map[string]string{}
	r.WaitFor("bench-000", "all awaiting", 5*time.Minute, func(*codatv1.CodatConnection) bool {
		var list codatv1.CodatConnectionList
		if err := k8s.List(context.Background(), &list, client.InNamespace(r.NS)); err != nil {
			b.Fatal(err)
		}
		for _, o := range list.Items {
			if o.Status.ConnectionID != "" {
				ids[o.Name] = o.Status.ConnectionID
			}
		}
		return len(ids) == n
	})

	w, err := client.NewWithWatch(env.Config, client.Options{Scheme: k8s.Scheme()})
	if err != nil {
		b.Fatal(err)
	}
	watcher, err := w.Watch(context.Background(), &codatv1.CodatConnectionList{}, client.InNamespace(r.NS))
	if err != nil {
		b.Fatal(err)
	}
	defer watcher.Stop()
	var mu sync.Mutex
	linkedAt := map[string]time.Time{}
	b.ResetTimer()
	go func() {
		for name, id := range ids {
			mu.Lock()
			linkedAt[name] = time.Now()
			mu.Unlock()
			if err := r.Sim.Link(r.Company, id); err != nil {
				b.Error(err)
			}
			time.Sleep(10 * time.Millisecond) // businesses authorize one at a time
		}
	}()
	var latencies []time.Duration
	seen := map[string]bool{}
	deadline := time.After(10 * time.Minute)
	for len(latencies) < n {
		select {
		case e := <-watcher.ResultChan():
			o, ok := e.Object.(*codatv1.CodatConnection)
			if !ok || e.Type == watch.Deleted || seen[o.Name] || !meta.IsStatusConditionTrue(o.Status.Conditions, codatv1.ConditionReady) {
				continue
			}
			mu.Lock()
			at, linked := linkedAt[o.Name]
			mu.Unlock()
			if !linked {
				continue
			}
			seen[o.Name] = true
			latencies = append(latencies, time.Since(at))
		case <-deadline:
			b.Fatalf("%d of %d objects turned Ready", len(latencies), n)
		}
	}
	b.StopTimer()
	return latencies
}

// BenchmarkIdleCallsPerDay counts the Codat calls and API-server writes that settled
// connections cost while nothing happens, with webhooks and with polling only, at the default
// intervals scaled down 600 times (the 10-minute poll becomes a second, the 6-hour safety net 36
// seconds), and scales the counts back up to a connection's day. The account's quota is large
// enough that the request budget, whose day is not scaled, never stretches the polls.
func BenchmarkIdleCallsPerDay(b *testing.B) {
	const scale, window = 600, 72 * time.Second
	scaled := controller.Intervals{
		PendingAuth: controller.DefaultIntervals.PendingAuth / scale, Settled: controller.DefaultIntervals.Settled / scale,
		SafetyNet:   controller.DefaultIntervals.SafetyNet / scale,
		BackoffBase: controller.DefaultIntervals.BackoffBase, BackoffMax: controller.DefaultIntervals.BackoffMax,
	}
	for _, mode := range []struct {
		name      string
		noSecrets bool
		// n stays under the rig's 14 requests a second, so that the limiter does not thin the polls.
		n int
	}{{"webhooks", false, 20}, {"polling-only", true, 10}} {
		n := mode.n
		b.Run(mode.name, func(b *testing.B) {
			r := rig.New(b, env, k8s, rig.Options{Webhooks: true, Intervals: scaled, NoSigningSecret: mode.noSecrets,
				Sim: codatsim.Options{DailyQuota: 1 << 30}})
			for i := range n {
				r.Create(fmt.Sprintf("idle-%02d", i))
			}
			var list codatv1.CodatConnectionList
			r.WaitFor("idle-00", "all created", 2*time.Minute, func(*codatv1.CodatConnection) bool {
				_ = k8s.List(context.Background(), &list, client.InNamespace(r.NS))
				for _, o := range list.Items {
					if o.Status.ConnectionID == "" {
						return false
					}
				}
				return len(list.Items) == n
			})
			for _, o := range list.Items {
				if err := r.Sim.Link(r.Company, o.Status.ConnectionID); err != nil {
					b.Fatal(err)
				}
			}
			time.Sleep(5 * time.Second) // settle: the links are seen
			before := r.Calls(codatapi.OpGetConnection)
			if err := k8s.List(context.Background(), &list, client.InNamespace(r.NS)); err != nil {
				b.Fatal(err)
			}
			watching, err := client.NewWithWatch(env.Config, client.Options{Scheme: testenv.Scheme})
			if err != nil {
				b.Fatal(err)
			}
			watcher, err := watching.Watch(context.Background(), &codatv1.CodatConnectionList{}, client.InNamespace(r.NS),
				&client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: list.ResourceVersion}})
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			writes := 0
			for end := time.After(window); end != nil; {
				select {
				case e := <-watcher.ResultChan():
					if e.Type == watch.Modified {
						writes++
					}
				case <-end:
					end = nil
				}
			}
			b.StopTimer()
			watcher.Stop()
			perDay := func(count int) float64 {
				return float64(count) / float64(n) * float64(24*time.Hour) / float64(window*scale)
			}
			b.ReportMetric(perDay(r.Calls(codatapi.OpGetConnection)-before), "calls/connection/day")
			b.ReportMetric(perDay(writes), "writes/connection/day")
		})
	}
}
