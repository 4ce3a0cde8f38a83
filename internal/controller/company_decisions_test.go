package controller

import (
	"context"
	"fmt"
	"maps"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
	"github.com/codat-operator/codat-operator/internal/access"
	"github.com/codat-operator/codat-operator/internal/codatapi"
	"github.com/codat-operator/codat-operator/internal/codatclient"
)

// fakeCompanies is Codat's company API for one key: its companies, the calls made, and errors
// to answer with, per operation (consumed in order).
type fakeCompanies struct {
	companies map[string]*codatclient.Company
	calls     []string
	fail      map[string][]error
	next      int
	// looseFilter answers a list with every company, whatever the filter.
	looseFilter bool
}

func newFakeCompanies(companies ...codatclient.Company) *fakeCompanies {
	f := &fakeCompanies{companies: map[string]*codatclient.Company{}, fail: map[string][]error{}}
	for i := range companies {
		f.companies[companies[i].ID] = &companies[i]
	}
	return f
}

func (f *fakeCompanies) Companies(key codatclient.APIKey) Companies {
	if string(key) != testKey {
		panic(fmt.Sprintf("connected with key %q", key))
	}
	return f
}

func (f *fakeCompanies) failure(op string) error {
	if q := f.fail[op]; len(q) > 0 {
		f.fail[op] = q[1:]
		return q[0]
	}
	return nil
}

