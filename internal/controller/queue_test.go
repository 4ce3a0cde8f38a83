package controller

import (
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/codat-operator/codat-operator/internal/pacer"
)

func request(ns, name string) reconcile.Request {
	return reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}}
}

// One company's mass apply does not starve another company's work, and polls come after work.
func TestFairQueue(t *testing.T) {
	q := newFairQueue(priorityqueue.New[reconcile.Request]("fair-queue-test"), func(n types.NamespacedName) (string, bool) {
		return n.Namespace, n.Name != "settled"
	})
	defer q.ShutDown()
	// After a start: a settled object of the initial list waits like a poll; a new one is work.
	q.AddWithOpts(priorityqueue.AddOpts{Priority: ptr.To(handler.LowPriority)}, request("d", "settled"), request("d", "created-while-down"))
	q.AddWithOpts(priorityqueue.AddOpts{Priority: ptr.To(pacer.Poll.Priority())}, request("c", "poll"))
	for i := range 50 {
		q.Add(request("a", fmt.Sprint(i)))
	}
	q.Add(request("b", "new"))
	q.Add(request("a", "0")) // again: still one item, one place in a's backlog

	var order []string
	for q.Len() > 0 {
		item, _ := q.Get()
		order = append(order, item.Namespace+"/"+item.Name)
		q.Done(item)
	}
	position := map[string]int{}
	for i, name := range order {
		position[name] = i
	}
	if len(order) != 54 {
		t.Fatalf("%d items handed out, want 54: %v", len(order), order)
	}
	if p := position["d/created-while-down"]; p > fairnessSteps+2 {
		t.Errorf("an object created while the operator was down came %dth: behind the polls", p+1)
	}
	if p := position["d/settled"]; p < len(order)-2 {
		t.Errorf("a settled object of the initial list came %dth of %d, before work", p+1, len(order))
	}
	if p := position["b/new"]; p > fairnessSteps+1 {
		t.Errorf("company b's one object came %dth, behind %d of company a's", p+1, p)
	}
	if p := position["c/poll"]; p < len(order)-2 {
		t.Errorf("the poll came %dth of %d, want among the last: polls wait for work", p+1, len(order))
	}
	if len(q.backlog) != 0 {
		t.Errorf("backlog left after every item was handed out: %v", q.backlog)
	}
}
