package codatclient

import "encoding/json"

// Connection is Codat's data connection (the `Connection` schema of the Platform API).
//
// Enums (Status, SourceType) are plain strings and timestamps are kept exactly as Codat sends them,
// because Codat mixes UTC, offset and offset-less local times with up to 7 fractional digits.
// A JSON null in any string field decodes as "".
type Connection struct {
	ID             string `json:"id"`
	IntegrationID  string `json:"integrationId"`
	IntegrationKey string `json:"integrationKey,omitempty"`
	SourceID       string `json:"sourceId"`
	SourceType     string `json:"sourceType"`
	PlatformName   string `json:"platformName"`
	LinkURL        string `json:"linkUrl"`
	Status         string `json:"status"`
	Created        string `json:"created"`
	LastSync       string `json:"lastSync,omitempty"`

	DataConnectionErrors []DataConnectionError `json:"dataConnectionErrors,omitempty"`
	// ConnectionInfo is integration-specific metadata; its values may be of any JSON type.
	ConnectionInfo json.RawMessage `json:"connectionInfo,omitempty"`
}

// DataConnectionError is one entry of Connection.DataConnectionErrors. Null fields decode as "".
type DataConnectionError struct {
	StatusCode    string `json:"statusCode,omitempty"`
	StatusText    string `json:"statusText,omitempty"`
	ErrorMessage  string `json:"errorMessage,omitempty"`
	ErroredOnUtc  string `json:"erroredOnUtc,omitempty"`
	Status        string `json:"status,omitempty"`
	ResolvedOnUtc string `json:"resolvedOnUtc,omitempty"`
}

// errorMessage is Codat's error body (`ErrorMessage`). Only the fields the client reports are decoded.
type errorMessage struct {
	StatusCode    int    `json:"statusCode"`
	Service       string `json:"service"`
	Error         string `json:"error"`
	CorrelationID string `json:"correlationId"`
}
