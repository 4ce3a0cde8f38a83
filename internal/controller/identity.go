package controller

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
	"github.com/codat-operator/codat-operator/internal/codatapi"
	"github.com/codat-operator/codat-operator/internal/codatclient"
)

// markerClockSkew is how much earlier than the create-pending marker Codat's
// clock may date a connection the operator created.
const markerClockSkew = 2 * time.Minute

// connection finds or makes the Codat connection the object manages: the one
// in status, else the one spec.connectionId adopts, else the one an earlier
// interrupted create made, else a new one.
func (r *Reconciler) connection(ctx context.Context, obj *codatv1.CodatConnection, codat session) (*codatclient.Connection, error) {
	switch known, adopted := obj.Status.ConnectionID, obj.Spec.ConnectionID; {
	case known != "" && adopted != "" && known != adopted:
		// Admission refuses this; objects written before that rule existed get here.
		return nil, stall(codatv1.ReasonConnectionIDConflict, fmt.Sprintf(
			"spec.connectionId %s is not the connection this object manages (status.connectionId %s); an object never switches connections. Delete this object and create one for %s",
			adopted, known, adopted))
	case known != "":
		return r.getKnown(ctx, obj, codat, known)
	case adopted != "":
		return r.adopt(ctx, obj, codat, adopted)
	case createPending(obj) && controllerutil.ContainsFinalizer(obj, codatv1.Finalizer):
		return r.recoverCreate(ctx, obj, codat)
	default:
		return r.create(ctx, obj, codat)
	}
}

// getKnown reads the connection the object already manages. One that was
// deleted outside the operator is created anew, unless it was adopted.
func (r *Reconciler) getKnown(ctx context.Context, obj *codatv1.CodatConnection, codat session, id string) (*codatclient.Connection, error) {
	conn, err := codat.Get(ctx, id)
	switch {
	case codatclient.IsNotFound(err) && obj.Spec.ConnectionID != "":
		return nil, stall(codatv1.ReasonConnectionNotFound, fmt.Sprintf(
			"Connection %s (spec.connectionId) no longer exists in Codat company %s. The operator does not replace an adopted connection: delete this object and create one without spec.connectionId",
			id, companyOf(obj)))
	case codatclient.IsNotFound(err):
		r.event(ctx, obj, eventWarning, "RemoteDeleted", "Connection %s was deleted outside the operator; creating a new one", id)
		forgetConnection(obj)
		return r.create(ctx, obj, codat)
	case err != nil:
		return nil, r.codatFailed(ctx, obj, codat, codatapi.OpGetConnection, err, !settled(obj))
	}
	return conn, samePlatform(obj, conn)
}

// adopt takes over the existing connection spec.connectionId names, after
// checking that it is of the right platform and that no other object has it.
func (r *Reconciler) adopt(ctx context.Context, obj *codatv1.CodatConnection, codat session, id string) (*codatclient.Connection, error) {
	if owner, err := r.ownerOf(ctx, obj, id); err != nil {
		return nil, retry(codatv1.ReasonProgressing, "Listing CodatConnections failed; retrying", true)
	} else if owner != "" {
		return nil, stall(codatv1.ReasonAlreadyOwned, fmt.Sprintf(
			"Connection %s is already managed by CodatConnection %s; two objects never manage one connection. Delete this object, or that one first",
			id, owner))
	}
	conn, err := codat.Get(ctx, id)
	switch {
	case codatclient.IsNotFound(err):
		return nil, stall(codatv1.ReasonConnectionNotFound, fmt.Sprintf(
			"Connection %s (spec.connectionId) was not found in Codat company %s; check both ids. connectionId cannot be changed: delete this object and create it again",
			id, companyOf(obj)))
	case err != nil:
		return nil, r.codatFailed(ctx, obj, codat, codatapi.OpGetConnection, err, true)
	}
	if err := samePlatform(obj, conn); err != nil {
		return nil, err
	}
	if !controllerutil.ContainsFinalizer(obj, codatv1.Finalizer) {
		controllerutil.AddFinalizer(obj, codatv1.Finalizer)
		if err := r.writeMetadata(ctx, obj); err != nil {
			return nil, err
		}
	}
	r.event(ctx, obj, eventNormal, "Adopted", "Adopted connection %s (%s)", conn.ID, conn.PlatformName)
	return conn, nil
}

// create makes a new connection without ever making two: one optimistic write
// records the finalizer and the create-pending marker before the POST, so a
// pass that finds the marker but no id lists instead of posting again.
func (r *Reconciler) create(ctx context.Context, obj *codatv1.CodatConnection, codat session) (*codatclient.Connection, error) {
	controllerutil.AddFinalizer(obj, codatv1.Finalizer)
	if obj.Annotations == nil {
		obj.Annotations = map[string]string{}
	}
	obj.Annotations[codatv1.AnnotationCreatePending] = r.Now().UTC().Format(time.RFC3339Nano)
	if err := r.writeMetadata(ctx, obj); err != nil {
		return nil, err
	}
	return r.post(ctx, obj, codat)
}

