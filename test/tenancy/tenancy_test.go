package tenancy

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
	"sigs.k8s.io/controller-runtime/pkg/client"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
	"github.com/codat-operator/codat-operator/internal/access"
	"github.com/codat-operator/codat-operator/internal/codatapi"
	"github.com/codat-operator/codat-operator/internal/codatsim"
	"github.com/codat-operator/codat-operator/internal/controller"
	"github.com/codat-operator/codat-operator/test/rig"
)

const wait = 30 * time.Second

var fast = controller.Intervals{PendingAuth: 300 * time.Millisecond, Settled: time.Hour, BackoffBase: 200 * time.Millisecond, BackoffMax: time.Second}

// connection is a CodatConnection that uses the operator's default credentials.
func connection(ns, name, company string) *codatv1.CodatConnection {
	return &codatv1.CodatConnection{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       codatv1.CodatConnectionSpec{CompanyID: company, PlatformKey: "gbol"},
	}
}

func stalledWith(reason string) func(*codatv1.CodatConnection) bool {
	return func(o *codatv1.CodatConnection) bool {
		c := meta.FindStatusCondition(o.Status.Conditions, codatv1.ConditionStalled)
		return c != nil && c.Status == metav1.ConditionTrue && c.Reason == reason
	}
}

// calls lists the operations the simulator served for a company.
func calls(r *rig.Rig, company string) []string {
	var ops []string
	for _, q := range r.Sim.Requests() {
		if q.CompanyID == company {
			ops = append(ops, q.Operation)
		}
	}
	return ops
}

// A namespace not granted the default credentials gets a Stalled object and costs no Codat
// call; the platform team's label grants it without a restart, and removing the label revokes
// it. A namespace's editors cannot grant themselves.
func TestDefaultCredentialsAreGranted(t *testing.T) {
	r := rig.New(t, env, k8s, rig.Options{Intervals: fast, DefaultCredentials: grantedByLabel(t)})
	alice := tenant(t, r.NS, "alice", "edit", "codatconnection-editor-role")
	ctx := context.Background()

	if err := alice.Create(ctx, connection(r.NS, "first", r.Company)); err != nil {
		t.Fatal(err)
	}
	obj := r.WaitFor("first", "Stalled DefaultCredentialsNotGranted", wait, stalledWith(codatv1.ReasonDefaultCredentialsNotGranted))
	msg := meta.FindStatusCondition(obj.Status.Conditions, codatv1.ConditionStalled).Message
	for _, want := range []string{r.NS, access.GrantedSelector, "spec.credentialsRef"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not say %q", msg, want)
		}
	}
	if ops := calls(r, r.Company); len(ops) != 0 {
		t.Fatalf("Codat calls for a namespace without the grant: %v", ops)
	}

	err := setNamespaceMeta(t, alice, r.NS, map[string]string{access.LabelDefaultCredentials: "granted"}, nil)
	if !apierrors.IsForbidden(err) {
		t.Fatalf("a namespace editor labelled her own namespace: %v", err)
	}

	if err := setNamespaceMeta(t, k8s, r.NS, map[string]string{access.LabelDefaultCredentials: "granted"}, nil); err != nil {
		t.Fatal(err)
	}
	r.WaitReady("first", codatv1.ReasonAwaitingAuthorization, wait)

	// Revoked: the objects stall at their next pass, and make no further Codat call.
	if err := setNamespaceMeta(t, k8s, r.NS, map[string]string{access.LabelDefaultCredentials: ""}, nil); err != nil {
		t.Fatal(err)
	}
	r.WaitFor("first", "Stalled after the grant was revoked", wait, stalledWith(codatv1.ReasonDefaultCredentialsNotGranted))
	if err := alice.Create(ctx, connection(r.NS, "second", r.Company)); err != nil {
		t.Fatal(err)
	}
	r.WaitFor("second", "Stalled DefaultCredentialsNotGranted", wait, stalledWith(codatv1.ReasonDefaultCredentialsNotGranted))
	before := len(calls(r, r.Company))
	time.Sleep(3 * fast.PendingAuth)
	if after := calls(r, r.Company); len(after) != before {
		t.Fatalf("Codat calls after the grant was revoked: %v", after[before:])
	}

	// Deleting needs Codat, so it waits for the grant; Orphan lets the object go at once.
	if err := alice.Delete(ctx, r.Get("first")); err != nil {
		t.Fatal(err)
	}
	r.WaitFor("first", "DeletionBlocked", wait, stalledWith(codatv1.ReasonDeletionBlocked))
	if err := alice.Patch(ctx, r.Get("first"), client.RawPatch(types.MergePatchType, []byte(`{"spec":{"deletionPolicy":"Orphan"}}`))); err != nil {
		t.Fatal(err)
	}
	waitGone(t, r.NS, "first")
	if n := len(r.Sim.Connections(r.Company)); n != 1 {
		t.Fatalf("%d connections in Codat, want the orphaned one", n)
	}
}

