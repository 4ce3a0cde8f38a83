package integration_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/uuid"
	"sigs.k8s.io/controller-runtime/pkg/client"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
	"github.com/codat-operator/codat-operator/internal/access"
	"github.com/codat-operator/codat-operator/internal/codatapi"
	"github.com/codat-operator/codat-operator/internal/codatsim"
)

const waitTimeout = 45 * time.Second

// tcase is one test's world: a namespace and a Codat company of its own.
type tcase struct {
	t       testing.TB
	ns      string
	company string
	timeout time.Duration // how long waits wait
}

func newCase(t testing.TB) *tcase {
	t.Helper()
	casesStarted.Add(1)
	c := &tcase{t: t, ns: "t-" + rand.String(8), company: newCompany(), timeout: waitTimeout}
	if err := k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: c.ns,
		Labels: map[string]string{access.LabelDefaultCredentials: "granted"}}}); err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	return c
}

func newCompany() string {
	id := string(uuid.NewUUID())
	sim.AddCompany(id)
	return id
}

func (c *tcase) key(name string) types.NamespacedName {
	return types.NamespacedName{Namespace: c.ns, Name: name}
}

// create makes a CodatConnection for the case's company, Xero by default.
func (c *tcase) create(name string, mutate func(*codatv1.CodatConnection)) {
	c.t.Helper()
	obj := &codatv1.CodatConnection{
		ObjectMeta: metav1.ObjectMeta{Namespace: c.ns, Name: name},
		Spec:       codatv1.CodatConnectionSpec{CompanyID: c.company, PlatformKey: "gbol"},
	}
	if mutate != nil {
		mutate(obj)
	}
	if err := k8s.Create(context.Background(), obj); err != nil {
		c.t.Fatalf("creating %s: %v", name, err)
	}
}

func (c *tcase) get(name string) *codatv1.CodatConnection {
	c.t.Helper()
	obj := &codatv1.CodatConnection{}
	if err := k8s.Get(context.Background(), c.key(name), obj); err != nil {
		c.t.Fatalf("getting %s: %v", name, err)
	}
	return obj
}

// update re-reads the object, applies change and writes it, retrying conflicts.
func (c *tcase) update(name string, change func(*codatv1.CodatConnection)) {
	c.t.Helper()
	for range 10 {
		obj := c.get(name)
		change(obj)
		err := k8s.Update(context.Background(), obj)
		if err == nil {
			return
		}
		if !apierrors.IsConflict(err) {
			c.t.Fatalf("updating %s: %v", name, err)
		}
	}
	c.t.Fatalf("updating %s: too many conflicts", name)
}

// poll asks the operator to look at the object now, as a user would.
func (c *tcase) poll(name string) {
	c.t.Helper()
	c.update(name, func(o *codatv1.CodatConnection) {
		if o.Annotations == nil {
			o.Annotations = map[string]string{}
		}
		o.Annotations[codatv1.AnnotationReconcileRequestedAt] = rand.String(10)
	})
}

func (c *tcase) delete(name string) {
	c.t.Helper()
	if err := k8s.Delete(context.Background(), &codatv1.CodatConnection{ObjectMeta: metav1.ObjectMeta{Namespace: c.ns, Name: name}}); err != nil {
		c.t.Fatalf("deleting %s: %v", name, err)
	}
}

