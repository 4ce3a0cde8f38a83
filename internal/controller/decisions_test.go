package controller

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
	"github.com/codat-operator/codat-operator/internal/access"
	"github.com/codat-operator/codat-operator/internal/budget"
	"github.com/codat-operator/codat-operator/internal/codatapi"
	"github.com/codat-operator/codat-operator/internal/codatclient"
)

// These tests check the reconciler's decisions (which Codat call, which
// conditions, when to come back) against a fake Codat and a fake API server,
// in milliseconds. What needs real servers (admission, watches, HTTP, the
// binaries) is tested in test/integration and test/e2e.

const (
	testNS      = "tenant"
	testCompany = "8a210b68-6988-41ed-a1eb-0242ac120002"
	connA       = "3f0c2a7e-9b1d-4c55-8e21-6a7d0b9c1e42"
	connB       = "6b1f4f0a-2c3d-4e5f-8a9b-0c1d2e3f4a5b"
	testKey     = "sk-unit-test-key"
)

var testNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// fakeCodat is one company in Codat: its connections, the calls made, and
// errors to answer with, per operation (consumed in order; nil = answer).
type fakeCodat struct {
	conns map[string]*codatclient.Connection
	tags  map[string]string // the company's tags
	calls []string
	fail  map[string][]error
	// answered, when set, runs after each Get Codat answers (as the client's
	// rate-limit headers reach the budget).
	answered func()
}

func newFakeCodat(conns ...codatclient.Connection) *fakeCodat {
	f := &fakeCodat{conns: map[string]*codatclient.Connection{}, fail: map[string][]error{}}
	for i := range conns {
		f.conns[conns[i].ID] = &conns[i]
	}
	return f
}

func (f *fakeCodat) Connect(key codatclient.APIKey, companyID string) Company {
	if string(key) != testKey || companyID != testCompany {
		panic(fmt.Sprintf("connected with key %q to company %q", key, companyID))
	}
	return f
}

func (f *fakeCodat) failure(op string) error {
	if q := f.fail[op]; len(q) > 0 {
		f.fail[op] = q[1:]
		return q[0]
	}
	return nil
}

func (f *fakeCodat) Create(_ context.Context, platformKey string) (*codatclient.Connection, error) {
	f.calls = append(f.calls, "create "+platformKey)
	if err := f.failure(codatapi.OpCreateConnection); err != nil {
		return nil, err
	}
	c := &codatclient.Connection{ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", len(f.conns)+1), IntegrationKey: platformKey,
		Status: codatapi.StatusPendingAuth, LinkURL: "https://link.example/x", Created: testNow.Format(time.RFC3339)}
	f.conns[c.ID] = c
	return c, nil
}

func (f *fakeCodat) Get(_ context.Context, id string) (*codatclient.Connection, error) {
	f.calls = append(f.calls, "get "+id)
	if err := f.failure(codatapi.OpGetConnection); err != nil {
		return nil, err
	}
	if f.answered != nil {
		f.answered()
	}
	if c, ok := f.conns[id]; ok {
		found := *c
		return &found, nil
	}
	return nil, httpErr(codatapi.OpGetConnection, 404)
}

func (f *fakeCodat) List(context.Context) ([]codatclient.Connection, error) {
	f.calls = append(f.calls, "list")
	if err := f.failure(codatapi.OpListConnections); err != nil {
		return nil, err
	}
	var out []codatclient.Connection
	for _, c := range f.conns {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (f *fakeCodat) Unlink(_ context.Context, id string) (*codatclient.Connection, error) {
	f.calls = append(f.calls, "unlink "+id)
	if err := f.failure(codatapi.OpUnlinkConnection); err != nil {
		return nil, err
	}
	c := f.conns[id]
	c.Status = codatapi.StatusUnlinked
	answer := *c
	return &answer, nil
}

func (f *fakeCodat) UpdateAuthorization(_ context.Context, id string, body map[string]string) (*codatclient.Connection, error) {
	f.calls = append(f.calls, fmt.Sprintf("authorize %s %d keys", id, len(body)))
	if err := f.failure(codatapi.OpUpdateConnectionAuthorization); err != nil {
		return nil, err
	}
	c := f.conns[id]
	c.Status = codatapi.StatusLinked
	answer := *c
	return &answer, nil
}

func (f *fakeCodat) Delete(_ context.Context, id string) error {
	f.calls = append(f.calls, "delete "+id)
	if err := f.failure(codatapi.OpDeleteConnection); err != nil {
		return err
	}
	if _, ok := f.conns[id]; !ok {
		return httpErr(codatapi.OpDeleteConnection, 404)
	}
	delete(f.conns, id)
	return nil
}

func (f *fakeCodat) Tags(context.Context) (map[string]string, error) {
	f.calls = append(f.calls, "get-company")
	if err := f.failure(codatapi.OpGetCompany); err != nil {
		return nil, err
	}
	return f.tags, nil
}

func httpErr(op string, status int) error {
	return &codatclient.Error{Operation: op, Kind: codatclient.KindHTTP, StatusCode: status, Message: http.StatusText(status)}
}

func rateLimited(op string, after time.Duration) error {
	return &codatclient.Error{Operation: op, Kind: codatclient.KindHTTP, StatusCode: 429, RetryAfter: after}
}

func kindErr(op string, kind codatclient.Kind) error {
	return &codatclient.Error{Operation: op, Kind: kind, StatusCode: 200, Message: "simulated"}
}

// world is the fake API server and Codat one test case reconciles against,
// with a clock the test moves.
type world struct {
	t      *testing.T
	r      *Reconciler
	k8s    client.Client
	codat  *fakeCodat
	events *events.FakeRecorder
	now    time.Time
}

func newWorld(t *testing.T, codat *fakeCodat, objs ...client.Object) *world {
	t.Helper()
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = codatv1.AddToScheme(scheme)
	objs = append(objs, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "codat-system", Name: "codat-credentials"},
		Data:       map[string][]byte{codatv1.DefaultCredentialsKey: []byte(testKey)},
	})
	if !hasNamespace(objs, testNS) {
		objs = append(objs, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testNS, Labels: map[string]string{access.LabelDefaultCredentials: "granted"}}})
	}
	k8s := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).
		WithStatusSubresource(&codatv1.CodatConnection{}).
		WithIndex(&codatv1.CodatConnection{}, fieldConnectionID, func(o client.Object) []string {
			return []string{o.(*codatv1.CodatConnection).Status.ConnectionID}
		}).Build()
	recorder := events.NewFakeRecorder(100)
	w := &world{t: t, k8s: k8s, codat: codat, events: recorder, now: testNow}
	w.r = &Reconciler{
		Client: k8s, APIReader: k8s, Codat: codat, Recorder: recorder,
		Credentials: DefaultCredentials{Secret: types.NamespacedName{Namespace: "codat-system", Name: "codat-credentials"}, Grant: testGrant},
		Intervals:   DefaultIntervals,
		Now:         func() time.Time { return w.now },
	}
	return w
}

