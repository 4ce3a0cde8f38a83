package controller

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
	"github.com/codat-operator/codat-operator/internal/codatclient"
)

// markerClockSkew is how much earlier than the create-pending marker Codat's
// clock may date a connection the operator created.
const markerClockSkew = 2 * time.Minute

// connection finds or makes the Codat connection the object manages: the one
// in status, else the one spec.connectionId adopts, else the one an earlier
// interrupted create made, else a new one. A nil connection comes with the
// outcome that stopped the pass.
func (r *Reconciler) connection(ctx context.Context, obj *codatv1.CodatConnection, key codatclient.APIKey) (*codatclient.Connection, outcome) {
	switch {
	case obj.Status.ConnectionID != "":
		return r.observeKnown(ctx, obj, key, obj.Status.ConnectionID)
	case obj.Spec.ConnectionID != "":
		return r.adopt(ctx, obj, key, obj.Spec.ConnectionID)
	case createPending(obj) && controllerutil.ContainsFinalizer(obj, codatv1.Finalizer):
		return r.recoverCreate(ctx, obj, key)
	default:
		return r.create(ctx, obj, key)
	}
}

// observeKnown reads the connection the object already manages. One that was
// deleted outside the operator is created anew, unless it was adopted.
func (r *Reconciler) observeKnown(ctx context.Context, obj *codatv1.CodatConnection, key codatclient.APIKey, id string) (*codatclient.Connection, outcome) {
	conn, err := r.Codat.GetConnection(ctx, key, obj.Spec.CompanyID, id)
	switch {
	case codatclient.IsNotFound(err) && obj.Spec.ConnectionID != "":
		return nil, stall(codatv1.ReasonConnectionNotFound, fmt.Sprintf(
			"Connection %s (spec.connectionId) no longer exists in Codat company %s. The operator does not replace an adopted connection: delete this object and create one without spec.connectionId",
			id, obj.Spec.CompanyID))
	case codatclient.IsNotFound(err):
		r.event(ctx, obj, "Warning", "RemoteDeleted", "Connection %s was deleted outside the operator; creating a new one", id)
		forgetConnection(obj)
		return r.create(ctx, obj, key)
	case err != nil:
		return nil, r.codatFailed(ctx, obj, codatclient.OpGetConnection, err)
	}
	if out, ok := samePlatform(obj, conn); !ok {
		return nil, out
	}
	return conn, outcome{}
}

// adopt takes over the existing connection spec.connectionId names, after
// checking that it is of the right platform and that no other object has it.
func (r *Reconciler) adopt(ctx context.Context, obj *codatv1.CodatConnection, key codatclient.APIKey, id string) (*codatclient.Connection, outcome) {
	if owner, err := r.ownerOf(ctx, obj, id); err != nil {
		return nil, retry(codatv1.ReasonProgressing, "Listing CodatConnections failed; retrying")
	} else if owner != "" {
		return nil, stall(codatv1.ReasonAlreadyOwned, fmt.Sprintf(
			"Connection %s is already managed by CodatConnection %s; two objects never manage one connection. Delete this object, or that one first",
			id, owner))
	}
	conn, err := r.Codat.GetConnection(ctx, key, obj.Spec.CompanyID, id)
	switch {
	case codatclient.IsNotFound(err):
		return nil, stall(codatv1.ReasonConnectionNotFound, fmt.Sprintf(
			"Connection %s (spec.connectionId) was not found in Codat company %s; check both ids. connectionId cannot be changed: delete this object and create it again",
			id, obj.Spec.CompanyID))
	case err != nil:
		return nil, r.codatFailed(ctx, obj, codatclient.OpGetConnection, err)
	}
	if out, ok := samePlatform(obj, conn); !ok {
		return nil, out
	}
	if !controllerutil.ContainsFinalizer(obj, codatv1.Finalizer) {
		controllerutil.AddFinalizer(obj, codatv1.Finalizer)
		if err := r.updateMeta(ctx, obj); err != nil {
			return nil, r.metaWriteFailed(ctx, err)
		}
	}
	r.event(ctx, obj, "Normal", "Adopted", "Adopted connection %s (%s)", conn.ID, conn.PlatformName)
	return conn, outcome{}
}

