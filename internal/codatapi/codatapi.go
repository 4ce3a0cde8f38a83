// Package codatapi holds the names of Codat's connection API that both sides
// of the wire share: the client that calls Codat and the simulator that
// stands in for it. It holds names only, never behaviour, so that a test of
// the simulator never passes because it shares code with the client it checks.
package codatapi

// Codat's operationIds for the six connection operations of the Platform API.
// They label metrics and the simulator's request counters.
const (
	OpListConnections               = "list-connections"
	OpCreateConnection              = "create-connection"
	OpGetConnection                 = "get-connection"
	OpDeleteConnection              = "delete-connection"
	OpUnlinkConnection              = "unlink-connection"
	OpUpdateConnectionAuthorization = "update-connection-authorization"
)

// OpGetCompany reads a company (its tags): the one call outside the connection operations, made
// only to check a namespace's allowed companies by tag.
const OpGetCompany = "get-company"

// Operations lists the six connection operations, in the order of Codat's reference, and
// get-company.
var Operations = []string{
	OpListConnections, OpCreateConnection, OpGetConnection,
	OpDeleteConnection, OpUnlinkConnection, OpUpdateConnectionAuthorization, OpGetCompany,
}

// IsWrite reports the operations that change a connection in Codat.
func IsWrite(op string) bool {
	switch op {
	case OpCreateConnection, OpDeleteConnection, OpUnlinkConnection, OpUpdateConnectionAuthorization:
		return true
	}
	return false
}

// Connection statuses Codat documents. Codat may add others: treat the
// status as an open string.
const (
	StatusPendingAuth  = "PendingAuth"
	StatusLinked       = "Linked"
	StatusUnlinked     = "Unlinked"
	StatusDeauthorized = "Deauthorized"
)

// Rate-limit headers that Codat sends with every response.
const (
	HeaderRateLimitLimit     = "X-Rate-Limit-Limit"
	HeaderRateLimitRemaining = "X-Rate-Limit-Remaining"
	HeaderRateLimitReset     = "X-Rate-Limit-Reset"
)

// Codat's webhook event types for connections and for the client's daily quota (the spec's
// `webhooks:`).
const (
	EventConnectionCreated      = "connection.created"
	EventConnectionConnected    = "connection.connected"
	EventConnectionFailed       = "connection.failed"
	EventConnectionDisconnected = "connection.disconnected"
	EventConnectionReconnected  = "connection.reconnected"
	EventConnectionDeleted      = "connection.deleted"
	EventRateLimitReached       = "client.rateLimit.reached"
	EventRateLimitReset         = "client.rateLimit.reset"
)

// Events lists the event types above.
var Events = []string{
	EventConnectionCreated, EventConnectionConnected, EventConnectionFailed, EventConnectionDisconnected,
	EventConnectionReconnected, EventConnectionDeleted, EventRateLimitReached, EventRateLimitReset,
}