// testGrant grants the default credentials to namespaces labelled as the shipped manifests expect.
var testGrant = func() access.Grant {
	g, err := access.ParseGrant(nil, access.GrantedSelector)
	if err != nil {
		panic(err)
	}
	return g
}()

func hasNamespace(objs []client.Object, name string) bool {
	for _, o := range objs {
		if _, ok := o.(*corev1.Namespace); ok && o.GetName() == name {
			return true
		}
	}
	return false
}

// reconcile runs one pass and returns the object as stored afterwards.
func (w *world) reconcile(name string) (reconcile.Result, *codatv1.CodatConnection) {
	w.t.Helper()
	key := types.NamespacedName{Namespace: testNS, Name: name}
	res, err := w.r.Reconcile(context.Background(), reconcile.Request{NamespacedName: key})
	if err != nil {
		w.t.Fatalf("Reconcile: %v", err)
	}
	obj := &codatv1.CodatConnection{}
	if err := w.k8s.Get(context.Background(), key, obj); err != nil {
		return res, nil // released and gone
	}
	return res, obj
}

func (w *world) eventReasons() []string {
	var out []string
	for {
		select {
		case e := <-w.events.Events:
			out = append(out, strings.Fields(e)[1])
		default:
			return out
		}
	}
}

// object builds a CodatConnection; status and options change it.
func object(name string, opts ...func(*codatv1.CodatConnection)) *codatv1.CodatConnection {
	o := &codatv1.CodatConnection{
		ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: name, Generation: 1, UID: types.UID("uid-" + name)},
		Spec:       codatv1.CodatConnectionSpec{CompanyID: testCompany, PlatformKey: "gbol"},
	}
	for _, opt := range opts {
		opt(o)
	}
	return o
}

// managing gives the object a connection it manages and a realized status.
func managing(id, status string) func(*codatv1.CodatConnection) {
	return func(o *codatv1.CodatConnection) {
		o.Finalizers = []string{codatv1.Finalizer}
		o.Status.ConnectionID, o.Status.ConnectionStatus, o.Status.ObservedGeneration = id, status, o.Generation
	}
}

func pendingSince(t time.Time) func(*codatv1.CodatConnection) {
	return func(o *codatv1.CodatConnection) {
		o.Finalizers = []string{codatv1.Finalizer}
		o.Annotations = map[string]string{codatv1.AnnotationCreatePending: t.Format(time.RFC3339Nano)}
	}
}

func conn(id, platform, status string, created time.Time) codatclient.Connection {
	return codatclient.Connection{ID: id, IntegrationKey: platform, Status: status, Created: created.Format(time.RFC3339)}
}

// conditionsOf are the object's conditions as "Type=Status/Reason".
func conditionsOf(o *codatv1.CodatConnection) []string {
	var out []string
	for _, c := range o.Status.Conditions {
		out = append(out, fmt.Sprintf("%s=%s/%s", c.Type, c.Status, c.Reason))
	}
	sort.Strings(out)
	return out
}