// A namespace narrowed to some companies (by id, or by a tag Codat holds) cannot manage
// another: refused before any write, with at most one read of a company's tags an hour.
func TestCompaniesPerNamespace(t *testing.T) {
	r := rig.New(t, env, k8s, rig.Options{Intervals: fast, DefaultCredentials: grantedByLabel(t), Companies: 4})
	alice := tenant(t, r.NS, "alice", "edit", "codatconnection-editor-role")
	ctx := context.Background()
	byID, untagged, tagged, otherTenant := r.Companies[0], r.Companies[1], r.Companies[2], r.Companies[3]
	r.Sim.SetCompanyTags(tagged, map[string]string{"tenant": "acme"})
	r.Sim.SetCompanyTags(otherTenant, map[string]string{"tenant": "globex"})
	if err := setNamespaceMeta(t, k8s, r.NS, map[string]string{access.LabelDefaultCredentials: "granted"},
		map[string]string{access.AnnotationCompanies: byID, access.AnnotationCompanyTags: "tenant=acme"}); err != nil {
		t.Fatal(err)
	}

	for name, company := range map[string]string{"by-id": byID, "untagged": untagged, "tagged": tagged, "tagged-2": tagged, "other-tenant": otherTenant} {
		if err := alice.Create(ctx, connection(r.NS, name, company)); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"by-id", "tagged", "tagged-2"} {
		r.WaitReady(name, codatv1.ReasonAwaitingAuthorization, wait)
	}
	for _, name := range []string{"untagged", "other-tenant"} {
		obj := r.WaitFor(name, "Stalled CompanyNotAllowed", wait, stalledWith(codatv1.ReasonCompanyNotAllowed))
		if msg := meta.FindStatusCondition(obj.Status.Conditions, codatv1.ConditionStalled).Message; !strings.Contains(msg, "tenant=acme") || !strings.Contains(msg, byID) {
			t.Errorf("%s: message %q does not say which companies the namespace may manage", name, msg)
		}
	}
	if ops := calls(r, byID); slices.Contains(ops, codatapi.OpGetCompany) {
		t.Errorf("a company allowed by id was read from Codat: %v", ops)
	}
	for _, company := range []string{untagged, otherTenant} {
		if ops := calls(r, company); !slices.Equal(ops, []string{codatapi.OpGetCompany}) {
			t.Errorf("calls for a company the namespace may not manage: %v, want only its tags read", ops)
		}
	}
	if n := r.Sim.Count(codatapi.OpGetCompany); n != 3 {
		t.Errorf("%d reads of companies' tags for three companies (two objects share one), want 3", n)
	}
}

// Deleting an object that adopted a connection, with no deletionPolicy, leaves the connection
// in Codat untouched; status and the wide columns say so beforehand.
func TestAdoptedConnectionIsNotDeleted(t *testing.T) {
	r := rig.New(t, env, k8s, rig.Options{Intervals: fast})
	alice := tenant(t, r.NS, "alice", "edit", "codatconnection-editor-role")
	ctx := context.Background()
	id := string(uuid.NewUUID())
	if _, err := r.Sim.AddConnection(codatsim.SeedConnection{CompanyID: r.Company, ID: id, PlatformKey: "gbol", Status: codatapi.StatusLinked}); err != nil {
		t.Fatal(err)
	}
	adopt := connection(r.NS, "adopted", r.Company)
	adopt.Spec.ConnectionID = id
	adopt.Spec.CredentialsRef = &codatv1.SecretKeyReference{Name: "codat"}
	if err := alice.Create(ctx, adopt); err != nil {
		t.Fatal(err)
	}
	obj := r.WaitReady("adopted", codatv1.ReasonLinked, wait)
	if obj.Status.DeletionPolicy != codatv1.DeletionPolicyOrphan {
		t.Fatalf("status.deletionPolicy %q for an adopted connection, want Orphan", obj.Status.DeletionPolicy)
	}
	if err := alice.Delete(ctx, obj); err != nil {
		t.Fatal(err)
	}
	waitGone(t, r.NS, "adopted")
	conn, err := r.Sim.Connection(r.Company, id)
	if err != nil || conn.Status != codatapi.StatusLinked {
		t.Fatalf("the adopted connection after the object went: %+v, %v", conn.Status, err)
	}
	for _, op := range calls(r, r.Company) {
		if o, _ := codatapi.OperationNamed(op); o.Write {
			t.Errorf("a %s call for an adopted connection", op)
		}
	}
}

