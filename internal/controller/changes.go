package controller

import (
	"context"
	"fmt"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
	"github.com/codat-operator/codat-operator/internal/codatapi"
	"github.com/codat-operator/codat-operator/internal/codatclient"
)

// noticeChanges records an event for each change Codat reports that the
// operator did not make: the business linked the connection, Codat lost
// access, someone unlinked it outside, or an attempt to link failed. It runs
// before converge, on what Codat said, against what status said before.
func (r *Reconciler) noticeChanges(ctx context.Context, obj *codatv1.CodatConnection, conn *codatclient.Connection) {
	before := obj.Status
	if before.ConnectionID != conn.ID {
		return
	}
	switch was, is := before.ConnectionStatus, conn.Status; {
	case is == codatapi.StatusLinked && was != codatapi.StatusLinked:
		r.event(ctx, obj, eventNormal, "Linked", "Codat reports connection %s Linked: the business authorized it", conn.ID)
	case was == codatapi.StatusLinked && is == codatapi.StatusDeauthorized:
		r.event(ctx, obj, eventWarning, codatv1.ReasonDeauthorized, "Codat lost access to the platform of connection %s: %s",
			conn.ID, newestMessage(conn.DataConnectionErrors, "no details"))
	case was == codatapi.StatusLinked && is == codatapi.StatusUnlinked:
		r.event(ctx, obj, eventWarning, "UnlinkedOutside", "Connection %s was unlinked outside the operator", conn.ID)
	}
	if failed, message := linkFailure(conn.Status, newestErrors(conn.DataConnectionErrors)); failed {
		if was, _ := linkFailure(before.ConnectionStatus, before.DataConnectionErrors); !was || newestAt(before.DataConnectionErrors) != newestAt(newestErrors(conn.DataConnectionErrors)) {
			r.event(ctx, obj, eventWarning, codatv1.ReasonLinkFailed, "The business's attempt to link connection %s failed: %s", conn.ID, message)
		}
	}
}

// linkFailure says whether a connection waiting for the business carries an
// active error from a failed attempt to link (Codat's connection.failed), and
// Codat's message for it. errs are newest first.
func linkFailure(status string, errs []codatv1.DataConnectionError) (bool, string) {
	if status != codatapi.StatusPendingAuth || len(errs) == 0 || errs[0].Status != "Active" {
		return false, ""
	}
	e := errs[0]
	message := e.ErrorMessage
	if message == "" {
		message = "no message"
	}
	if e.StatusCode != "" {
		message = fmt.Sprintf("%s (the platform answered %s)", message, e.StatusCode)
	}
	return true, message
}

func newestAt(errs []codatv1.DataConnectionError) string {
	if len(errs) == 0 {
		return ""
	}
	return errs[0].ErroredOnUTC
}

func newestMessage(errs []codatclient.DataConnectionError, fallback string) string {
	if sorted := newestErrors(errs); len(sorted) > 0 && sorted[0].ErrorMessage != "" {
		return sorted[0].ErrorMessage
	}
	return fallback
}