func TestDecisions(t *testing.T) {
	type want struct {
		calls      []string
		conditions []string
		requeue    [2]time.Duration // inclusive range; zero: no requeue
		events     []string
		gone       bool
	}
	linked := conn(connA, "gbol", codatapi.StatusLinked, testNow.Add(-time.Hour))
	settled := [2]time.Duration{10 * time.Minute, 11 * time.Minute}
	backoff := [2]time.Duration{time.Second, time.Second}
	cases := []struct {
		name  string
		obj   *codatv1.CodatConnection
		codat *fakeCodat
		fail  map[string][]error
		want  want
	}{
		{name: "a new object creates one connection and waits for the business",
			obj: object("new"), codat: newFakeCodat(),
			want: want{calls: []string{"create gbol"}, requeue: [2]time.Duration{time.Minute, 66 * time.Second}, events: []string{"Created"},
				conditions: []string{"Ready=False/AwaitingAuthorization", "Reconciling=False/AwaitingAuthorization", "Stalled=False/AwaitingAuthorization", "Synced=True/Synced"}}},
		{name: "a Linked connection is read once and polled at the settled interval",
			obj: object("linked", managing(connA, "Linked")), codat: newFakeCodat(linked),
			want: want{calls: []string{"get " + connA}, requeue: settled,
				conditions: []string{"Ready=True/Linked", "Reconciling=False/Linked", "Stalled=False/Linked", "Synced=True/Synced"}}},
		{name: "a failed routine poll shows on Synced only",
			obj: object("hiccup", managing(connA, "Linked"), readyTrue), codat: newFakeCodat(linked),
			fail: map[string][]error{codatapi.OpGetConnection: {httpErr(codatapi.OpGetConnection, 503)}},
			want: want{calls: []string{"get " + connA}, requeue: backoff, events: []string{"CodatUnavailable"},
				conditions: []string{"Ready=True/Linked", "Reconciling=False/Linked", "Stalled=False/Linked", "Synced=False/CodatUnavailable"}}},
		{name: "a failed read of a changed spec is work in progress",
			obj: object("changed", managing(connA, "Linked"), readyTrue, func(o *codatv1.CodatConnection) {
				o.Spec.State, o.Generation = codatv1.StateUnlinked, 2
			}), codat: newFakeCodat(linked),
			fail: map[string][]error{codatapi.OpGetConnection: {httpErr(codatapi.OpGetConnection, 503)}},
			want: want{calls: []string{"get " + connA}, requeue: backoff, events: []string{"CodatUnavailable"},
				conditions: []string{"Ready=True/Linked", "Reconciling=True/CodatUnavailable", "Stalled=False/Linked", "Synced=False/CodatUnavailable"}}},
		{name: "a garbled poll is Codat's fault, retried",
			obj: object("garbled", managing(connA, "Linked"), readyTrue), codat: newFakeCodat(linked),
			fail: map[string][]error{codatapi.OpGetConnection: {kindErr(codatapi.OpGetConnection, codatclient.KindBadResponse)}},
			want: want{calls: []string{"get " + connA}, requeue: backoff, events: []string{"CodatUnavailable"},
				conditions: []string{"Ready=True/Linked", "Reconciling=False/Linked", "Stalled=False/Linked", "Synced=False/CodatUnavailable"}}},
		{name: "a 429 on a poll waits for Retry-After",
			obj: object("throttled", managing(connA, "Linked"), readyTrue), codat: newFakeCodat(linked),
			fail: map[string][]error{codatapi.OpGetConnection: {rateLimited(codatapi.OpGetConnection, 42*time.Second)}},
			want: want{calls: []string{"get " + connA}, requeue: [2]time.Duration{42 * time.Second, 42 * time.Second}, events: []string{"RateLimited"},
				conditions: []string{"Ready=True/Linked", "Reconciling=False/Linked", "Stalled=False/Linked", "Synced=False/RateLimited"}}},
		{name: "desired Unlinked unlinks a Linked connection",
			obj: object("unlink", managing(connA, "Linked"), func(o *codatv1.CodatConnection) {
				o.Spec.State, o.Generation = codatv1.StateUnlinked, 2
			}), codat: newFakeCodat(linked),
			want: want{calls: []string{"get " + connA, "unlink " + connA}, requeue: settled, events: []string{"Unlinked"},
				conditions: []string{"Ready=True/Unlinked", "Reconciling=False/Unlinked", "Stalled=False/Unlinked", "Synced=True/Synced"}}},
		{name: "a failed unlink is work in progress",
			obj: object("unlink-fails", managing(connA, "Linked"), func(o *codatv1.CodatConnection) {
				o.Spec.State, o.Generation = codatv1.StateUnlinked, 2
			}), codat: newFakeCodat(linked),
			fail: map[string][]error{codatapi.OpUnlinkConnection: {httpErr(codatapi.OpUnlinkConnection, 500)}},
			want: want{calls: []string{"get " + connA, "unlink " + connA}, requeue: backoff, events: []string{"CodatUnavailable"},
				conditions: []string{"Ready=False/CodatUnavailable", "Reconciling=True/CodatUnavailable", "Stalled=False/CodatUnavailable", "Synced=False/CodatUnavailable"}}},
		{name: "a connection deleted outside is created anew",
			obj: object("vanished", managing(connA, "Linked")), codat: newFakeCodat(),
			want: want{calls: []string{"get " + connA, "create gbol"}, requeue: [2]time.Duration{time.Minute, 66 * time.Second},
				events:     []string{"RemoteDeleted", "Created"},
				conditions: []string{"Ready=False/AwaitingAuthorization", "Reconciling=False/AwaitingAuthorization", "Stalled=False/AwaitingAuthorization", "Synced=True/Synced"}}},
		{name: "an adopted connection deleted outside is not replaced",
			obj:   object("adopted-gone", managing(connA, "Linked"), func(o *codatv1.CodatConnection) { o.Spec.ConnectionID = connA }),
			codat: newFakeCodat(),
			want: want{calls: []string{"get " + connA}, events: []string{"ConnectionNotFound"},
				conditions: []string{"Ready=False/ConnectionNotFound", "Reconciling=False/ConnectionNotFound", "Stalled=True/ConnectionNotFound", "Synced=False/ConnectionNotFound"}}},
		{name: "a connection of another platform is never managed",
			obj:   object("mismatch", func(o *codatv1.CodatConnection) { o.Spec.ConnectionID = connA }),
			codat: newFakeCodat(conn(connA, "qhyg", codatapi.StatusLinked, testNow)),
			want: want{calls: []string{"get " + connA}, events: []string{"PlatformMismatch"},
				conditions: []string{"Ready=False/PlatformMismatch", "Reconciling=False/PlatformMismatch", "Stalled=True/PlatformMismatch", "Synced=False/PlatformMismatch"}}},
		{name: "spec.connectionId naming another connection stalls",
			obj:   object("switch", managing(connA, "Linked"), func(o *codatv1.CodatConnection) { o.Spec.ConnectionID = connB }),
			codat: newFakeCodat(linked),
			want: want{events: []string{"ConnectionIDConflict"},
				conditions: []string{"Ready=False/ConnectionIDConflict", "Reconciling=False/ConnectionIDConflict", "Stalled=True/ConnectionIDConflict", "Synced=False/ConnectionIDConflict"}}},
		{name: "a changed authorization Secret is sent once",
			obj: object("authorize", managing(connA, "Deauthorized"), func(o *codatv1.CodatConnection) {
				o.Spec.Authorization = &codatv1.AuthorizationSource{SecretRef: codatv1.LocalSecretReference{Name: "tokens"}}
			}), codat: newFakeCodat(conn(connA, "gbol", codatapi.StatusDeauthorized, testNow)),
			want: want{calls: []string{"get " + connA, "authorize " + connA + " 2 keys"}, requeue: settled, events: []string{"AuthorizationUpdated"},
				conditions: []string{"Ready=True/Linked", "Reconciling=False/Linked", "Stalled=False/Linked", "Synced=True/Synced"}}},
		{name: "paused: no call, nothing claimed",
			obj: object("paused", func(o *codatv1.CodatConnection) {
				o.Annotations = map[string]string{codatv1.AnnotationPaused: "true"}
			}), codat: newFakeCodat(),
			want: want{conditions: []string{"Ready=Unknown/Paused", "Reconciling=False/Paused", "Stalled=False/Paused", "Synced=False/Paused"}}},
		{name: "paused after a stall: a person's decision, not a failure",
			obj: object("paused-stall", stalledBy402, func(o *codatv1.CodatConnection) {
				o.Annotations[codatv1.AnnotationPaused] = "true"
			}), codat: newFakeCodat(),
			want: want{conditions: []string{"Ready=False/Paused", "Reconciling=False/Paused", "Stalled=False/Paused", "Synced=False/Paused"}}},
		{name: "paused while deleting: no call, and Stalled until the pause ends",
			obj: object("paused-deleting", managing(connA, "Linked"), readyTrue, func(o *codatv1.CodatConnection) {
				o.Annotations = map[string]string{codatv1.AnnotationPaused: "true"}
				o.DeletionTimestamp = &metav1.Time{Time: testNow}
			}), codat: newFakeCodat(conn(connA, "gbol", codatapi.StatusLinked, testNow)),
			want: want{events: []string{codatv1.ReasonDeletionPaused},
				conditions: []string{"Ready=True/Paused", "Reconciling=False/Paused", "Stalled=True/DeletionPaused", "Synced=False/Paused"}}},
		{name: "an unchanged stall that Codat caused is not sent again",
			obj: object("unchanged", stalledBy402), codat: newFakeCodat(),
			want: want{conditions: []string{"Ready=False/AccountLimit", "Reconciling=False/AccountLimit", "Stalled=True/AccountLimit", "Synced=False/AccountLimit"}}},
		{name: "a cancelled call (the manager stopping) ends the pass quietly",
			obj: object("cancelled"), codat: newFakeCodat(),
			fail: map[string][]error{codatapi.OpCreateConnection: {&codatclient.Error{Operation: codatapi.OpCreateConnection, Kind: codatclient.KindCanceled, Err: context.Canceled}}},
			want: want{calls: []string{"create gbol"}, requeue: backoff}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			objs := []client.Object{tc.obj, &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: "tokens"},
				Data:       map[string][]byte{"accessToken": []byte("tok"), "businessId": []byte("b")},
			}}
			for op, errs := range tc.fail {
				tc.codat.fail[op] = errs
			}
			w := newWorld(t, tc.codat, objs...)
			if tc.obj.Status.StalledInputs == "stall-digest" {
				// The digest of the stall's inputs as the reconciler computes it.
				obj := tc.obj.DeepCopy()
				_ = w.k8s.Get(context.Background(), client.ObjectKeyFromObject(obj), obj)
				obj.Status.StalledInputs = w.r.stalledInputs(context.Background(), obj, testKey)
				if err := w.k8s.Status().Update(context.Background(), obj); err != nil {
					t.Fatal(err)
				}
			}
			res, obj := w.reconcile(tc.obj.Name)
			if diff := cmp.Diff(tc.want.calls, w.codat.calls); diff != "" {
				t.Errorf("Codat calls (-want +got):\n%s", diff)
			}
			if got := res.RequeueAfter; got < tc.want.requeue[0] || got > tc.want.requeue[1] {
				t.Errorf("requeue after %s, want %s..%s", got, tc.want.requeue[0], tc.want.requeue[1])
			}
			if diff := cmp.Diff(tc.want.events, w.eventReasons()); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			if tc.want.gone != (obj == nil) {
				t.Fatalf("object gone = %v, want %v", obj == nil, tc.want.gone)
			}
			if obj != nil && tc.want.conditions != nil {
				if diff := cmp.Diff(tc.want.conditions, conditionsOf(obj)); diff != "" {
					t.Errorf("conditions (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// A deletion held up by the pause is what the status describes: its generation (which the API
// server bumps when it sets deletionTimestamp) is observed, so GitOps tools see a stuck deletion
// instead of waiting for a generation forever; a spec change made while paused and not deleting
// is not.
func TestPausedGenerations(t *testing.T) {
	for _, deleting := range []bool{false, true} {
		obj := object("paused", managing(connA, "Linked"), readyTrue, func(o *codatv1.CodatConnection) {
			o.Annotations = map[string]string{codatv1.AnnotationPaused: "true"}
			o.Generation = 2 // the status and conditions describe generation 1
			if deleting {
				o.DeletionTimestamp = &metav1.Time{Time: testNow}
			}
		})
		obj.Status.ObservedGeneration = 1
		w := newWorld(t, newFakeCodat(conn(connA, "gbol", codatapi.StatusLinked, testNow)), obj)
		_, got := w.reconcile("paused")
		want := int64(1)
		if deleting {
			want = 2
			if !controllerutil.ContainsFinalizer(got, codatv1.Finalizer) {
				t.Error("a paused object being deleted lost its finalizer")
			}
		}
		if got.Status.ObservedGeneration != want {
			t.Errorf("deleting=%v: status.observedGeneration %d, want %d", deleting, got.Status.ObservedGeneration, want)
		}
		for _, c := range got.Status.Conditions {
			if c.ObservedGeneration != want {
				t.Errorf("deleting=%v: %s observedGeneration %d, want %d", deleting, c.Type, c.ObservedGeneration, want)
			}
		}
	}
}

func readyTrue(o *codatv1.CodatConnection) {
	o.Status.Conditions = []metav1.Condition{{Type: codatv1.ConditionReady, Status: metav1.ConditionTrue, Reason: codatv1.ReasonLinked,
		Message: "Codat reports the connection Linked", ObservedGeneration: o.Generation, LastTransitionTime: metav1.NewTime(testNow.Add(-time.Hour))}}
}

func stalledBy402(o *codatv1.CodatConnection) {
	o.Finalizers = []string{codatv1.Finalizer}
	o.Annotations = map[string]string{codatv1.AnnotationCreatePending: testNow.Format(time.RFC3339Nano)}
	o.Status.ObservedGeneration = o.Generation
	o.Status.StalledInputs = "stall-digest"
	msg := "Codat refused to create the connection: the account reached a limit of its plan (HTTP 402). Raise the limit in Codat, then set the annotation codat.io/reconcile-requested-at to any new value to retry"
	for _, c := range []metav1.Condition{
		{Type: codatv1.ConditionReady, Status: metav1.ConditionFalse, Reason: codatv1.ReasonAccountLimit, Message: msg},
		{Type: codatv1.ConditionReconciling, Status: metav1.ConditionFalse, Reason: codatv1.ReasonAccountLimit},
		{Type: codatv1.ConditionStalled, Status: metav1.ConditionTrue, Reason: codatv1.ReasonAccountLimit, Message: msg},
		{Type: codatv1.ConditionSynced, Status: metav1.ConditionFalse, Reason: codatv1.ReasonAccountLimit, Message: msg},
	} {
		c.ObservedGeneration = o.Generation
		meta.SetStatusCondition(&o.Status.Conditions, c)
	}
}

// Every failure class of a Codat call ends in the reason docs/conditions.md gives it.
func TestStatusCodesToReasons(t *testing.T) {
	cases := []struct {
		err     error
		op      string
		reason  string
		stalled bool
	}{
		{httpErr(codatapi.OpCreateConnection, 400), codatapi.OpCreateConnection, codatv1.ReasonCodatRejected, true},
		{httpErr(codatapi.OpCreateConnection, 401), codatapi.OpCreateConnection, codatv1.ReasonCredentialsRejected, true},
		{httpErr(codatapi.OpCreateConnection, 402), codatapi.OpCreateConnection, codatv1.ReasonAccountLimit, true},
		{httpErr(codatapi.OpCreateConnection, 403), codatapi.OpCreateConnection, codatv1.ReasonCredentialsRejected, true},
		{httpErr(codatapi.OpCreateConnection, 404), codatapi.OpCreateConnection, codatv1.ReasonCompanyNotFound, true},
		{httpErr(codatapi.OpListConnections, 404), codatapi.OpListConnections, codatv1.ReasonCompanyNotFound, true},
		{httpErr(codatapi.OpGetCompany, 404), codatapi.OpGetCompany, codatv1.ReasonCompanyNotFound, true},
		{httpErr(codatapi.OpUnlinkConnection, 404), codatapi.OpUnlinkConnection, codatv1.ReasonProgressing, false},
		{httpErr(codatapi.OpCreateConnection, 405), codatapi.OpCreateConnection, codatv1.ReasonCodatRejected, true},
		{httpErr(codatapi.OpCreateConnection, 408), codatapi.OpCreateConnection, codatv1.ReasonCodatUnavailable, false},
		{httpErr(codatapi.OpCreateConnection, 409), codatapi.OpCreateConnection, codatv1.ReasonCodatRejected, true},
		{httpErr(codatapi.OpCreateConnection, 422), codatapi.OpCreateConnection, codatv1.ReasonCodatRejected, true},
		{httpErr(codatapi.OpCreateConnection, 429), codatapi.OpCreateConnection, codatv1.ReasonRateLimited, false},
		{httpErr(codatapi.OpCreateConnection, 451), codatapi.OpCreateConnection, codatv1.ReasonCodatRejected, true},
		{httpErr(codatapi.OpCreateConnection, 500), codatapi.OpCreateConnection, codatv1.ReasonCodatUnavailable, false},
		{httpErr(codatapi.OpCreateConnection, 501), codatapi.OpCreateConnection, codatv1.ReasonCodatRejected, true},
		{httpErr(codatapi.OpCreateConnection, 502), codatapi.OpCreateConnection, codatv1.ReasonCodatUnavailable, false},
		{httpErr(codatapi.OpCreateConnection, 503), codatapi.OpCreateConnection, codatv1.ReasonCodatUnavailable, false},
		{httpErr(codatapi.OpCreateConnection, 504), codatapi.OpCreateConnection, codatv1.ReasonCodatUnavailable, false},
		{httpErr(codatapi.OpCreateConnection, 302), codatapi.OpCreateConnection, codatv1.ReasonCodatRejected, true},
		{kindErr(codatapi.OpCreateConnection, codatclient.KindBadResponse), codatapi.OpCreateConnection, codatv1.ReasonCodatUnavailable, false},
		{kindErr(codatapi.OpGetConnection, codatclient.KindTimeout), codatapi.OpGetConnection, codatv1.ReasonCodatUnavailable, false},
		{kindErr(codatapi.OpGetConnection, codatclient.KindTLS), codatapi.OpGetConnection, codatv1.ReasonCodatUnavailable, false},
		{kindErr(codatapi.OpGetConnection, codatclient.KindNetwork), codatapi.OpGetConnection, codatv1.ReasonCodatUnavailable, false},
		{kindErr(codatapi.OpGetConnection, codatclient.KindInvalidAPIKey), codatapi.OpGetConnection, codatv1.ReasonCredentialsInvalid, true},
		{kindErr(codatapi.OpUpdateConnectionAuthorization, codatclient.KindInvalidRequest), codatapi.OpUpdateConnectionAuthorization, codatv1.ReasonCodatRejected, true},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s %v", tc.op, tc.err), func(t *testing.T) {
			err := codatFailure(tc.op, tc.err, true, testCompany, "the test's key")
			var s *stallError
			var r *retryError
			switch {
			case errors.As(err, &s):
				if !tc.stalled || s.reason != tc.reason || !s.fromCodat {
					t.Fatalf("stall %s (fromCodat %v), want reason %s stalled %v", s.reason, s.fromCodat, tc.reason, tc.stalled)
				}
			case errors.As(err, &r):
				if tc.stalled || r.reason != tc.reason {
					t.Fatalf("retry %s, want reason %s stalled %v", r.reason, tc.reason, tc.stalled)
				}
			default:
				t.Fatalf("%v is neither a stall nor a retry", err)
			}
			if strings.Contains(err.Error(), testKey) {
				t.Fatalf("the message holds the key: %v", err)
			}
		})
	}
	if !errors.Is(codatFailure(codatapi.OpGetConnection, &codatclient.Error{Kind: codatclient.KindCanceled}, true, testCompany, ""), errRaced) {
		t.Error("a cancelled call is not a quiet end of the pass")
	}
}

// The recovery of an interrupted create picks only what that create can have made.
func TestRecoveryCandidates(t *testing.T) {
	marker := testNow.Add(-10 * time.Minute)
	owned := object("owner", managing(connB, "Linked"))
	cases := []struct {
		name  string
		conns []codatclient.Connection
		want  []string
	}{
		{"nothing in Codat: create", nil, []string{"list", "create gbol"}},
		{"one made after the marker: take it", []codatclient.Connection{conn(connA, "gbol", "PendingAuth", marker.Add(time.Second))},
			[]string{"list"}},
		{"within the clock skew before the marker: take it", []codatclient.Connection{conn(connA, "gbol", "PendingAuth", marker.Add(-time.Minute))},
			[]string{"list"}},
		{"older than the marker and the skew: create", []codatclient.Connection{conn(connA, "gbol", "Linked", marker.Add(-time.Hour))},
			[]string{"list", "create gbol"}},
		{"another platform: create", []codatclient.Connection{conn(connA, "qhyg", "PendingAuth", marker.Add(time.Second))},
			[]string{"list", "create gbol"}},
		{"owned by another object: create", []codatclient.Connection{conn(connB, "gbol", "PendingAuth", marker.Add(time.Second))},
			[]string{"list", "create gbol"}},
		{"two candidates: stall", []codatclient.Connection{
			conn(connA, "gbol", "PendingAuth", marker.Add(time.Second)), conn("9d8c7b6a-5f4e-4d3c-2b1a-0f9e8d7c6b5a", "gbol", "PendingAuth", marker.Add(2*time.Second))},
			[]string{"list"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, newFakeCodat(tc.conns...), object("recovering", pendingSince(marker)), owned)
			_, obj := w.reconcile("recovering")
			if diff := cmp.Diff(tc.want, w.codat.calls); diff != "" {
				t.Errorf("Codat calls (-want +got):\n%s", diff)
			}
			if strings.HasPrefix(tc.name, "two") {
				if c := meta.FindStatusCondition(obj.Status.Conditions, codatv1.ConditionStalled); c == nil || c.Reason != codatv1.ReasonAmbiguousCreate ||
					!strings.Contains(c.Message, connA) {
					t.Fatalf("two candidates: %+v", obj.Status.Conditions)
				}
			} else if obj.Status.ConnectionID == "" || obj.Status.ConnectionID == connB {
				t.Fatalf("recovered connection %q", obj.Status.ConnectionID)
			}
		})
	}
}

// Each deletion policy makes exactly its Codat calls, and only Orphan lets go without credentials.
func TestDeletionPolicies(t *testing.T) {
	deleting := func(policy codatv1.DeletionPolicy, status string) func(*codatv1.CodatConnection) {
		return func(o *codatv1.CodatConnection) {
			managing(connA, status)(o)
			o.Spec.DeletionPolicy = policy
			o.DeletionTimestamp = &metav1.Time{Time: testNow}
		}
	}
	cases := []struct {
		name       string
		obj        *codatv1.CodatConnection
		codat      *fakeCodat
		fail       map[string][]error
		noDefault  bool
		wantCalls  []string
		wantGone   bool
		wantReason string
	}{
		{name: "Delete deletes", obj: object("d", deleting(codatv1.DeletionPolicyDelete, "Linked")),
			codat: newFakeCodat(conn(connA, "gbol", "Linked", testNow)), wantCalls: []string{"delete " + connA}, wantGone: true},
		{name: "Delete of a connection already gone", obj: object("d404", deleting(codatv1.DeletionPolicyDelete, "Linked")),
			codat: newFakeCodat(), wantCalls: []string{"delete " + connA}, wantGone: true},
		{name: "Unlink unlinks a Linked connection", obj: object("u", deleting(codatv1.DeletionPolicyUnlink, "Linked")),
			codat: newFakeCodat(conn(connA, "gbol", "Linked", testNow)), wantCalls: []string{"get " + connA, "unlink " + connA}, wantGone: true},
		{name: "Unlink leaves a PendingAuth connection", obj: object("u2", deleting(codatv1.DeletionPolicyUnlink, "PendingAuth")),
			codat: newFakeCodat(conn(connA, "gbol", "PendingAuth", testNow)), wantCalls: []string{"get " + connA}, wantGone: true},
		{name: "Orphan makes no call", obj: object("o", deleting(codatv1.DeletionPolicyOrphan, "Linked")),
			codat: newFakeCodat(conn(connA, "gbol", "Linked", testNow)), wantGone: true},
		{name: "Orphan needs no credentials", obj: object("o2", deleting(codatv1.DeletionPolicyOrphan, "Linked")), noDefault: true,
			codat: newFakeCodat(), wantGone: true},
		{name: "Delete without credentials is blocked", obj: object("blocked", deleting(codatv1.DeletionPolicyDelete, "Linked")), noDefault: true,
			codat: newFakeCodat(), wantReason: codatv1.ReasonDeletionBlocked},
		{name: "Delete that Codat refuses is blocked", obj: object("refused", deleting(codatv1.DeletionPolicyDelete, "Linked")),
			codat: newFakeCodat(conn(connA, "gbol", "Linked", testNow)), fail: map[string][]error{codatapi.OpDeleteConnection: {httpErr(codatapi.OpDeleteConnection, 403)}},
			wantCalls: []string{"delete " + connA}, wantReason: codatv1.ReasonDeletionBlocked},
		{name: "Delete that fails for a moment is retried", obj: object("retried", deleting(codatv1.DeletionPolicyDelete, "Linked")),
			codat: newFakeCodat(conn(connA, "gbol", "Linked", testNow)), fail: map[string][]error{codatapi.OpDeleteConnection: {httpErr(codatapi.OpDeleteConnection, 503)}},
			wantCalls: []string{"delete " + connA}, wantReason: codatv1.ReasonCodatUnavailable},
		{name: "an adopted connection is left alone without an explicit policy", obj: object("adopted", deleting("", "Linked"), func(o *codatv1.CodatConnection) {
			o.Spec.ConnectionID = connA
		}), codat: newFakeCodat(conn(connA, "gbol", "Linked", testNow)), wantGone: true},
		{name: "an adopted connection is deleted when the object says so", obj: object("adopted-delete", deleting(codatv1.DeletionPolicyDelete, "Linked"), func(o *codatv1.CodatConnection) {
			o.Spec.ConnectionID = connA
		}), codat: newFakeCodat(conn(connA, "gbol", "Linked", testNow)), wantCalls: []string{"delete " + connA}, wantGone: true},
		{name: "a created connection is deleted without an explicit policy", obj: object("created", deleting("", "Linked")),
			codat: newFakeCodat(conn(connA, "gbol", "Linked", testNow)), wantCalls: []string{"delete " + connA}, wantGone: true},
		{name: "an interrupted create is found and deleted", obj: object("interrupted", pendingSince(testNow.Add(-time.Minute)), func(o *codatv1.CodatConnection) {
			o.DeletionTimestamp = &metav1.Time{Time: testNow}
		}), codat: newFakeCodat(conn(connA, "gbol", "PendingAuth", testNow)), wantCalls: []string{"list", "delete " + connA}, wantGone: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for op, errs := range tc.fail {
				tc.codat.fail[op] = errs
			}
			w := newWorld(t, tc.codat, tc.obj)
			if tc.noDefault {
				w.r.Credentials = DefaultCredentials{}
			}
			res, obj := w.reconcile(tc.obj.Name)
			if diff := cmp.Diff(tc.wantCalls, w.codat.calls); diff != "" {
				t.Errorf("Codat calls (-want +got):\n%s", diff)
			}
			if tc.wantGone != (obj == nil) {
				t.Fatalf("gone = %v, want %v", obj == nil, tc.wantGone)
			}
			if tc.wantGone {
				if res.RequeueAfter != 0 {
					t.Errorf("requeue after %s for a released object", res.RequeueAfter)
				}
				return
			}
			stalled := meta.FindStatusCondition(obj.Status.Conditions, codatv1.ConditionStalled)
			reconciling := meta.FindStatusCondition(obj.Status.Conditions, codatv1.ConditionReconciling)
			switch {
			case stalled != nil && stalled.Status == metav1.ConditionTrue:
				if stalled.Reason != tc.wantReason || !strings.Contains(stalled.Message, "deletionPolicy: Orphan") {
					t.Fatalf("stalled %s: %s", stalled.Reason, stalled.Message)
				}
			case reconciling != nil && reconciling.Status == metav1.ConditionTrue:
				if reconciling.Reason != tc.wantReason {
					t.Fatalf("reconciling %s, want %s", reconciling.Reason, tc.wantReason)
				}
			default:
				t.Fatalf("neither stalled nor retrying: %+v", obj.Status.Conditions)
			}
		})
	}
}