// create makes a new connection without ever making two: one optimistic write
// records the finalizer and the create-pending marker before the POST, so a
// pass that finds the marker but no id lists instead of posting again.
func (r *Reconciler) create(ctx context.Context, obj *codatv1.CodatConnection, key codatclient.APIKey) (*codatclient.Connection, outcome) {
	controllerutil.AddFinalizer(obj, codatv1.Finalizer)
	if obj.Annotations == nil {
		obj.Annotations = map[string]string{}
	}
	obj.Annotations[codatv1.AnnotationCreatePending] = r.Now().UTC().Format(time.RFC3339Nano)
	if err := r.updateMeta(ctx, obj); err != nil {
		return nil, r.metaWriteFailed(ctx, err)
	}
	return r.post(ctx, obj, key)
}

func (r *Reconciler) post(ctx context.Context, obj *codatv1.CodatConnection, key codatclient.APIKey) (*codatclient.Connection, outcome) {
	conn, err := r.Codat.CreateConnection(ctx, key, obj.Spec.CompanyID, obj.Spec.PlatformKey)
	if err != nil {
		// The marker stays: whatever Codat did, the next pass lists first.
		return nil, r.codatFailed(ctx, obj, codatclient.OpCreateConnection, err)
	}
	r.event(ctx, obj, "Normal", "Created", "Created connection %s (%s) in Codat", conn.ID, conn.PlatformName)
	return conn, outcome{}
}

// recoverCreate runs when an earlier pass marked a create as pending but
// recorded no id (the process died, or the reply or the status write was
// lost): it adopts the one connection that create made, or creates.
func (r *Reconciler) recoverCreate(ctx context.Context, obj *codatv1.CodatConnection, key codatclient.APIKey) (*codatclient.Connection, outcome) {
	candidates, err := r.unclaimedCreates(ctx, obj, key)
	if err != nil {
		return nil, r.codatFailed(ctx, obj, codatclient.OpListConnections, err)
	}
	switch len(candidates) {
	case 0:
		return r.post(ctx, obj, key)
	case 1:
		conn := candidates[0]
		r.event(ctx, obj, "Normal", "Created", "Recovered connection %s (%s), created in Codat by an interrupted earlier attempt", conn.ID, conn.PlatformName)
		return &conn, outcome{}
	default:
		return nil, stall(codatv1.ReasonAmbiguousCreate, fmt.Sprintf(
			"Codat holds %d connections to %s created since the operator's interrupted create, owned by no CodatConnection: %s. Set spec.connectionId to the one to keep, and delete the others in Codat",
			len(candidates), obj.Spec.PlatformKey, connectionIDs(candidates)))
	}
}

// unclaimedCreates lists the company's connections that the create recorded
// by the object's marker may have made: same platform, created after the
// marker, and managed by no other CodatConnection.
func (r *Reconciler) unclaimedCreates(ctx context.Context, obj *codatv1.CodatConnection, key codatclient.APIKey) ([]codatclient.Connection, error) {
	// An unreadable marker counts from the beginning of time: adopting an
	// older connection is recoverable, a duplicate in Codat is not.
	since, _ := time.Parse(time.RFC3339Nano, obj.Annotations[codatv1.AnnotationCreatePending])
	since = since.Add(-markerClockSkew)

	all, err := r.Codat.ListConnections(ctx, key, obj.Spec.CompanyID)
	if err != nil {
		return nil, err
	}
	var found []codatclient.Connection
	for _, c := range all {
		if c.IntegrationKey != obj.Spec.PlatformKey {
			continue
		}
		if created, ok := parseCodatTime(c.Created); ok && created.Before(since) {
			continue
		}
		owner, err := r.ownerOf(ctx, obj, c.ID)
		if err != nil {
			return nil, err
		}
		if owner == "" {
			found = append(found, c)
		}
	}
	sort.Slice(found, func(i, j int) bool { return found[i].ID < found[j].ID })
	return found, nil
}

