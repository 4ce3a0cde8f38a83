package controller

import (
	"sort"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
	"github.com/codat-operator/codat-operator/internal/codatclient"
)

// recordConnection writes what Codat reports about the connection into status.
func recordConnection(obj *codatv1.CodatConnection, conn *codatclient.Connection) {
	s := &obj.Status
	s.ConnectionID = conn.ID
	s.ConnectionStatus = conn.Status
	s.LinkURL = conn.LinkURL
	s.PlatformName = conn.PlatformName
	s.SourceType = conn.SourceType
	s.IntegrationID = conn.IntegrationID
	s.IntegrationKey = conn.IntegrationKey
	s.SourceID = conn.SourceID
	s.Created = conn.Created
	s.LastSync = conn.LastSync
	s.DataConnectionErrors = newestErrors(conn.DataConnectionErrors)
}

// forgetConnection clears what status says about a connection that is gone;
// the company it belongs to stays.
func forgetConnection(obj *codatv1.CodatConnection) {
	s := obj.Status
	obj.Status = codatv1.CodatConnectionStatus{Conditions: s.Conditions, ObservedGeneration: s.ObservedGeneration, CompanyID: s.CompanyID}
}

// newestErrors keeps the newest few of Codat's errors, newest first.
func newestErrors(errs []codatclient.DataConnectionError) []codatv1.DataConnectionError {
	if len(errs) == 0 {
		return nil
	}
	out := make([]codatv1.DataConnectionError, len(errs))
	for i, e := range errs {
		out[i] = codatv1.DataConnectionError{
			StatusCode: e.StatusCode, StatusText: e.StatusText, ErrorMessage: e.ErrorMessage,
			ErroredOnUTC: e.ErroredOnUtc, Status: e.Status, ResolvedOnUTC: e.ResolvedOnUtc,
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].ErroredOnUTC > out[j].ErroredOnUTC })
	if len(out) > codatv1.MaxDataConnectionErrors {
		out = out[:codatv1.MaxDataConnectionErrors]
	}
	return out
}