// The platform's defaults: the namespace's annotation over the operator's flag, the object's own
// field over both, and no default ever deletes an adopted connection.
func TestDefaultDeletionPolicies(t *testing.T) {
	const (
		deleted  = "delete " + connA
		unlinked = "unlink " + connA
	)
	cases := []struct {
		name      string
		operator  codatv1.DeletionPolicy
		namespace *string
		field     codatv1.DeletionPolicy
		adopted   bool
		want      codatv1.DeletionPolicy
		wantCalls []string
	}{
		{name: "no default: a created connection is deleted", want: codatv1.DeletionPolicyDelete, wantCalls: []string{deleted}},
		{name: "no default: an adopted connection is left", adopted: true, want: codatv1.DeletionPolicyOrphan},
		{name: "the operator's default", operator: codatv1.DeletionPolicyOrphan, want: codatv1.DeletionPolicyOrphan},
		{name: "the namespace's default over the operator's", operator: codatv1.DeletionPolicyOrphan, namespace: ptr.To("Unlink"),
			want: codatv1.DeletionPolicyUnlink, wantCalls: []string{"get " + connA, unlinked}},
		{name: "the field over both defaults", operator: codatv1.DeletionPolicyOrphan, namespace: ptr.To("Orphan"), field: codatv1.DeletionPolicyDelete,
			want: codatv1.DeletionPolicyDelete, wantCalls: []string{deleted}},
		{name: "a default of Delete leaves an adopted connection", adopted: true, namespace: ptr.To("Delete"), want: codatv1.DeletionPolicyOrphan},
		{name: "a default of Unlink unlinks an adopted connection", adopted: true, operator: codatv1.DeletionPolicyUnlink,
			want: codatv1.DeletionPolicyUnlink, wantCalls: []string{"get " + connA, unlinked}},
		{name: "the field deletes an adopted connection", adopted: true, namespace: ptr.To("Orphan"), field: codatv1.DeletionPolicyDelete,
			want: codatv1.DeletionPolicyDelete, wantCalls: []string{deleted}},
		{name: "a value that is no policy reads as Orphan", operator: codatv1.DeletionPolicyDelete, namespace: ptr.To("delete"), want: codatv1.DeletionPolicyOrphan},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testNS, Labels: map[string]string{access.LabelDefaultCredentials: "granted"}}}
			if tc.namespace != nil {
				ns.Annotations = map[string]string{codatv1.AnnotationDefaultDeletionPolicy: *tc.namespace}
			}
			withPolicy := func(o *codatv1.CodatConnection) {
				o.Spec.DeletionPolicy = tc.field
				if tc.adopted {
					o.Spec.ConnectionID = connA
				}
			}
			linked := conn(connA, "gbol", codatapi.StatusLinked, testNow)

			// While it lives, the object shows the policy in effect.
			w := newWorld(t, newFakeCodat(linked), ns, object("live", managing(connA, "Linked"), withPolicy))
			w.r.DefaultDeletionPolicy = tc.operator
			if _, obj := w.reconcile("live"); obj.Status.DeletionPolicy != tc.want {
				t.Errorf("status.deletionPolicy %q, want %q", obj.Status.DeletionPolicy, tc.want)
			}

			// Deleting it does what that policy says.
			w = newWorld(t, newFakeCodat(linked), ns, object("deleting", managing(connA, "Linked"), withPolicy, func(o *codatv1.CodatConnection) {
				o.DeletionTimestamp = &metav1.Time{Time: testNow}
			}))
			w.r.DefaultDeletionPolicy = tc.operator
			if _, obj := w.reconcile("deleting"); obj != nil {
				t.Fatalf("the object was not released: %v", conditionsOf(obj))
			}
			if diff := cmp.Diff(tc.wantCalls, w.codat.calls); diff != "" {
				t.Errorf("Codat calls (-want +got):\n%s", diff)
			}
		})
	}
}

