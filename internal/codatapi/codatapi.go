// Package codatapi holds the names and facts of Codat's API that both sides of
// the wire share: the client that calls Codat and the simulator that stands in
// for it. It holds data only, never behaviour, so that a test of the simulator
// never passes because it shares code with the client it checks.
package codatapi

// Codat's operationIds for the six company and the six connection operations of the Platform API.
// They label metrics and the simulator's request counters.
const (
	OpListCompanies = "list-companies"
	OpCreateCompany = "create-company"
	// OpGetCompany reads a company: its name, description and tags (which also decide whether a
	// namespace may use it) and its link URL.
	OpGetCompany     = "get-company"
	OpDeleteCompany  = "delete-company"
	OpReplaceCompany = "replace-company"
	OpUpdateCompany  = "update-company"

	OpListConnections               = "list-connections"
	OpCreateConnection              = "create-connection"
	OpGetConnection                 = "get-connection"
	OpDeleteConnection              = "delete-connection"
	OpUnlinkConnection              = "unlink-connection"
	OpUpdateConnectionAuthorization = "update-connection-authorization"
)

// Operation is what both sides of the wire, and messages to users, need to know of one of Codat's
// operations.
type Operation struct {
	// Name is Codat's operationId.
	Name string
	// Verb says what the operator asked of Codat, for messages: "create the connection".
	Verb string
	// Write says the operation changes something in Codat; the request budget never holds it back.
	Write bool
	// CompanyLevel says the operation names a company and no connection, so its 404 means the
	// company does not exist; a connection operation's 404 may mean the connection is gone.
	// list-companies and create-company name no company: Codat documents no meaning for their 404.
	CompanyLevel bool
}

// Operations lists every operation the operator calls, in the order of Codat's reference.
var Operations = []Operation{
	{Name: OpListCompanies, Verb: "list the companies"},
	{Name: OpCreateCompany, Verb: "create the company", Write: true},
	{Name: OpGetCompany, Verb: "read the company", CompanyLevel: true},
	{Name: OpDeleteCompany, Verb: "delete the company", Write: true, CompanyLevel: true},
	{Name: OpReplaceCompany, Verb: "replace the company's name, description and tags", Write: true, CompanyLevel: true},
	{Name: OpUpdateCompany, Verb: "update the company", Write: true, CompanyLevel: true},
	{Name: OpListConnections, Verb: "list the company's connections", CompanyLevel: true},
	{Name: OpCreateConnection, Verb: "create the connection", Write: true, CompanyLevel: true},
	{Name: OpGetConnection, Verb: "read the connection"},
	{Name: OpDeleteConnection, Verb: "delete the connection", Write: true},
	{Name: OpUnlinkConnection, Verb: "unlink the connection", Write: true},
	{Name: OpUpdateConnectionAuthorization, Verb: "update the connection's authorization", Write: true},
}

// OperationNamed returns the operation of that name; false for a name not in Operations.
func OperationNamed(name string) (Operation, bool) {
	for _, op := range Operations {
		if op.Name == name {
			return op, true
		}
	}
	return Operation{}, false
}

// Codat's limits on a company's tags (the Company schema's tags: maxProperties, propertyNames and
// the values' maxLength), in characters.
const (
	MaxCompanyTags           = 10
	MaxCompanyTagKeyLength   = 27
	MaxCompanyTagValueLength = 100
)

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

// Codat's webhook event types for companies, connections and the client's daily quota (the
// spec's `webhooks:`).
const (
	EventCompanyCreated         = "company.created"
	EventCompanyDeleted         = "company.deleted"
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
	EventCompanyCreated, EventCompanyDeleted,
	EventConnectionCreated, EventConnectionConnected, EventConnectionFailed, EventConnectionDisconnected,
	EventConnectionReconnected, EventConnectionDeleted, EventRateLimitReached, EventRateLimitReset,
}