// converge acts on the difference between the desired state and Codat's:
// it unlinks a Linked connection that should be Unlinked, and sends the
// authorization Secret's content whenever it differs from the last one sent.
func (r *Reconciler) converge(ctx context.Context, obj *codatv1.CodatConnection, key codatclient.APIKey, conn *codatclient.Connection) outcome {
	desired := desiredState(obj)
	if desired == codatv1.StateUnlinked && conn.Status == codatclient.StatusLinked {
		updated, err := r.Codat.UnlinkConnection(ctx, key, obj.Spec.CompanyID, conn.ID)
		if err != nil {
			return r.codatFailed(ctx, obj, codatclient.OpUnlinkConnection, err)
		}
		r.event(ctx, obj, "Normal", "Unlinked", "Unlinked connection %s in Codat", conn.ID)
		observe(obj, updated)
	}

	if obj.Spec.Authorization == nil || desired != codatv1.StateLinked {
		return outcome{}
	}
	body, hash, out := r.authorization(ctx, obj)
	if out != nil {
		return *out
	}
	if hash == obj.Status.AuthorizationHash {
		return outcome{}
	}
	updated, err := r.Codat.UpdateAuthorization(ctx, key, obj.Spec.CompanyID, conn.ID, body)
	if err != nil {
		return r.codatFailed(ctx, obj, codatclient.OpUpdateConnectionAuthorization, err)
	}
	r.event(ctx, obj, "Normal", "AuthorizationUpdated", "Sent the authorization from Secret %s to connection %s", obj.Spec.Authorization.SecretRef.Name, conn.ID)
	observe(obj, updated)
	obj.Status.AuthorizationHash = hash
	return outcome{}
}

// assess compares Codat's connection, now in status, with the desired state.
func assess(obj *codatv1.CodatConnection) outcome {
	status := obj.Status.ConnectionStatus
	if desiredState(obj) == codatv1.StateUnlinked {
		if status == codatclient.StatusLinked {
			return retry(codatv1.ReasonUnlinking, "Codat still reports the connection Linked after unlinking it; retrying")
		}
		return ready(codatv1.ReasonUnlinked, fmt.Sprintf("The connection is %s in Codat, not Linked, as desired", status))
	}
	switch status {
	case codatclient.StatusLinked:
		return ready(codatv1.ReasonLinked, "Codat reports the connection Linked")
	case codatclient.StatusPendingAuth:
		return waiting(codatv1.ReasonAwaitingAuthorization,
			"Waiting for the business to authorize the connection at the link in status.linkUrl")
	case codatclient.StatusDeauthorized:
		return waiting(codatv1.ReasonDeauthorized,
			"Codat lost access to the platform (access revoked or a token expired): the business re-links it at status.linkUrl, or update the Secret named in spec.authorization")
	case codatclient.StatusUnlinked:
		return waiting(codatv1.ReasonUnlinked,
			"The connection is Unlinked in Codat; the business re-links it at status.linkUrl")
	default:
		return waiting(codatv1.ReasonProgressing, fmt.Sprintf("Codat reports the connection status %q", status))
	}
}

// finalize does what spec.deletionPolicy asks in Codat, then lets the object go.
func (r *Reconciler) finalize(ctx context.Context, obj *codatv1.CodatConnection, key codatclient.APIKey, credentialsProblem *outcome) outcome {
	if !controllerutil.ContainsFinalizer(obj, codatv1.Finalizer) {
		return finished()
	}
	if policy := deletionPolicy(obj); policy != codatv1.DeletionPolicyOrphan {
		if credentialsProblem != nil {
			return stall(codatv1.ReasonDeletionBlocked, fmt.Sprintf(
				"%s. Deleting this object needs them to %s the connection in Codat: restore them, or set spec.deletionPolicy: Orphan to leave the connection in Codat and let the object go",
				credentialsProblem.message, strings.ToLower(string(policy))))
		}
		if out := r.release(ctx, obj, key, policy); out != nil {
			if out.progress == stalled {
				// Whatever blocks it, Orphan is the way out that needs no Codat call.
				out.reason = codatv1.ReasonDeletionBlocked
				out.message += ". To let the object go without touching Codat, set spec.deletionPolicy: Orphan"
			}
			return *out
		}
	}
	controllerutil.RemoveFinalizer(obj, codatv1.Finalizer)
	if err := r.updateMeta(ctx, obj); err != nil {
		return r.metaWriteFailed(ctx, err)
	}
	return finished()
}