// The first look after a start at a settled object with nothing new spreads its poll over the poll
// interval instead of calling Codat: a restart is no burst.
func TestFirstLookAfterAStartSpreadsThePoll(t *testing.T) {
	settledObj := object("settled", managing(connA, "Linked"), func(o *codatv1.CodatConnection) {
		for _, c := range []metav1.Condition{
			{Type: codatv1.ConditionReady, Status: metav1.ConditionTrue, Reason: codatv1.ReasonLinked},
			{Type: codatv1.ConditionReconciling, Status: metav1.ConditionFalse, Reason: codatv1.ReasonLinked},
			{Type: codatv1.ConditionStalled, Status: metav1.ConditionFalse, Reason: codatv1.ReasonLinked},
			{Type: codatv1.ConditionSynced, Status: metav1.ConditionTrue, Reason: codatv1.ReasonSynced},
		} {
			c.ObservedGeneration = o.Generation
			meta.SetStatusCondition(&o.Status.Conditions, c)
		}
	})
	w := newWorld(t, newFakeCodat(conn(connA, "gbol", codatapi.StatusLinked, testNow)), settledObj)
	res, _ := w.reconcile("settled")
	if len(w.codat.calls) != 0 || res.RequeueAfter <= 0 || res.RequeueAfter > 11*time.Minute {
		t.Fatalf("first look: calls %v, requeue after %s; want none, within the poll interval", w.codat.calls, res.RequeueAfter)
	}
	if _, _ = w.reconcile("settled"); len(w.codat.calls) != 0 {
		t.Fatalf("a look before the spread poll is due: calls %v, want none", w.codat.calls)
	}
	w.now = w.now.Add(res.RequeueAfter)
	if _, _ = w.reconcile("settled"); len(w.codat.calls) != 1 {
		t.Fatalf("the look when the poll is due: calls %v, want the poll", w.codat.calls)
	}
	// A changed spec is looked at at once.
	changed := settledObj.DeepCopy()
	changed.Name, changed.Generation = "changed", 2
	w = newWorld(t, newFakeCodat(conn(connA, "gbol", codatapi.StatusLinked, testNow)), changed)
	if _, _ = w.reconcile("changed"); len(w.codat.calls) != 1 {
		t.Fatalf("a changed object: calls %v, want the read at once", w.codat.calls)
	}
}

