package controller

import (
	"context"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
	"github.com/codat-operator/codat-operator/internal/codatapi"
	"github.com/codat-operator/codat-operator/internal/webhook"
)

// indexConnectionID finds, in the manager's cache, the objects that manage a connection.
const indexConnectionID = "connectionId"

// Webhooks turns Codat's verified webhook events into reconciles (it is the receiver's Sink), and
// tells the reconciler when polling is only the safety net.
//
// An event does not carry the truth into status: the reconcile it causes re-reads the connection
// from Codat. Events can arrive late, twice or out of order, and a re-read always lands on Codat's
// latest state; it costs one GET per real change, since an event that says what the object already
// shows causes no reconcile, and a burst for one object coalesces in the work queue.
type Webhooks struct {
	// Client reads CodatConnections from the manager's cache.
	Client client.Reader
	// APIReader asks the API server when the cache knows no object for an event's connection: the
	// status that records a new connection may not have reached the cache when Codat's event does.
	APIReader client.Reader
	// Healthy says whether the receiver listens with a signing secret loaded.
	Healthy func() bool
	Metrics *webhook.Metrics
	Log     logr.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// FallbackSpread is over how long the objects' next polls are spread when the receiver stops
	// being healthy (the reconciler sets it to its settled poll interval).
	FallbackSpread time.Duration

	queue atomic.Pointer[workqueue.TypedRateLimitingInterface[reconcile.Request]]
	// received holds, per object, when the event that enqueued it arrived.
	received sync.Map
	// quotaUntil is when Codat's daily quota resets after client.rateLimit.reached (Unix ns; 0: open).
	quotaUntil atomic.Int64
}

var _ webhook.Sink = (*Webhooks)(nil)

// Ready says whether events can be acted on: the controller runs (on the leader).
func (w *Webhooks) Ready() bool { return w != nil && w.queue.Load() != nil }

// Connection enqueues the objects that manage the event's connection, unless they already show
// what the event says.
func (w *Webhooks) Connection(ev webhook.ConnectionEvent) int {
	var list codatv1.CodatConnectionList
	if err := w.Client.List(context.Background(), &list, client.MatchingFields{indexConnectionID: ev.ConnectionID}); err != nil {
		w.Log.Error(err, "listing the objects of a webhook's connection")
		return 0
	}
	if len(list.Items) == 0 && w.APIReader != nil {
		if err := w.APIReader.List(context.Background(), &list, client.MatchingFields{fieldConnectionID: ev.ConnectionID}); err != nil {
			w.Log.Error(err, "asking the API server for the objects of a webhook's connection")
			return 0
		}
	}
	n := 0
	for i := range list.Items {
		o := &list.Items[i]
		if !strings.EqualFold(o.Spec.CompanyID, ev.CompanyID) {
			continue
		}
		n++
		switch ev.Type {
		case codatapi.EventConnectionFailed, codatapi.EventConnectionDeleted:
		default:
			if ev.Status == o.Status.ConnectionStatus {
				continue
			}
		}
		w.enqueue(nameOf(o), ev.Received)
	}
	return n
}

// RateLimit stops every Codat call until the quota resets (client.rateLimit.reached), or lets
// them go at once (client.rateLimit.reset).
func (w *Webhooks) RateLimit(ev webhook.RateLimitEvent) {
	switch ev.Type {
	case codatapi.EventRateLimitReached:
		until := ev.Expiry
		if !until.After(w.now()) {
			// No usable expiry: Codat's daily quota resets at midnight UTC.
			now := w.now().UTC()
			until = time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC).Add(24 * time.Hour)
		}
		w.quotaUntil.Store(until.UnixNano())
		w.Log.Info("Codat reports the daily quota used up; no Codat calls until it resets", "until", until)
	case codatapi.EventRateLimitReset:
		if w.quotaUntil.Swap(0) == 0 {
			return
		}
		w.Log.Info("Codat reports the daily quota reset; Codat calls resume")
		w.enqueueAll(func(o *codatv1.CodatConnection) bool { return failureReason(o) == codatv1.ReasonRateLimited }, 0)
	}
}

// quotaExhausted is how long Codat's reached daily quota still forbids calls.
func (w *Webhooks) quotaExhausted() time.Duration {
	if w == nil {
		return 0
	}
	until := w.quotaUntil.Load()
	if until == 0 {
		return 0
	}
	d := time.Unix(0, until).Sub(w.now())
	if d <= 0 {
		w.quotaUntil.CompareAndSwap(until, 0)
		return 0
	}
	return d
}

// safetyNet says whether polling is only the safety net: the receiver is configured and healthy.
func (w *Webhooks) safetyNet() bool { return w != nil && w.Healthy != nil && w.Healthy() }

// reconciling records the latency from an event to the reconcile it caused,
// and says whether an event caused it.
func (w *Webhooks) reconciling(name types.NamespacedName) bool {
	if w == nil {
		return false
	}
	t, ok := w.received.LoadAndDelete(name)
	if ok {
		w.Metrics.ObserveLatency(w.now().Sub(t.(time.Time)))
	}
	return ok
}

func (w *Webhooks) enqueue(name types.NamespacedName, received time.Time) {
	q := w.queue.Load()
	if q == nil {
		return
	}
	w.received.LoadOrStore(name, received)
	(*q).Add(reconcile.Request{NamespacedName: name})
}

// enqueueAll adds the objects that match, each after a random delay up to spread (none: at once).
func (w *Webhooks) enqueueAll(match func(*codatv1.CodatConnection) bool, spread time.Duration) {
	q := w.queue.Load()
	if q == nil {
		return
	}
	var list codatv1.CodatConnectionList
	if err := w.Client.List(context.Background(), &list, client.UnsafeDisableDeepCopy); err != nil {
		w.Log.Error(err, "listing CodatConnections")
		return
	}
	for i := range list.Items {
		if !match(&list.Items[i]) {
			continue
		}
		req := reconcile.Request{NamespacedName: nameOf(&list.Items[i])}
		if spread <= 0 {
			(*q).Add(req)
			continue
		}
		(*q).AddAfter(req, rand.N(spread)) //nolint:gosec // spreads polls over time; it guards nothing
	}
}

// source hands the controller's work queue to the receiver's events, and watches the receiver's
// health: when it stops being healthy, every object's next poll moves within the normal poll
// interval, spread out, so that no connection waits a safety-net interval for news.
func (w *Webhooks) source() source.TypedSource[reconcile.Request] {
	return source.TypedFunc[reconcile.Request](func(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
		w.queue.Store(&q)
		go w.watchHealth(ctx)
		return nil
	})
}

// healthCheckEvery is how often the receiver's health is looked at.
const healthCheckEvery = 2 * time.Second

func (w *Webhooks) watchHealth(ctx context.Context) {
	ticker := time.NewTicker(healthCheckEvery)
	defer ticker.Stop()
	was := w.safetyNet()
	w.Metrics.SetHealthy(was)
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		is := w.safetyNet()
		if is == was {
			continue
		}
		w.Metrics.SetHealthy(is)
		if is {
			w.Log.Info("the webhook receiver is healthy: polling becomes the safety net")
		} else {
			w.Log.Error(nil, "the webhook receiver is not healthy: polling at the normal intervals")
			w.enqueueAll(func(*codatv1.CodatConnection) bool { return true }, w.FallbackSpread)
		}
		was = is
	}
}

func (w *Webhooks) now() time.Time {
	if w.Now != nil {
		return w.Now()
	}
	return time.Now()
}
