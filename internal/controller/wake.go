package controller

import (
	"context"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/codat-operator/codat-operator/internal/pacer"
)

// waker turns the watches' events into looks, through a reconciler's pacer: a woken object
// looks now, whatever its poll's schedule.
type waker struct{ pacer *pacer.Pacer }

// on turns events of objects a reconciler reads (Secrets, Namespaces) into looks at the objects
// that read them.
func (w waker) on(objects func(context.Context, client.Object) []types.NamespacedName) handler.TypedEventHandler[client.Object, reconcile.Request] {
	wake := func(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request], o client.Object, initial bool) {
		for _, name := range objects(ctx, o) {
			w.wakeOrList(q, initial, name)
		}
	}
	return handler.TypedFuncs[client.Object, reconcile.Request]{
		CreateFunc: func(ctx context.Context, e event.TypedCreateEvent[client.Object], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			wake(ctx, q, e.Object, e.IsInInitialList)
		},
		UpdateFunc: func(ctx context.Context, e event.TypedUpdateEvent[client.Object], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			wake(ctx, q, e.ObjectNew, false)
		},
		DeleteFunc: func(ctx context.Context, e event.TypedDeleteEvent[client.Object], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			wake(ctx, q, e.Object, false)
		},
	}
}

// wakeOrList wakes the object, unless the event is part of the initial list after a start: that
// adds it with controller-runtime's low priority, and the pacer spreads the polls of settled
// objects instead of making them all at once.
func (w waker) wakeOrList(q workqueue.TypedRateLimitingInterface[reconcile.Request], initial bool, name types.NamespacedName) {
	if !initial {
		w.pacer.Wake(name, pacer.Work)
		return
	}
	req := reconcile.Request{NamespacedName: name}
	if pq, ok := q.(priorityqueue.PriorityQueue[reconcile.Request]); ok {
		pq.AddWithOpts(priorityqueue.AddOpts{Priority: ptr.To(handler.LowPriority)}, req)
		return
	}
	q.Add(req)
}