func (r *Reconciler) post(ctx context.Context, obj *codatv1.CodatConnection, codat session) (*codatclient.Connection, error) {
	conn, err := codat.Create(ctx, obj.Spec.PlatformKey)
	if err != nil {
		// The marker stays: whatever Codat did (a lost or garbled answer may
		// hide a connection it made), the next pass lists first.
		return nil, r.codatFailed(ctx, obj, codat, codatapi.OpCreateConnection, err, true)
	}
	r.event(ctx, obj, eventNormal, "Created", "Created connection %s (%s) in Codat", conn.ID, conn.PlatformName)
	return conn, nil
}

// recoverCreate runs when an earlier pass marked a create as pending but
// recorded no id (the process died, or the reply or the status write was
// lost): it adopts the one connection that create made, or creates.
func (r *Reconciler) recoverCreate(ctx context.Context, obj *codatv1.CodatConnection, codat session) (*codatclient.Connection, error) {
	all, err := codat.List(ctx)
	if err != nil {
		return nil, r.codatFailed(ctx, obj, codat, codatapi.OpListConnections, err, true)
	}
	candidates, err := r.unclaimedCreates(ctx, obj, all)
	if err != nil {
		return nil, err
	}
	switch len(candidates) {
	case 0:
		return r.post(ctx, obj, codat)
	case 1:
		conn := candidates[0]
		r.event(ctx, obj, eventNormal, "Created", "Recovered connection %s (%s), created in Codat by an interrupted earlier attempt", conn.ID, conn.PlatformName)
		return &conn, nil
	default:
		return nil, stall(codatv1.ReasonAmbiguousCreate, fmt.Sprintf(
			"Codat holds %d connections to %s created since the operator's interrupted create, owned by no CodatConnection: %s. Set spec.connectionId to the one to keep, and delete the others in Codat",
			len(candidates), obj.Spec.PlatformKey, connectionIDs(candidates)))
	}
}

// unclaimedCreates picks, among the company's connections, those that the
// create recorded by the object's marker may have made: same platform,
// created after the marker, and managed by no other CodatConnection.
func (r *Reconciler) unclaimedCreates(ctx context.Context, obj *codatv1.CodatConnection, all []codatclient.Connection) ([]codatclient.Connection, error) {
	// An unreadable marker counts from the beginning of time: adopting an
	// older connection is recoverable, a duplicate in Codat is not.
	since, _ := time.Parse(time.RFC3339Nano, obj.Annotations[codatv1.AnnotationCreatePending])
	since = since.Add(-markerClockSkew)

	var found []codatclient.Connection
	for _, c := range all {
		if c.IntegrationKey != obj.Spec.PlatformKey {
			continue
		}
		if created, ok := codatclient.ParseTime(c.Created); ok && created.Before(since) {
			continue
		}
		owner, err := r.ownerOf(ctx, obj, c.ID)
		if err != nil {
			return nil, retry(codatv1.ReasonProgressing, "Listing CodatConnections failed; retrying", true)
		}
		if owner == "" {
			found = append(found, c)
		}
	}
	sort.Slice(found, func(i, j int) bool { return found[i].ID < found[j].ID })
	return found, nil
}

// ownerOf names the other CodatConnection that manages connection id, if any.
// It asks the API server, not the cache: a status written a moment ago by
// another worker must count, or two objects could claim one connection.
func (r *Reconciler) ownerOf(ctx context.Context, obj *codatv1.CodatConnection, id string) (string, error) {
	var list codatv1.CodatConnectionList
	if err := r.APIReader.List(ctx, &list, client.MatchingFields{fieldConnectionID: id}); err != nil {
		return "", err
	}
	for _, o := range list.Items {
		if o.UID != obj.UID {
			return nameOf(&o).String(), nil
		}
	}
	return "", nil
}

// samePlatform refuses to manage a connection of another platform.
func samePlatform(obj *codatv1.CodatConnection, conn *codatclient.Connection) error {
	if conn.IntegrationKey == "" || conn.IntegrationKey == obj.Spec.PlatformKey {
		return nil
	}
	return stall(codatv1.ReasonPlatformMismatch, fmt.Sprintf(
		"Connection %s is to platform %s (%s), not spec.platformKey %s; the operator does not manage it. Delete this object and create one with the right platformKey",
		conn.ID, conn.IntegrationKey, conn.PlatformName, obj.Spec.PlatformKey))
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