// With the quota nearly used up only writes go out: a poll waits for the reset and says so; a
// create still goes. A tight budget stretches polls, and the object says so.
func TestBudgetDecisions(t *testing.T) {
	reset := testNow.Add(3 * time.Hour)
	fingerprint := codatclient.APIKey(testKey).Fingerprint()
	linked := conn(connA, "gbol", codatapi.StatusLinked, testNow)

	low := budget.New(budget.Options{Share: 0.5, Floor: 0.1, Now: func() time.Time { return testNow }})
	low.Observe(fingerprint, 1000, 50, reset)
	w := newWorld(t, newFakeCodat(linked), object("polled", managing(connA, "Linked"), readyTrue), object("new"))
	w.r.Budget = low
	res, obj := w.reconcile("polled")
	if len(w.codat.calls) != 0 {
		t.Fatalf("below the floor a poll called %v", w.codat.calls)
	}
	if c := meta.FindStatusCondition(obj.Status.Conditions, codatv1.ConditionSynced); c == nil || c.Reason != codatv1.ReasonQuotaLow || c.Status != metav1.ConditionFalse {
		t.Fatalf("Synced %+v, want False/QuotaLow", c)
	}
	if res.RequeueAfter < 3*time.Hour {
		t.Fatalf("the held-back poll comes back after %s, before the reset", res.RequeueAfter)
	}
	if ready := meta.FindStatusCondition(obj.Status.Conditions, codatv1.ConditionReady); ready.Status != metav1.ConditionTrue {
		t.Fatalf("Ready=%s while polls wait", ready.Status)
	}
	if _, _ = w.reconcile("new"); len(w.codat.calls) != 1 || w.codat.calls[0] != "create gbol" {
		t.Fatalf("below the floor the create was not sent: %v", w.codat.calls)
	}

	// A poll the budget let out whose answer shows the quota nearly used up:
	// the next poll waits for the reset, and the object says so at once.
	lastPoll := budget.New(budget.Options{Share: 0.5, Floor: 0.1, Now: func() time.Time { return testNow }})
	lastPoll.Observe(fingerprint, 1000, 900, reset)
	answering := newFakeCodat(linked)
	answering.answered = func() { lastPoll.Observe(fingerprint, 1000, 50, reset) }
	w = newWorld(t, answering, object("last-poll", managing(connA, "Linked"), readyTrue))
	w.r.Budget = lastPoll
	res, obj = w.reconcile("last-poll")
	if len(w.codat.calls) != 1 {
		t.Fatalf("calls %v, want the poll", w.codat.calls)
	}
	if c := meta.FindStatusCondition(obj.Status.Conditions, codatv1.ConditionSynced); c.Reason != codatv1.ReasonQuotaLow || c.Status != metav1.ConditionFalse {
		t.Fatalf("Synced %+v after the answer that used up the quota, want False/QuotaLow", c)
	}
	if ready := meta.FindStatusCondition(obj.Status.Conditions, codatv1.ConditionReady); ready.Status != metav1.ConditionTrue || ready.Reason != codatv1.ReasonLinked {
		t.Fatalf("Ready %+v, want True/Linked from the answer", ready)
	}
	if res.RequeueAfter < 3*time.Hour {
		t.Fatalf("the next poll comes after %s, before the reset", res.RequeueAfter)
	}

	tight := budget.New(budget.Options{Share: 0.5, Floor: 0.1, Now: func() time.Time { return testNow }})
	tight.Observe(fingerprint, 1000, 990, reset) // 490 left of the share for 3 hours
	for i := range 1000 {
		tight.Track(fmt.Sprint("other-", i), fingerprint, budget.Demand{Every: 10 * time.Minute})
	}
	w = newWorld(t, newFakeCodat(linked), object("stretched", managing(connA, "Linked"), readyTrue))
	w.r.Budget = tight
	res, obj = w.reconcile("stretched")
	if len(w.codat.calls) != 1 {
		t.Fatalf("calls %v, want the poll", w.codat.calls)
	}
	if c := meta.FindStatusCondition(obj.Status.Conditions, codatv1.ConditionSynced); c.Reason != codatv1.ReasonPollsStretched || c.Status != metav1.ConditionTrue {
		t.Fatalf("Synced %+v, want True/PollsStretched", c)
	}
	if res.RequeueAfter <= 11*time.Minute {
		t.Fatalf("next poll after %s: not stretched", res.RequeueAfter)
	}
}

