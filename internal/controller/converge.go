package controller

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
	"github.com/codat-operator/codat-operator/internal/codatapi"
	"github.com/codat-operator/codat-operator/internal/codatclient"
)

// converge acts on the difference between the desired state and Codat's: it
// unlinks a Linked connection that should be Unlinked, and sends the
// authorization Secret's content whenever it differs from the last one sent.
// It returns the connection as Codat last reported it.
func (r *Reconciler) converge(ctx context.Context, obj *codatv1.CodatConnection, codat session, conn *codatclient.Connection) (*codatclient.Connection, error) {
	desired := desiredState(obj)
	if desired == codatv1.StateUnlinked && conn.Status == codatapi.StatusLinked {
		unlinked, err := codat.Unlink(ctx, conn.ID)
		if err != nil {
			return conn, r.codatFailed(ctx, obj, codat, codatapi.OpUnlinkConnection, err, true)
		}
		r.event(ctx, obj, eventNormal, "Unlinked", "Unlinked connection %s in Codat", conn.ID)
		conn = unlinked
	}

	if obj.Spec.Authorization == nil || desired != codatv1.StateLinked {
		// Sending an authorization re-links an Unlinked connection.
		return conn, nil
	}
	body, hash, err := r.authorization(ctx, obj)
	if err != nil || hash == obj.Status.AuthorizationHash {
		return conn, err
	}
	authorized, err := codat.UpdateAuthorization(ctx, conn.ID, body)
	if err != nil {
		return conn, r.codatFailed(ctx, obj, codat, codatapi.OpUpdateConnectionAuthorization, err, true)
	}
	r.event(ctx, obj, eventNormal, "AuthorizationUpdated", "Sent the authorization from Secret %s to connection %s", obj.Spec.Authorization.SecretRef.Name, conn.ID)
	obj.Status.AuthorizationHash = hash
	return authorized, nil
}

// readiness is the Ready condition a realized object shows.
type readiness struct {
	status          metav1.ConditionStatus
	reason, message string
}

// ready: Codat's connection is in the desired state.
func ready(reason, message string) readiness {
	return readiness{status: metav1.ConditionTrue, reason: reason, message: message}
}

// waiting is not a failure: the operator did all it can and waits for someone
// outside (the business authorizing or re-linking), polling meanwhile.
func waiting(reason, message string) readiness {
	return readiness{status: metav1.ConditionFalse, reason: reason, message: message}
}

// assess compares Codat's connection, now in status, with the desired state.
func assess(obj *codatv1.CodatConnection) (readiness, error) {
	status := obj.Status.ConnectionStatus
	if desiredState(obj) == codatv1.StateUnlinked {
		if status == codatapi.StatusLinked {
			return readiness{}, retry(codatv1.ReasonUnlinking, "Codat still reports the connection Linked after unlinking it; retrying", true)
		}
		return ready(codatv1.ReasonUnlinked, fmt.Sprintf("The connection is %s in Codat, not Linked, as desired", status)), nil
	}
	switch status {
	case codatapi.StatusLinked:
		return ready(codatv1.ReasonLinked, "Codat reports the connection Linked"), nil
	case codatapi.StatusPendingAuth:
		return waiting(codatv1.ReasonAwaitingAuthorization,
			"Waiting for the business to authorize the connection at the link in status.linkUrl"), nil
	case codatapi.StatusDeauthorized:
		return waiting(codatv1.ReasonDeauthorized,
			"Codat lost access to the platform (access revoked or a token expired): the business re-links it at status.linkUrl, or update the Secret named in spec.authorization"), nil
	case codatapi.StatusUnlinked:
		return waiting(codatv1.ReasonUnlinked,
			"The connection is Unlinked in Codat; the business re-links it at status.linkUrl"), nil
	default:
		return waiting(codatv1.ReasonProgressing, fmt.Sprintf("Codat reports the connection status %q", status)), nil
	}
}

func desiredState(obj *codatv1.CodatConnection) codatv1.DesiredState {
	if obj.Spec.State == "" {
		return codatv1.StateLinked
	}
	return obj.Spec.State
}
