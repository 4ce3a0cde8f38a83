package controller

import (
	"context"
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
	"github.com/codat-operator/codat-operator/internal/pacer"
	"github.com/codat-operator/codat-operator/internal/webhook"
)

// indexConnectionID finds, in the manager's cache, the objects that manage a connection.
const indexConnectionID = "connectionId"

// Webhooks turns Codat's verified webhook events into looks (it is the receiver's Sink), and tells
// the pacer whether the receiver is healthy, which makes polling only the safety net.
//
// An event does not carry the truth into status: the look it causes re-reads the connection from
// Codat. Events can arrive late, twice or out of order, and a re-read always lands on Codat's
// latest state; the pacer decides which events need one (docs/webhooks.md).
type Webhooks struct {
	// Client reads CodatConnections from the manager's cache.
	Client client.Reader
	// Pacer hears the connection events; the connection reconciler's. CompanyPacer wakes the
	// CodatCompanies whose company Codat deleted; the company reconciler's.
	Pacer, CompanyPacer *pacer.Pacer
	// Healthy says whether the receiver listens with a signing secret loaded.
	Healthy func() bool
	Metrics *webhook.Metrics
	Log     logr.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time

	ready atomic.Bool
	// received holds, per object, when the event that asked for its next look arrived.
	received sync.Map
}

var _ webhook.Sink = (*Webhooks)(nil)

// Ready says whether events can be acted on: the controller runs (on the leader).
func (w *Webhooks) Ready() bool { return w != nil && w.ready.Load() }

// Connection hands the event to the pacer for each object that manages its connection: the
// objects the cache knows, and one whose pass learned the connection a moment ago. No object
// known: it may be a create in flight; else the connection is not this cluster's (answered from
// memory, never by asking the API server).
func (w *Webhooks) Connection(ev webhook.ConnectionEvent) int {
	news := pacer.News{Connection: ev.ConnectionID, Status: ev.Status,
		Deleted: ev.Type == codatapi.EventConnectionDeleted, Failed: ev.Type == codatapi.EventConnectionFailed}
	var list codatv1.CodatConnectionList
	if err := w.Client.List(context.Background(), &list, client.MatchingFields{indexConnectionID: ev.ConnectionID}, client.UnsafeDisableDeepCopy); err != nil {
		w.Log.Error(err, "listing the objects of a webhook's connection")
		return 0
	}
	shown := map[types.NamespacedName]string{}
	for i := range list.Items {
		if o := &list.Items[i]; strings.EqualFold(companyOf(o), ev.CompanyID) {
			shown[nameOf(o)] = o.Status.ConnectionStatus
		}
	}
	if name, ok := w.Pacer.Managing(ev.ConnectionID); ok {
		if _, cached := shown[name]; !cached {
			shown[name] = ""
		}
	}
	if len(shown) == 0 {
		if w.Pacer.HeardUnknown(ev.CompanyID, news) {
			return 1
		}
		return 0
	}
	for name, status := range shown {
		if w.Pacer.Heard(name, news, status) {
			w.received.LoadOrStore(name, ev.Received)
		}
	}
	return len(shown)
}

// Company acts on company.deleted: the CodatCompanies that manage the company look at once (one
// the operator created is created anew, an adopted one stalls), and so do the connections that
// name the company by spec.companyId. Connections that name a CodatCompany follow it: they look
// when it has its new company. company.created is the operator's own echo, or none of its business.
func (w *Webhooks) Company(ev webhook.CompanyEvent) int {
	if ev.Type != codatapi.EventCompanyDeleted {
		return 0
	}
	id := strings.ToLower(ev.CompanyID)
	n := 0
	var companies codatv1.CodatCompanyList
	if err := w.Client.List(context.Background(), &companies, client.MatchingFields{indexCompanyID: id}, client.UnsafeDisableDeepCopy); err != nil {
		w.Log.Error(err, "listing the CodatCompanies of a webhook's company")
	}
	for i := range companies.Items {
		if w.CompanyPacer != nil {
			w.CompanyPacer.Wake(nameOfCompany(&companies.Items[i]), pacer.Event)
			n++
		}
	}
	var connections codatv1.CodatConnectionList
	if err := w.Client.List(context.Background(), &connections, client.MatchingFields{indexCompanyOf: id}, client.UnsafeDisableDeepCopy); err != nil {
		w.Log.Error(err, "listing the CodatConnections of a webhook's company")
	}
	for i := range connections.Items {
		if o := &connections.Items[i]; o.Spec.CompanyRef == nil {
			w.Pacer.Wake(nameOf(o), pacer.Event)
			n++
		}
	}
	return n
}