func (f *fakeCompanies) List(_ context.Context, filter codatclient.CompanyFilter) ([]codatclient.Company, error) {
	f.calls = append(f.calls, "list "+filter.Tags)
	if err := f.failure(codatapi.OpListCompanies); err != nil {
		return nil, err
	}
	key, value, _ := strings.Cut(filter.Tags, "=")
	var out []codatclient.Company
	for _, c := range f.companies {
		if f.looseFilter || c.Tags[key] == value {
			out = append(out, *c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (f *fakeCompanies) Create(_ context.Context, req codatclient.CompanyRequest) (*codatclient.Company, error) {
	f.calls = append(f.calls, "create "+req.Name)
	if err := f.failure(codatapi.OpCreateCompany); err != nil {
		return nil, err
	}
	f.next++
	c := &codatclient.Company{ID: fmt.Sprintf("00000000-0000-4000-9000-%012d", f.next), Name: req.Name, Description: req.Description,
		Tags: maps.Clone(req.Tags), Redirect: "https://link.example/company", Created: testNow.Format(time.RFC3339)}
	f.companies[c.ID] = c
	answer := *c
	return &answer, nil
}

func (f *fakeCompanies) Get(_ context.Context, id string) (*codatclient.Company, error) {
	f.calls = append(f.calls, "get "+id)
	if err := f.failure(codatapi.OpGetCompany); err != nil {
		return nil, err
	}
	c, ok := f.companies[id]
	if !ok {
		return nil, httpErr(codatapi.OpGetCompany, 404)
	}
	answer := *c
	answer.Tags = maps.Clone(c.Tags)
	return &answer, nil
}

func (f *fakeCompanies) Replace(_ context.Context, id string, req codatclient.CompanyRequest) (*codatclient.Company, error) {
	f.calls = append(f.calls, "replace "+id)
	if err := f.failure(codatapi.OpReplaceCompany); err != nil {
		return nil, err
	}
	c := f.companies[id]
	c.Name, c.Description, c.Tags = req.Name, req.Description, maps.Clone(req.Tags)
	answer := *c
	return &answer, nil
}

func (f *fakeCompanies) Delete(_ context.Context, id string) error {
	f.calls = append(f.calls, "delete "+id)
	if err := f.failure(codatapi.OpDeleteCompany); err != nil {
		return err
	}
	if _, ok := f.companies[id]; !ok {
		return httpErr(codatapi.OpDeleteCompany, 404)
	}
	delete(f.companies, id)
	return nil
}

// companyWorld is the fake API server and Codat a company case reconciles against.
type companyWorld struct {
	t      *testing.T
	r      *CompanyReconciler
	k8s    client.Client
	codat  *fakeCompanies
	events *events.FakeRecorder
}

func newCompanyWorld(t *testing.T, codat *fakeCompanies, objs ...client.Object) *companyWorld {
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
		WithStatusSubresource(&codatv1.CodatCompany{}, &codatv1.CodatConnection{}).
		WithIndex(&codatv1.CodatCompany{}, fieldCompanyID, func(o client.Object) []string {
			return []string{o.(*codatv1.CodatCompany).Status.CompanyID}
		}).
		WithIndex(&codatv1.CodatConnection{}, indexCompanyOf, func(o client.Object) []string {
			return []string{strings.ToLower(companyOf(o.(*codatv1.CodatConnection)))}
		}).Build()
	recorder := events.NewFakeRecorder(100)
	r := &CompanyReconciler{
		Client: k8s, APIReader: k8s, Codat: codat, Recorder: recorder,
		Credentials: DefaultCredentials{Secret: types.NamespacedName{Namespace: "codat-system", Name: "codat-credentials"}, Grant: testGrant},
		Intervals:   DefaultIntervals,
		Now:         func() time.Time { return testNow },
	}
	return &companyWorld{t: t, r: r, k8s: k8s, codat: codat, events: recorder}
}

// reconcile runs one pass and returns the object as stored afterwards (nil: gone).
func (w *companyWorld) reconcile(name string) (reconcile.Result, *codatv1.CodatCompany) {
	w.t.Helper()
	key := types.NamespacedName{Namespace: testNS, Name: name}
	res, err := w.r.Reconcile(context.Background(), reconcile.Request{NamespacedName: key})
	if err != nil {
		w.t.Fatalf("Reconcile: %v", err)
	}
	obj := &codatv1.CodatCompany{}
	if err := w.k8s.Get(context.Background(), key, obj); err != nil {
		return res, nil
	}
	return res, obj
}

func (w *companyWorld) eventReasons() []string {
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

const (
	acmeID  = "0a1b2c3d-0000-4000-8000-000000000001"
	otherID = "0a1b2c3d-0000-4000-8000-000000000002"
)

func company(name string, opts ...func(*codatv1.CodatCompany)) *codatv1.CodatCompany {
	o := &codatv1.CodatCompany{
		ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: name, Generation: 1, UID: types.UID("uid-" + name)},
		Spec:       codatv1.CodatCompanySpec{Name: "Acme Ltd"},
	}
	for _, opt := range opts {
		opt(o)
	}
	return o
}

// managingAcme gives the object the company acmeID and a realized status.
func managingAcme(o *codatv1.CodatCompany) {
	o.Status.CompanyID, o.Status.ObservedGeneration = acmeID, o.Generation
	o.Status.AppliedHash = specHash(o)
}

func codatCompany(id, name string, tags map[string]string) codatclient.Company {
	return codatclient.Company{ID: id, Name: name, Tags: tags, Redirect: "https://link.example/" + id}
}

func companyConditions(o *codatv1.CodatCompany) []string {
	return conditionsOf(&codatv1.CodatConnection{Status: codatv1.CodatConnectionStatus{Conditions: o.Status.Conditions}})
}

var applied = []string{"Ready=True/CompanyApplied", "Reconciling=False/CompanyApplied", "Stalled=False/CompanyApplied", "Synced=True/Synced"}

func TestCompanyDecisions(t *testing.T) {
	uidTag := map[string]string{codatv1.CompanyTagUID: "uid-acme"}
	cases := []struct {
		name       string
		obj        *codatv1.CodatCompany
		codat      *fakeCompanies
		fail       map[string][]error
		calls      []string
		conditions []string
		events     []string
		check      func(*testing.T, *codatv1.CodatCompany, *fakeCompanies)
	}{
		{name: "a new object creates one company, tagged with the object's UID",
			obj: company("acme"), codat: newFakeCompanies(),
			calls: []string{"create Acme Ltd"}, conditions: applied, events: []string{"Created"},
			check: func(t *testing.T, o *codatv1.CodatCompany, f *fakeCompanies) {
				c := f.companies[o.Status.CompanyID]
				if c == nil || c.Tags[codatv1.CompanyTagUID] != "uid-acme" {
					t.Fatalf("the company in Codat: %+v", c)
				}
				if o.Status.Redirect == "" || o.Status.DeletionPolicy != codatv1.CompanyDeletionPolicyOrphan || o.Status.AppliedHash != specHash(o) {
					t.Fatalf("status %+v", o.Status)
				}
				if _, pending := o.Annotations[codatv1.AnnotationCreatePending]; !pending || len(o.Finalizers) != 0 {
					t.Fatalf("annotations %v, finalizers %v: want the create-pending marker and no finalizer (Orphan)", o.Annotations, o.Finalizers)
				}
			}},
		{name: "a settled company is read once and left as it is",
			obj: company("acme", managingAcme), codat: newFakeCompanies(codatCompany(acmeID, "Acme Ltd", nil)),
			calls: []string{"get " + acmeID}, conditions: applied},
		{name: "a changed spec is applied once",
			obj: company("acme", managingAcme, func(o *codatv1.CodatCompany) {
				o.Spec.Name, o.Spec.Tags, o.Spec.Description, o.Generation = "Acme Group", map[string]string{"region": "eu"}, ptr.To("ref 42"), 2
			}),
			codat: newFakeCompanies(codatCompany(acmeID, "Acme Ltd", uidTag)),
			calls: []string{"get " + acmeID, "replace " + acmeID}, conditions: applied, events: []string{"Updated"},
			check: func(t *testing.T, o *codatv1.CodatCompany, f *fakeCompanies) {
				want := map[string]string{"region": "eu", codatv1.CompanyTagUID: "uid-acme"}
				if c := f.companies[acmeID]; c.Name != "Acme Group" || c.Description != "ref 42" || !maps.Equal(c.Tags, want) {
					t.Fatalf("Codat holds %+v", c)
				}
			}},
		{name: "a change made in Codat is put back, and says so",
			obj:   company("acme", managingAcme),
			codat: newFakeCompanies(codatCompany(acmeID, "Renamed in the portal", nil)),
			calls: []string{"get " + acmeID, "replace " + acmeID}, conditions: applied, events: []string{"ChangedInCodat"}},
		{name: "an adopted company keeps the description and tags the spec leaves unset",
			obj:   company("acme", func(o *codatv1.CodatCompany) { o.Spec.CompanyID = acmeID }),
			codat: newFakeCompanies(codatclient.Company{ID: acmeID, Name: "Acme Ltd", Description: "theirs", Tags: map[string]string{"team": "x"}}),
			calls: []string{"get " + acmeID}, conditions: applied, events: []string{"Adopted"},
			check: func(t *testing.T, o *codatv1.CodatCompany, f *fakeCompanies) {
				if o.Status.CompanyID != acmeID || f.companies[acmeID].Tags["team"] != "x" {
					t.Fatalf("status %+v, Codat %+v", o.Status, f.companies[acmeID])
				}
			}},
		{name: "an adopted company that does not exist stalls",
			obj: company("acme", func(o *codatv1.CodatCompany) { o.Spec.CompanyID = acmeID }), codat: newFakeCompanies(),
			calls:      []string{"get " + acmeID},
			conditions: []string{"Ready=False/CompanyNotFound", "Reconciling=False/CompanyNotFound", "Stalled=True/CompanyNotFound", "Synced=False/CompanyNotFound"},
			events:     []string{"CompanyNotFound"}},
		{name: "an interrupted create is found again by the object's UID, not made twice (and only by it, however loose Codat's filter)",
			obj: company("acme", createPendingCompany),
			codat: func() *fakeCompanies {
				f := newFakeCompanies(codatCompany(acmeID, "Acme Ltd", uidTag), codatCompany(otherID, "Acme Ltd", nil))
				f.looseFilter = true
				return f
			}(),
			calls: []string{"list " + codatv1.CompanyTagUID + "=uid-acme"}, conditions: applied, events: []string{"Created"},
			check: func(t *testing.T, o *codatv1.CodatCompany, _ *fakeCompanies) {
				if o.Status.CompanyID != acmeID {
					t.Fatalf("recovered %s, want %s", o.Status.CompanyID, acmeID)
				}
			}},
		{name: "an interrupted create that made nothing creates",
			obj: company("acme", createPendingCompany), codat: newFakeCompanies(),
			calls: []string{"list " + codatv1.CompanyTagUID + "=uid-acme", "create Acme Ltd"}, conditions: applied, events: []string{"Created"}},
		{name: "two companies with the object's UID stall and name both",
			obj: company("acme", createPendingCompany),
			codat: newFakeCompanies(codatCompany(acmeID, "Acme Ltd", uidTag),
				codatCompany(otherID, "Acme Ltd", uidTag)),
			calls:      []string{"list " + codatv1.CompanyTagUID + "=uid-acme"},
			conditions: []string{"Ready=False/AmbiguousCreate", "Reconciling=False/AmbiguousCreate", "Stalled=True/AmbiguousCreate", "Synced=False/AmbiguousCreate"},
			events:     []string{"AmbiguousCreate"}},
		{name: "a company the operator made, deleted in Codat, is made anew",
			obj: company("acme", managingAcme), codat: newFakeCompanies(),
			calls: []string{"get " + acmeID, "create Acme Ltd"}, conditions: applied, events: []string{"RemoteDeleted", "Created"}},
		{name: "a 429 waits for Retry-After",
			obj: company("acme", managingAcme), codat: newFakeCompanies(codatCompany(acmeID, "Acme Ltd", nil)),
			fail:       map[string][]error{codatapi.OpGetCompany: {rateLimited(codatapi.OpGetCompany, 42*time.Second)}},
			calls:      []string{"get " + acmeID},
			conditions: []string{"Reconciling=False/RateLimited", "Stalled=False/RateLimited", "Synced=False/RateLimited"},
			events:     []string{"RateLimited"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for op, errs := range tc.fail {
				tc.codat.fail[op] = errs
			}
			w := newCompanyWorld(t, tc.codat, tc.obj)
			_, obj := w.reconcile(tc.obj.Name)
			if diff := cmp.Diff(tc.calls, w.codat.calls); diff != "" {
				t.Errorf("Codat calls (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.events, w.eventReasons()); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			got := companyConditions(obj)
			if tc.name == "a 429 waits for Retry-After" {
				got = got[1:] // Ready keeps what it said
			}
			if diff := cmp.Diff(tc.conditions, got); diff != "" {
				t.Errorf("conditions (-want +got):\n%s", diff)
			}
			if tc.check != nil {
				tc.check(t, obj, w.codat)
			}
		})
	}
}

func createPendingCompany(o *codatv1.CodatCompany) {
	o.Annotations = map[string]string{codatv1.AnnotationCreatePending: testNow.Format(time.RFC3339Nano)}
}

// Deleting a CodatCompany: Orphan leaves the company; Delete deletes it in Codat, but only once no
// connection of the cluster uses it, and says which do meanwhile.
func TestCompanyDeletion(t *testing.T) {
	deleting := func(policy codatv1.CompanyDeletionPolicy) func(*codatv1.CodatCompany) {
		return func(o *codatv1.CodatCompany) {
			managingAcme(o)
			o.Spec.DeletionPolicy = policy
			o.Finalizers = []string{codatv1.CompanyFinalizer}
			o.DeletionTimestamp = &metav1.Time{Time: testNow}
		}
	}
	user := object("uses-it", func(o *codatv1.CodatConnection) { o.Spec.CompanyID = acmeID })

	w := newCompanyWorld(t, newFakeCompanies(codatCompany(acmeID, "Acme Ltd", nil)), company("orphan", deleting(codatv1.CompanyDeletionPolicyOrphan)))
	if _, obj := w.reconcile("orphan"); obj != nil || len(w.codat.calls) != 0 {
		t.Fatalf("Orphan: object %v, calls %v; want it gone with no call", obj != nil, w.codat.calls)
	}

	w = newCompanyWorld(t, newFakeCompanies(codatCompany(acmeID, "Acme Ltd", nil)), company("in-use", deleting(codatv1.CompanyDeletionPolicyDelete)), user)
	res, obj := w.reconcile("in-use")
	if obj == nil || len(w.codat.calls) != 0 || res.RequeueAfter != 0 {
		t.Fatalf("in use: object %v, calls %v, requeue %s; want kept, no call, no requeue", obj != nil, w.codat.calls, res.RequeueAfter)
	}
	if got := companyConditions(obj); !cmp.Equal(got, []string{"Ready=False/CompanyInUse", "Reconciling=True/CompanyInUse", "Stalled=False/CompanyInUse", "Synced=False/CompanyInUse"}) {
		t.Fatalf("conditions %v", got)
	}
	if c := obj.Status.Conditions[0]; !strings.Contains(c.Message, testNS+"/uses-it") {
		t.Fatalf("the message does not name the connection: %q", c.Message)
	}
	if err := w.k8s.Delete(context.Background(), user); err != nil {
		t.Fatal(err)
	}
	if _, obj := w.reconcile("in-use"); obj != nil || !cmp.Equal(w.codat.calls, []string{"delete " + acmeID}) {
		t.Fatalf("once no connection uses it: object %v, calls %v; want it gone after one DELETE", obj != nil, w.codat.calls)
	}
}

// With the default credentials, a namespace that may manage only companies tagged so may create
// only companies carrying the tag, and no Codat call is made for one without it.
func TestCompanyTenancy(t *testing.T) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testNS,
		Labels:      map[string]string{access.LabelDefaultCredentials: "granted"},
		Annotations: map[string]string{access.AnnotationCompanyTags: "tenant=acme"}}}
	w := newCompanyWorld(t, newFakeCompanies(), ns, company("untagged"),
		company("tagged", func(o *codatv1.CodatCompany) { o.Spec.Tags = map[string]string{"tenant": "acme"} }))
	if _, obj := w.reconcile("untagged"); len(w.codat.calls) != 0 || !cmp.Equal(companyConditions(obj)[2], "Stalled=True/CompanyNotAllowed") {
		t.Fatalf("untagged: calls %v, conditions %v", w.codat.calls, companyConditions(obj))
	}
	if _, obj := w.reconcile("tagged"); !cmp.Equal(w.codat.calls, []string{"create Acme Ltd"}) || obj.Status.CompanyID == "" {
		t.Fatalf("tagged: calls %v, status %+v", w.codat.calls, obj.Status)
	}
}