// With the default credentials, the namespace's grant and its allowed companies are checked before
// any Codat call for the object; a tag check reads the company once, and a failed read is a
// Codat failure like any other.
func TestTenancyDecisions(t *testing.T) {
	namespace := func(labels, annotations map[string]string) *corev1.Namespace {
		return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testNS, Labels: labels, Annotations: annotations}}
	}
	granted := map[string]string{access.LabelDefaultCredentials: "granted"}
	created := []string{"Ready=False/AwaitingAuthorization", "Reconciling=False/AwaitingAuthorization", "Stalled=False/AwaitingAuthorization", "Synced=True/Synced"}
	stalled := func(reason string) []string {
		return []string{"Ready=False/" + reason, "Reconciling=False/" + reason, "Stalled=True/" + reason, "Synced=False/" + reason}
	}
	for _, tc := range []struct {
		name      string
		ns        *corev1.Namespace
		tags      map[string]string
		fail      error
		own       bool // spec.credentialsRef: the object uses a key of its own
		wantCalls []string
		want      []string
	}{
		{name: "an ungranted namespace makes no call", ns: namespace(nil, nil),
			want: stalled(codatv1.ReasonDefaultCredentialsNotGranted)},
		{name: "own credentials need no grant", ns: namespace(nil, map[string]string{access.AnnotationCompanies: "another"}), own: true,
			wantCalls: []string{"create gbol"}, want: created},
		{name: "a granted namespace without annotations may use any company", ns: namespace(granted, nil),
			wantCalls: []string{"create gbol"}, want: created},
		{name: "a company allowed by id needs no read", ns: namespace(granted, map[string]string{access.AnnotationCompanies: strings.ToUpper(testCompany), access.AnnotationCompanyTags: "tenant=acme"}),
			wantCalls: []string{"create gbol"}, want: created},
		{name: "a company not listed, with no tags to check, makes no call", ns: namespace(granted, map[string]string{access.AnnotationCompanies: "another"}),
			want: stalled(codatv1.ReasonCompanyNotAllowed)},
		{name: "a company with an allowed tag is read, then served", ns: namespace(granted, map[string]string{access.AnnotationCompanyTags: "team=x, tenant=acme"}),
			tags: map[string]string{"tenant": "acme"}, wantCalls: []string{"get-company", "create gbol"}, want: created},
		{name: "a company without an allowed tag is refused after the read", ns: namespace(granted, map[string]string{access.AnnotationCompanyTags: "tenant=acme"}),
			tags: map[string]string{"tenant": "globex"}, wantCalls: []string{"get-company"}, want: stalled(codatv1.ReasonCompanyNotAllowed)},
		{name: "a malformed tag annotation makes no call", ns: namespace(granted, map[string]string{access.AnnotationCompanyTags: "tenant"}),
			want: stalled(codatv1.ReasonCompanyNotAllowed)},
		{name: "a company Codat does not know stalls", ns: namespace(granted, map[string]string{access.AnnotationCompanyTags: "tenant=acme"}),
			fail: httpErr(codatapi.OpGetCompany, 404), wantCalls: []string{"get-company"}, want: stalled(codatv1.ReasonCompanyNotFound)},
		{name: "a failed read of the tags is retried", ns: namespace(granted, map[string]string{access.AnnotationCompanyTags: "tenant=acme"}),
			fail: httpErr(codatapi.OpGetCompany, 503), wantCalls: []string{"get-company"},
			want: []string{"Ready=False/CodatUnavailable", "Reconciling=True/CodatUnavailable", "Stalled=False/CodatUnavailable", "Synced=False/CodatUnavailable"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			codat := newFakeCodat()
			codat.tags = tc.tags
			if tc.fail != nil {
				codat.fail[codatapi.OpGetCompany] = []error{tc.fail}
			}
			obj := object("o")
			objs := []client.Object{tc.ns, obj}
			if tc.own {
				obj.Spec.CredentialsRef = &codatv1.SecretKeyReference{Name: "own", Key: codatv1.DefaultCredentialsKey}
				objs = append(objs, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: "own"},
					Data: map[string][]byte{codatv1.DefaultCredentialsKey: []byte(testKey)}})
			}
			w := newWorld(t, codat, objs...)
			_, got := w.reconcile("o")
			if diff := cmp.Diff(tc.wantCalls, codat.calls); diff != "" {
				t.Errorf("Codat calls (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.want, conditionsOf(got)); diff != "" {
				t.Errorf("conditions (-want +got):\n%s", diff)
			}
		})
	}
}