// RateLimit holds every Codat call until the quota resets (client.rateLimit.reached), or lets them
// go at once (client.rateLimit.reset).
func (w *Webhooks) RateLimit(ev webhook.RateLimitEvent) {
	switch ev.Type {
	case codatapi.EventRateLimitReached:
		until := w.Pacer.QuotaReached(ev.Expiry)
		w.Log.Info("Codat reports the daily quota used up; no Codat calls until it resets", "until", until)
	case codatapi.EventRateLimitReset:
		if w.Pacer.QuotaReset() {
			w.Log.Info("Codat reports the daily quota reset; Codat calls resume")
		}
	}
}

// safetyNet says whether polling is only the safety net: the receiver is configured and healthy.
func (w *Webhooks) safetyNet() bool { return w != nil && w.Healthy != nil && w.Healthy() }

// reconciling records the latency from an event to the pass it caused.
func (w *Webhooks) reconciling(name types.NamespacedName) {
	if w == nil {
		return
	}
	if t, ok := w.received.LoadAndDelete(name); ok {
		w.Metrics.ObserveLatency(w.now().Sub(t.(time.Time)))
	}
}

// passEnded forgets an event heard during a pass that needs no look after it, so that the
// latency of the object's next, unrelated pass is not counted from it.
func (w *Webhooks) passEnded(name types.NamespacedName, next pacer.Next) {
	if w != nil && !next.Again {
		w.received.Delete(name)
	}
}

// source starts acting on events once the controller runs, and watches the receiver's health.
func (w *Webhooks) source() source.TypedSource[reconcile.Request] {
	return source.TypedFunc[reconcile.Request](func(ctx context.Context, _ workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
		w.ready.Store(true)
		go w.watchHealth(ctx)
		return nil
	})
}

// healthCheckEvery is how often the receiver's health is looked at.
const healthCheckEvery = 2 * time.Second

// watchHealth tells the pacer when the receiver's health changes: when it stops being healthy, the
// polls that would wait a safety-net interval move within the normal poll interval.
func (w *Webhooks) watchHealth(ctx context.Context) {
	ticker := time.NewTicker(healthCheckEvery)
	defer ticker.Stop()
	was := w.safetyNet()
	w.Metrics.SetHealthy(was)
	w.setSafetyNet(was)
	for {
		select {
		case <-ctx.Done():
			w.ready.Store(false)
			return
		case <-ticker.C:
		}
		is := w.safetyNet()
		if is == was {
			continue
		}
		w.Metrics.SetHealthy(is)
		w.setSafetyNet(is)
		if is {
			w.Log.Info("the webhook receiver is healthy: polling becomes the safety net")
		} else {
			w.Log.Error(nil, "the webhook receiver is not healthy: polling at the normal intervals")
		}
		was = is
	}
}

// setSafetyNet tells the pacers of both kinds whether polling is only the safety net.
func (w *Webhooks) setSafetyNet(on bool) {
	w.Pacer.SetSafetyNet(on)
	if w.CompanyPacer != nil {
		w.CompanyPacer.SetSafetyNet(on)
	}
}

func (w *Webhooks) now() time.Time {
	if w.Now != nil {
		return w.Now()
	}
	return time.Now()
}
