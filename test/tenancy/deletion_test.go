package tenancy

import (
	"context"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
	"github.com/codat-operator/codat-operator/internal/codatapi"
	"github.com/codat-operator/codat-operator/test/rig"
)

// The platform team sets the deletion policy of objects that set none: the operator's default
// (--default-deletion-policy), overridden per namespace by an annotation only it may set. A change
// of the annotation shows in status.deletionPolicy at once, and deleting follows it: a tenant who
// removes an object (or a GitOps tool that prunes it) does not delete the business's connection.
func TestPlatformDeletionPolicy(t *testing.T) {
	r := rig.New(t, env, k8s, rig.Options{Intervals: fast, DefaultDeletionPolicy: codatv1.DeletionPolicyUnlink})
	alice := tenant(t, r.NS, "alice", "edit", "codatconnection-editor-role")
	ctx := context.Background()

	r.Create("acme")
	r.Create("globex")
	r.CreateWith("own-choice", func(o *codatv1.CodatConnection) { o.Spec.DeletionPolicy = codatv1.DeletionPolicyDelete })
	for name, want := range map[string]codatv1.DeletionPolicy{
		"acme": codatv1.DeletionPolicyUnlink, "globex": codatv1.DeletionPolicyUnlink, "own-choice": codatv1.DeletionPolicyDelete,
	} {
		obj := r.WaitReady(name, codatv1.ReasonAwaitingAuthorization, wait)
		// Linked, the objects are settled: nothing but the namespace's change brings them back
		// within the test (the poll interval is an hour).
		if err := r.Sim.Link(r.Company, obj.Status.ConnectionID); err != nil {
			t.Fatal(err)
		}
		obj = r.WaitReady(name, codatv1.ReasonLinked, wait)
		if obj.Status.DeletionPolicy != want {
			t.Errorf("%s: status.deletionPolicy %q with the operator's default Unlink, want %q", name, obj.Status.DeletionPolicy, want)
		}
	}

	if err := setNamespaceMeta(t, alice, r.NS, nil, map[string]string{codatv1.AnnotationDefaultDeletionPolicy: "Delete"}); !apierrors.IsForbidden(err) {
		t.Fatalf("a namespace editor set her namespace's default deletion policy: %v", err)
	}
	before := len(r.Sim.Requests())
	if err := setNamespaceMeta(t, k8s, r.NS, nil, map[string]string{codatv1.AnnotationDefaultDeletionPolicy: string(codatv1.DeletionPolicyOrphan)}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"acme", "globex"} {
		r.WaitFor(name, "status.deletionPolicy Orphan", wait, func(o *codatv1.CodatConnection) bool {
			return o.Status.DeletionPolicy == codatv1.DeletionPolicyOrphan
		})
	}
	if got := r.Get("own-choice").Status.DeletionPolicy; got != codatv1.DeletionPolicyDelete {
		t.Errorf("own-choice: status.deletionPolicy %q, want its own Delete", got)
	}
	for _, q := range r.Sim.Requests()[before:] {
		if q.Operation != codatapi.OpGetConnection {
			t.Errorf("the namespace's change made a Codat %s call", q.Operation)
		}
	}

	ownChoice := r.Get("own-choice").Status.ConnectionID
	for _, name := range []string{"acme", "own-choice"} {
		if err := alice.Delete(ctx, r.Get(name)); err != nil {
			t.Fatal(err)
		}
		waitGone(t, r.NS, name)
	}
	remaining := map[string]bool{}
	for _, c := range r.Sim.Connections(r.Company) {
		remaining[c.ID] = true
	}
	if len(remaining) != 2 || remaining[ownChoice] {
		t.Errorf("connections left in Codat %v: want acme's (orphaned by the namespace's default) and globex's, not own-choice's (Delete)", remaining)
	}
	for _, q := range r.Sim.Requests() {
		if q.Operation == codatapi.OpUnlinkConnection {
			t.Errorf("an unlink reached Codat, though the namespace's default is Orphan")
		}
	}
}