// A connection that names its company by spec.companyRef waits, with no Codat call and no requeue,
// while the CodatCompany does not exist or has no company yet; then it is created in that company.
func TestConnectionsWaitForTheirCompany(t *testing.T) {
	byRef := object("by-ref", func(o *codatv1.CodatConnection) {
		o.Spec.CompanyID, o.Spec.CompanyRef = "", &codatv1.CodatCompanyReference{Name: "acme"}
	})
	pending := []string{"Ready=False/CompanyPending", "Reconciling=True/CompanyPending", "Stalled=False/CompanyPending", "Synced=False/CompanyPending"}

	w := newWorld(t, newFakeCodat(), byRef)
	res, obj := w.reconcile("by-ref")
	if len(w.codat.calls) != 0 || res.RequeueAfter != 0 || !cmp.Equal(conditionsOf(obj), pending) {
		t.Fatalf("no CodatCompany: calls %v, requeue %s, conditions %v", w.codat.calls, res.RequeueAfter, conditionsOf(obj))
	}
	if got := w.eventReasons(); !cmp.Equal(got, []string{"CompanyPending"}) {
		t.Fatalf("events %v, want one CompanyPending", got)
	}

	acme := &codatv1.CodatCompany{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: "acme"}, Spec: codatv1.CodatCompanySpec{Name: "Acme Ltd"}}
	w = newWorld(t, newFakeCodat(), byRef, acme)
	if _, obj := w.reconcile("by-ref"); len(w.codat.calls) != 0 || !cmp.Equal(conditionsOf(obj), pending) {
		t.Fatalf("a CodatCompany with no company yet: calls %v, conditions %v", w.codat.calls, conditionsOf(obj))
	}

	withCompany := acme.DeepCopy()
	withCompany.Status.CompanyID = testCompany
	w = newWorld(t, newFakeCodat(), byRef, withCompany)
	_, obj = w.reconcile("by-ref")
	if !cmp.Equal(w.codat.calls, []string{"create gbol"}) || obj.Status.CompanyID != testCompany {
		t.Fatalf("a CodatCompany with its company: calls %v, status.companyId %q", w.codat.calls, obj.Status.CompanyID)
	}
}
