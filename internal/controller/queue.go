package controller

import (
	"context"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
	"github.com/codat-operator/codat-operator/internal/pacer"
)

// fairnessSteps bounds how far a company's backlog lowers the priority of its work.
const fairnessSteps = 9

// fairQueue is the controller's work queue: controller-runtime's priority queue, where an item of
// work or an event (priority ≥ pacer.Work's) is added one step lower for every item its company
// already has waiting. One company's mass apply then cannot starve the others: another company's
// work overtakes all but the first few of its items. The pacer's urgencies set the priorities:
// events before work, polls after both whatever the company.
type fairQueue struct {
	priorityqueue.PriorityQueue[reconcile.Request]
	// lookUp names an object's company ("" when unknown) and says whether it has work waiting
	// (no connection yet, a spec change not yet seen, a deletion).
	lookUp func(types.NamespacedName) (company string, work bool)

	mu      sync.Mutex
	backlog map[string]map[reconcile.Request]struct{} // by company: work added and not yet handed out
	company map[reconcile.Request]string
}

// newFairQueue wraps a priority queue; lookUp reads an object from the manager's cache.
func newFairQueue(q priorityqueue.PriorityQueue[reconcile.Request], lookUp func(types.NamespacedName) (string, bool)) *fairQueue {
	return &fairQueue{PriorityQueue: q, lookUp: lookUp,
		backlog: map[string]map[reconcile.Request]struct{}{}, company: map[reconcile.Request]string{}}
}

// lookUpInCache reads an object's company, and whether it has work waiting, from the cache.
func lookUpInCache(c client.Reader) func(types.NamespacedName) (string, bool) {
	return func(name types.NamespacedName) (string, bool) {
		var o codatv1.CodatConnection
		// Read only: the cache's own object does, with no copy per add.
		if err := c.Get(context.Background(), name, &o, client.UnsafeDisableDeepCopy); err != nil {
			return "", true
		}
		work := o.Status.ConnectionID == "" || o.Generation != o.Status.ObservedGeneration || !o.DeletionTimestamp.IsZero()
		return companyOf(&o), work
	}
}

// Look is the pacer's way in: a pass of the object after the delay, at the urgency's priority.
func (q *fairQueue) Look(name types.NamespacedName, after time.Duration, u pacer.Urgency) {
	q.AddWithOpts(priorityqueue.AddOpts{After: after, Priority: ptr.To(u.Priority())}, reconcile.Request{NamespacedName: name})
}

func (q *fairQueue) Add(item reconcile.Request) {
	q.AddWithOpts(priorityqueue.AddOpts{}, item)
}

func (q *fairQueue) AddAfter(item reconcile.Request, after time.Duration) {
	q.AddWithOpts(priorityqueue.AddOpts{After: after}, item)
}

func (q *fairQueue) AddRateLimited(item reconcile.Request) {
	q.AddWithOpts(priorityqueue.AddOpts{RateLimited: true}, item)
}

// AddWithOpts adds each item of work with its priority lowered by its company's backlog. Items of
// the initial list after a start (controller-runtime's LowPriority) are sorted into work or polls:
// an object created while the operator was down must not wait behind every poll.
func (q *fairQueue) AddWithOpts(o priorityqueue.AddOpts, items ...reconcile.Request) {
	work, poll := pacer.Work.Priority(), pacer.Poll.Priority()
	priority := ptr.Deref(o.Priority, work)
	for _, item := range items {
		opts := o
		p := priority
		if p < poll {
			if _, isWork := q.lookUp(item.NamespacedName); isWork {
				p = work
			} else {
				p = poll
			}
		}
		if p >= work {
			p -= q.enter(item)
		}
		opts.Priority = ptr.To(p)
		q.PriorityQueue.AddWithOpts(opts, item)
	}
}

// enter records the item in its company's backlog and returns how many were there before it.
func (q *fairQueue) enter(item reconcile.Request) int {
	q.mu.Lock()
	company, known := q.company[item]
	q.mu.Unlock()
	if !known {
		company, _ = q.lookUp(item.NamespacedName) // outside the lock: a cache read
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.company[item] = company
	waiting := q.backlog[company]
	if waiting == nil {
		waiting = map[reconcile.Request]struct{}{}
		q.backlog[company] = waiting
	}
	ahead := len(waiting)
	if _, in := waiting[item]; in {
		ahead--
	}
	waiting[item] = struct{}{}
	return min(ahead, fairnessSteps)
}

func (q *fairQueue) Get() (reconcile.Request, bool) {
	item, _, shutdown := q.GetWithPriority()
	return item, shutdown
}

// GetWithPriority hands out the next item and takes it off its company's backlog.
func (q *fairQueue) GetWithPriority() (reconcile.Request, int, bool) {
	item, priority, shutdown := q.PriorityQueue.GetWithPriority()
	q.mu.Lock()
	if company, ok := q.company[item]; ok {
		// Forgotten once handed out: an entry per object would outlive its
		// place in the queue; the next add looks the company up again.
		delete(q.company, item)
		delete(q.backlog[company], item)
		if len(q.backlog[company]) == 0 {
			delete(q.backlog, company)
		}
	}
	q.mu.Unlock()
	return item, priority, shutdown
}

// forget drops what the queue remembers of a deleted object.
func (q *fairQueue) forget(name types.NamespacedName) {
	q.mu.Lock()
	defer q.mu.Unlock()
	item := reconcile.Request{NamespacedName: name}
	if company, ok := q.company[item]; ok {
		delete(q.backlog[company], item)
		if len(q.backlog[company]) == 0 {
			delete(q.backlog, company)
		}
		delete(q.company, item)
	}
}

var _ workqueue.TypedRateLimitingInterface[reconcile.Request] = (*fairQueue)(nil)