// With link URLs in Secrets, a viewer of the namespace sees the object but not the link; the
// Secret goes with the object.
func TestLinkURLInSecret(t *testing.T) {
	r := rig.New(t, env, k8s, rig.Options{Intervals: fast, LinkURLs: controller.LinkURLsInSecret})
	bob := tenant(t, r.NS, "bob", "view", "codatconnection-viewer-role")
	ctx := context.Background()
	r.Create("acme")
	obj := r.WaitReady("acme", codatv1.ReasonAwaitingAuthorization, wait)
	if obj.Status.LinkURL != "" || obj.Status.LinkURLSecret != "acme"+codatv1.LinkURLSecretSuffix {
		t.Fatalf("status linkUrl %q, linkUrlSecret %q", obj.Status.LinkURL, obj.Status.LinkURLSecret)
	}
	key := types.NamespacedName{Namespace: r.NS, Name: obj.Status.LinkURLSecret}
	secret := &corev1.Secret{}
	if err := k8s.Get(ctx, key, secret); err != nil {
		t.Fatal(err)
	}
	conn, err := r.Sim.Connection(r.Company, obj.Status.ConnectionID)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(secret.Data[codatv1.LinkURLKey]); got == "" || got != conn.LinkURL {
		t.Fatalf("the Secret holds %q, Codat's link is %q", got, conn.LinkURL)
	}

	if err := bob.Get(ctx, client.ObjectKeyFromObject(obj), &codatv1.CodatConnection{}); err != nil {
		t.Fatalf("a viewer cannot read the object: %v", err)
	}
	if err := bob.Get(ctx, key, &corev1.Secret{}); !apierrors.IsForbidden(err) {
		t.Fatalf("a viewer read the link Secret: %v", err)
	}

	if err := k8s.Delete(ctx, obj); err != nil {
		t.Fatal(err)
	}
	waitGone(t, r.NS, "acme")
	if err := k8s.Get(ctx, key, &corev1.Secret{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the link Secret after its object went: %v", err)
	}
}

func waitGone(t *testing.T, ns, name string) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, &codatv1.CodatConnection{})
		if apierrors.IsNotFound(err) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s/%s was never deleted", ns, name)
}

// No reference makes the operator read a Secret outside the object's namespace: names are
// resolved in the object's namespace (the default credentials Secret's name included), and a
// name that tries to say more is refused at admission.
func TestNoSecretOutsideTheNamespace(t *testing.T) {
	ctx := context.Background()
	platform := "platform-" + strings.ToLower(string(uuid.NewUUID())[:8])
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: platform}}); err != nil {
		t.Fatal(err)
	}
	if err := k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: platform, Name: "codat-credentials"},
		StringData: map[string]string{codatv1.DefaultCredentialsKey: rig.APIKey}}); err != nil {
		t.Fatal(err)
	}
	r := rig.New(t, env, k8s, rig.Options{Intervals: fast, DefaultCredentials: grantedByLabel(t),
		DefaultCredentialsSecret: types.NamespacedName{Namespace: platform, Name: "codat-credentials"}, Companies: 2})
	alice := tenant(t, r.NS, "alice", "edit", "codatconnection-editor-role")

	// The default Secret's name, as credentialsRef: read in alice's namespace, where it is not.
	byName := connection(r.NS, "by-name", r.Companies[1])
	byName.Spec.CredentialsRef = &codatv1.SecretKeyReference{Name: "codat-credentials"}
	// The same name as the authorization Secret, with alice's own key.
	asAuthorization := connection(r.NS, "as-authorization", r.Company)
	asAuthorization.Spec.CredentialsRef = &codatv1.SecretKeyReference{Name: "codat"}
	asAuthorization.Spec.Authorization = &codatv1.AuthorizationSource{SecretRef: codatv1.LocalSecretReference{Name: "codat-credentials"}}
	for _, o := range []*codatv1.CodatConnection{byName, asAuthorization} {
		if err := alice.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	obj := r.WaitFor("by-name", "Stalled CredentialsMissing", wait, stalledWith(codatv1.ReasonCredentialsMissing))
	if msg := meta.FindStatusCondition(obj.Status.Conditions, codatv1.ConditionStalled).Message; !strings.Contains(msg, r.NS+"/codat-credentials") {
		t.Errorf("message %q does not name the Secret of the object's namespace", msg)
	}
	obj = r.WaitFor("as-authorization", "Stalled AuthorizationSecretMissing", wait, stalledWith(codatv1.ReasonAuthorizationSecretMissing))
	if msg := meta.FindStatusCondition(obj.Status.Conditions, codatv1.ConditionStalled).Message; !strings.Contains(msg, "codat-credentials") {
		t.Errorf("message %q does not name the missing Secret", msg)
	}
	if n := r.Sim.Count(codatapi.OpUpdateConnectionAuthorization); n != 0 {
		t.Errorf("%d authorizations sent", n)
	}
	if ops := calls(r, r.Companies[1]); len(ops) != 0 {
		t.Errorf("Codat calls for an object whose key is not in its namespace: %v", ops)
	}

	// Names that try to reach further are refused at admission.
	for _, name := range []string{platform + "/codat-credentials", "@default-credentials", "../codat-credentials"} {
		o := connection(r.NS, "reach", r.Company)
		o.Spec.CredentialsRef = &codatv1.SecretKeyReference{Name: name}
		if err := alice.Create(ctx, o); !apierrors.IsInvalid(err) {
			t.Errorf("credentialsRef.name %q: %v, want refused at admission", name, err)
		}
		o = connection(r.NS, "reach", r.Company)
		o.Spec.Authorization = &codatv1.AuthorizationSource{SecretRef: codatv1.LocalSecretReference{Name: name}}
		if err := alice.Create(ctx, o); !apierrors.IsInvalid(err) {
			t.Errorf("authorization.secretRef.name %q: %v, want refused at admission", name, err)
		}
	}
}
