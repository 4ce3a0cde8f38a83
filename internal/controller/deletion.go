package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
	"github.com/codat-operator/codat-operator/internal/codatapi"
	"github.com/codat-operator/codat-operator/internal/codatclient"
)

// delete does what spec.deletionPolicy asks in Codat, then removes the
// finalizer. connectErr is what resolving the credentials said: only Orphan
// can finish without them.
func (r *Reconciler) delete(ctx context.Context, obj *codatv1.CodatConnection, codat session, connectErr error) error {
	if !controllerutil.ContainsFinalizer(obj, codatv1.Finalizer) {
		return nil
	}
	policy, err := r.deletionPolicy(ctx, obj)
	if err != nil {
		return err
	}
	if policy != codatv1.DeletionPolicyOrphan {
		var blocked *stallError
		if errors.As(connectErr, &blocked) {
			return stall(codatv1.ReasonDeletionBlocked, fmt.Sprintf(
				"%s. Deleting this object needs them to %s the connection in Codat: restore them, or set spec.deletionPolicy: Orphan to leave the connection in Codat and let the object go",
				blocked.message, strings.ToLower(string(policy))))
		}
		if connectErr != nil {
			return connectErr
		}
		if err := r.release(ctx, obj, codat, policy); err != nil {
			if errors.As(err, &blocked) {
				// Whatever blocks it, Orphan is the way out that needs no Codat call.
				blocked.reason = codatv1.ReasonDeletionBlocked
				blocked.message += ". To let the object go without touching Codat, set spec.deletionPolicy: Orphan"
			}
			return err
		}
	}
	if err := r.deleteLinkURLSecret(ctx, obj); err != nil {
		return retry(codatv1.ReasonProgressing, fmt.Sprintf("Deleting the link URL Secret %s failed; retrying", obj.Status.LinkURLSecret), true)
	}
	controllerutil.RemoveFinalizer(obj, codatv1.Finalizer)
	return r.writeMetadata(ctx, obj)
}

// release deletes or unlinks the object's connection in Codat. A connection
// that is already gone counts as done. An object whose create was interrupted
// runs the create's recovery first, so its connection is not orphaned.
func (r *Reconciler) release(ctx context.Context, obj *codatv1.CodatConnection, codat session, policy codatv1.DeletionPolicy) error {
	id := obj.Status.ConnectionID
	if id == "" && createPending(obj) {
		all, err := codat.List(ctx)
		if err != nil && !codatclient.IsNotFound(err) {
			return r.codatFailed(ctx, obj, codat, codatapi.OpListConnections, err, true)
		}
		candidates, err := r.unclaimedCreates(ctx, obj, all)
		if err != nil {
			return err
		}
		switch len(candidates) {
		case 0:
		case 1:
			id = candidates[0].ID
		default:
			return stall(codatv1.ReasonAmbiguousCreate, fmt.Sprintf(
				"Codat holds %d connections to %s that an interrupted create may have made: %s. Delete the unwanted ones in Codat, then set spec.deletionPolicy: Orphan",
				len(candidates), obj.Spec.PlatformKey, connectionIDs(candidates)))
		}
	}
	if id == "" {
		return nil
	}

	if policy == codatv1.DeletionPolicyUnlink {
		conn, err := codat.Get(ctx, id)
		switch {
		case codatclient.IsNotFound(err):
			return nil
		case err != nil:
			return r.codatFailed(ctx, obj, codat, codatapi.OpGetConnection, err, true)
		case conn.Status != codatapi.StatusLinked:
			return nil
		}
		if _, err := codat.Unlink(ctx, id); err != nil && !codatclient.IsNotFound(err) {
			return r.codatFailed(ctx, obj, codat, codatapi.OpUnlinkConnection, err, true)
		}
		r.event(ctx, obj, eventNormal, "Unlinked", "Unlinked connection %s in Codat before deleting the object", id)
		return nil
	}
	if err := codat.Delete(ctx, id); err != nil && !codatclient.IsNotFound(err) {
		return r.codatFailed(ctx, obj, codat, codatapi.OpDeleteConnection, err, true)
	}
	r.event(ctx, obj, eventNormal, "Deleted", "Deleted connection %s in Codat", id)
	return nil
}

// deletionPolicy is the policy in effect for obj: its spec's, else the
// default of its namespace (annotation codat.io/default-deletion-policy),
// else the operator's (DefaultDeletionPolicy), else the built-in rule.
func (r *Reconciler) deletionPolicy(ctx context.Context, obj *codatv1.CodatConnection) (codatv1.DeletionPolicy, error) {
	if obj.Spec.DeletionPolicy != "" {
		return obj.Spec.DeletionPolicy, nil
	}
	configured := r.DefaultDeletionPolicy
	ns, err := r.namespaceOf(ctx, obj)
	if err != nil {
		return "", err
	}
	if ns != nil {
		if v, ok := ns.Annotations[codatv1.AnnotationDefaultDeletionPolicy]; ok {
			configured = namespaceDeletionPolicy(v)
		}
	}
	return defaultDeletionPolicy(configured, obj.Spec.ConnectionID != ""), nil
}

// defaultDeletionPolicy is the policy of an object that sets none, given the
// default the platform configured (empty: none). Without one it is Delete for
// a connection the operator creates and Orphan for an adopted one. An adopted
// connection may be someone else's (made outside Kubernetes): a default never
// deletes it, only the object's own field can.
func defaultDeletionPolicy(configured codatv1.DeletionPolicy, adopted bool) codatv1.DeletionPolicy {
	switch {
	case adopted && (configured == "" || configured == codatv1.DeletionPolicyDelete):
		return codatv1.DeletionPolicyOrphan
	case configured == "":
		return codatv1.DeletionPolicyDelete
	default:
		return configured
	}
}

// namespaceDeletionPolicy reads a namespace's annotation. A value that is no
// policy (a typo) reads as Orphan: a deletion must never follow a value nobody
// can read.
func namespaceDeletionPolicy(v string) codatv1.DeletionPolicy {
	switch p := codatv1.DeletionPolicy(v); p {
	case codatv1.DeletionPolicyDelete, codatv1.DeletionPolicyUnlink, codatv1.DeletionPolicyOrphan:
		return p
	default:
		return codatv1.DeletionPolicyOrphan
	}
}