// release deletes or unlinks the object's connection in Codat. A connection
// that is already gone counts as done.
func (r *Reconciler) release(ctx context.Context, obj *codatv1.CodatConnection, key codatclient.APIKey, policy codatv1.DeletionPolicy) *outcome {
	id := obj.Status.ConnectionID
	if id == "" && createPending(obj) {
		candidates, err := r.unclaimedCreates(ctx, obj, key)
		if err != nil && !codatclient.IsNotFound(err) {
			out := r.codatFailed(ctx, obj, codatclient.OpListConnections, err)
			return &out
		}
		switch len(candidates) {
		case 0:
		case 1:
			id = candidates[0].ID
		default:
			out := stall(codatv1.ReasonAmbiguousCreate, fmt.Sprintf(
				"Codat holds %d connections to %s that an interrupted create may have made: %s. Delete the unwanted ones in Codat, then set spec.deletionPolicy: Orphan",
				len(candidates), obj.Spec.PlatformKey, connectionIDs(candidates)))
			return &out
		}
	}
	if id == "" {
		return nil
	}

	switch policy {
	case codatv1.DeletionPolicyUnlink:
		conn, err := r.Codat.GetConnection(ctx, key, obj.Spec.CompanyID, id)
		if codatclient.IsNotFound(err) {
			return nil
		}
		if err != nil {
			out := r.codatFailed(ctx, obj, codatclient.OpGetConnection, err)
			return &out
		}
		if conn.Status != codatclient.StatusLinked {
			return nil
		}
		if _, err := r.Codat.UnlinkConnection(ctx, key, obj.Spec.CompanyID, id); err != nil && !codatclient.IsNotFound(err) {
			out := r.codatFailed(ctx, obj, codatclient.OpUnlinkConnection, err)
			return &out
		}
		r.event(ctx, obj, "Normal", "Unlinked", "Unlinked connection %s in Codat before deleting the object", id)
	default:
		if err := r.Codat.DeleteConnection(ctx, key, obj.Spec.CompanyID, id); err != nil && !codatclient.IsNotFound(err) {
			out := r.codatFailed(ctx, obj, codatclient.OpDeleteConnection, err)
			return &out
		}
		r.event(ctx, obj, "Normal", "Deleted", "Deleted connection %s in Codat", id)
	}
	return nil
}

// samePlatform refuses to manage a connection of another platform.
func samePlatform(obj *codatv1.CodatConnection, conn *codatclient.Connection) (outcome, bool) {
	if conn.IntegrationKey == "" || conn.IntegrationKey == obj.Spec.PlatformKey {
		return outcome{}, true
	}
	return stall(codatv1.ReasonPlatformMismatch, fmt.Sprintf(
		"Connection %s is to platform %s (%s), not spec.platformKey %s; the operator does not manage it. Delete this object and create one with the right platformKey",
		conn.ID, conn.IntegrationKey, conn.PlatformName, obj.Spec.PlatformKey)), false
}

func desiredState(obj *codatv1.CodatConnection) codatv1.DesiredState {
	if obj.Spec.State == "" {
		return codatv1.StateLinked
	}
	return obj.Spec.State
}

func deletionPolicy(obj *codatv1.CodatConnection) codatv1.DeletionPolicy {
	if obj.Spec.DeletionPolicy == "" {
		return codatv1.DeletionPolicyDelete
	}
	return obj.Spec.DeletionPolicy
}

func createPending(obj *codatv1.CodatConnection) bool {
	_, ok := obj.Annotations[codatv1.AnnotationCreatePending]
	return ok
}

func connectionIDs(conns []codatclient.Connection) string {
	ids := make([]string, len(conns))
	for i, c := range conns {
		ids[i] = c.ID
	}
	return strings.Join(ids, ", ")
}

// parseCodatTime reads Codat's timestamps, which may carry an offset, a Z,
// or nothing (then they are UTC), and up to seven fractional digits.
func parseCodatTime(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}