// waitFor polls the object until ok says yes, and returns it.
func (c *tcase) waitFor(name, what string, ok func(*codatv1.CodatConnection) bool) *codatv1.CodatConnection {
	c.t.Helper()
	var last *codatv1.CodatConnection
	deadline := time.Now().Add(c.timeout)
	for time.Now().Before(deadline) {
		obj := &codatv1.CodatConnection{}
		if err := k8s.Get(context.Background(), c.key(name), obj); err == nil {
			last = obj
			if ok(obj) {
				return obj
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Fatalf("%s never became %s; last seen: status=%+v", name, what, statusOf(last))
	return nil
}

func statusOf(o *codatv1.CodatConnection) any {
	if o == nil {
		return nil
	}
	return o.Status
}

// waitCondition waits until condition t of the object has the status and reason.
func (c *tcase) waitCondition(name, condType string, status metav1.ConditionStatus, reason string) *codatv1.CodatConnection {
	c.t.Helper()
	return c.waitFor(name, fmt.Sprintf("%s=%s/%s", condType, status, reason), func(o *codatv1.CodatConnection) bool {
		cond := meta.FindStatusCondition(o.Status.Conditions, condType)
		return cond != nil && cond.Status == status && cond.Reason == reason && cond.ObservedGeneration == o.Generation
	})
}

func (c *tcase) waitGone(name string) {
	c.t.Helper()
	deadline := time.Now().Add(c.timeout)
	for time.Now().Before(deadline) {
		err := k8s.Get(context.Background(), c.key(name), &codatv1.CodatConnection{})
		if apierrors.IsNotFound(err) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Fatalf("%s was never deleted; status=%+v", name, c.get(name).Status)
}

// requests are the simulator's requests for the case's company, optionally
// only those of one operation.
func (c *tcase) requests(op string) []codatsim.Request {
	return requestsFor(c.company, op)
}

func requestsFor(company, op string) []codatsim.Request {
	var out []codatsim.Request
	for _, r := range sim.Requests() {
		if r.CompanyID == company && (op == "" || r.Operation == op) {
			out = append(out, r)
		}
	}
	return out
}

// creates counts the creates Codat committed for the company: answered 200,
// or committed with the response deliberately lost.
func (c *tcase) creates() int {
	n := 0
	for _, r := range c.requests(codatapi.OpCreateConnection) {
		if r.StatusCode == http.StatusOK || (r.StatusCode == 0 && r.Fault != "") {
			n++
		}
	}
	return n
}

func (c *tcase) connections() []codatsim.Connection {
	return sim.Connections(c.company)
}

// waitEvent waits for an event with the reason about the object, and returns its note.
func (c *tcase) waitEvent(name, reason string) string {
	c.t.Helper()
	deadline := time.Now().Add(c.timeout)
	for time.Now().Before(deadline) {
		for _, e := range c.events(name) {
			if e.Reason == reason {
				return e.Note
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Fatalf("no %s event for %s; events: %v", reason, name, eventReasons(c.events(name)))
	return ""
}

func (c *tcase) events(name string) []eventsv1.Event {
	var list eventsv1.EventList
	if err := k8s.List(context.Background(), &list, client.InNamespace(c.ns)); err != nil {
		c.t.Fatalf("listing events: %v", err)
	}
	var out []eventsv1.Event
	for _, e := range list.Items {
		if e.Regarding.Name == name {
			out = append(out, e)
		}
	}
	return out
}

func eventReasons(events []eventsv1.Event) []string {
	var out []string
	for _, e := range events {
		out = append(out, e.Reason)
	}
	return out
}

// secret creates a Secret in the case's namespace; its values count as secrets.
func (c *tcase) secret(name string, data map[string]string) {
	c.t.Helper()
	for _, v := range data {
		secretValues.add(v)
	}
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: c.ns, Name: name}, StringData: data}
	if err := k8s.Create(context.Background(), s); err != nil {
		c.t.Fatalf("creating Secret %s: %v", name, err)
	}
}

func (c *tcase) setSecret(name string, data map[string]string) {
	c.t.Helper()
	for _, v := range data {
		secretValues.add(v)
	}
	s := &corev1.Secret{}
	if err := k8s.Get(context.Background(), c.key(name), s); err != nil {
		c.t.Fatal(err)
	}
	s.Data, s.StringData = nil, data
	if err := k8s.Update(context.Background(), s); err != nil {
		c.t.Fatal(err)
	}
}

func condition(o *codatv1.CodatConnection, t string) metav1.Condition {
	if c := meta.FindStatusCondition(o.Status.Conditions, t); c != nil {
		return *c
	}
	return metav1.Condition{}
}

func requireContains(t *testing.T, text string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(text, w) {
			t.Errorf("%q does not contain %q", text, w)
		}
	}
}

// setFaults injects faults into the whole simulator until the test ends; only
// tests that do not run in parallel use it.
func setFaults(t *testing.T, f codatsim.Faults) {
	t.Helper()
	if err := sim.SetFaults(f); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.SetFaults(codatsim.Faults{}) })
}

func secretObj(ns, name string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
}
