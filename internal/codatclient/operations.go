package codatclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"unicode/utf8"

	"github.com/codat-operator/codat-operator/internal/codatapi"
)

// maxPages stops a list whose server keeps returning a next link.
const maxPages = 1000

// CreateConnection creates a connection for the platform (POST /companies/{companyId}/connections).
// It is never retried: every POST makes a new connection in Codat. A failure of class Transient
// may still have created one (the answer was lost or garbled): list before creating again.
func (c *Client) CreateConnection(ctx context.Context, key APIKey, companyID, platformKey string) (*Connection, error) {
	if err := requireIDs(codatapi.OpCreateConnection, companyID, "-", platformKey); err != nil {
		return nil, err
	}
	body, err := json.Marshal(map[string]string{"platformKey": platformKey})
	if err != nil {
		return nil, err
	}
	return c.connection(ctx, key, request{
		op: codatapi.OpCreateConnection, method: http.MethodPost, companyID: companyID,
		url: c.endpoint(connectionsPath(companyID), nil), body: body,
	}, "")
}

// GetConnection reads one connection (GET /companies/{companyId}/connections/{connectionId}).
func (c *Client) GetConnection(ctx context.Context, key APIKey, companyID, connectionID string) (*Connection, error) {
	if err := requireIDs(codatapi.OpGetConnection, companyID, connectionID, "-"); err != nil {
		return nil, err
	}
	return c.connection(ctx, key, request{
		op: codatapi.OpGetConnection, method: http.MethodGet, companyID: companyID,
		url: c.endpoint(connectionPath(companyID, connectionID), nil),
	}, connectionID)
}

// ListConnections returns all of a company's connections, following the pages to the end
// (GET /companies/{companyId}/connections). A connection seen on two pages is returned once.
func (c *Client) ListConnections(ctx context.Context, key APIKey, companyID string) ([]Connection, error) {
	op := codatapi.OpListConnections
	if err := requireIDs(op, companyID, "-", "-"); err != nil {
		return nil, err
	}
	conns, err := listAll(ctx, c, key, op, companyID, connectionsPath(companyID), nil, func(conn *Connection) string { return conn.ID })
	if err != nil {
		return nil, err
	}
	for i := range conns {
		normalize(&conns[i])
	}
	return conns, nil
}

// page is Codat's paged envelope (results and PagingInfo) of list-connections and list-companies.
type page[T any] struct {
	Results      []T `json:"results"`
	PageNumber   int `json:"pageNumber"`
	PageSize     int `json:"pageSize"`
	TotalResults int `json:"totalResults"`
	Links        struct {
		Next *struct {
			Href string `json:"href"`
		} `json:"next"`
	} `json:"_links"`
}

// listAll reads every page of a list operation from path with the filter parameters, following
// `_links.next` (or, without it, the page numbers) to the end. An item seen on two pages is kept
// once; an item without an id is a bad response.
func listAll[T any](ctx context.Context, c *Client, key APIKey, op, companyID, path string, filter url.Values, id func(*T) string) ([]T, error) {
	l := &lister[T]{c: c, op: op, path: path, filter: filter, id: id, all: []T{}, seen: map[string]bool{}}
	next := l.pageURL(1, c.pageSize)
	visited := map[string]bool{}
	for range maxPages {
		visited[next] = true
		var p page[T]
		if err := c.do(ctx, key, request{op: op, method: http.MethodGet, companyID: companyID, url: next}, &p); err != nil {
			return nil, err
		}
		if err := l.add(&p); err != nil {
			return nil, err
		}
		after, more, err := l.nextURL(&p)
		if err != nil {
			return nil, err
		}
		if !more {
			return l.all, nil
		}
		if visited[after] {
			// A next link that leads back would page forever, one request at a time.
			return nil, badResponse(op, "the paging links lead back to a page already read")
		}
		next = after
	}
	return nil, badResponse(op, fmt.Sprintf("more than %d pages; giving up", maxPages))
}

// lister is what listAll has read so far, and how it names the pages of one list.
type lister[T any] struct {
	c      *Client
	op     string
	path   string
	filter url.Values
	id     func(*T) string
	all    []T
	seen   map[string]bool // the ids in all
}

// pageURL is the URL of a page by number, with the filter parameters.
func (l *lister[T]) pageURL(number, size int) string {
	q := url.Values{"page": {strconv.Itoa(number)}, "pageSize": {strconv.Itoa(size)}}
	for k, v := range l.filter {
		q[k] = v
	}
	return l.c.endpoint(l.path, q)
}

// add keeps the page's items not seen on an earlier page, in order; an item without an id is a
// bad response.
func (l *lister[T]) add(p *page[T]) error {
	for i := range p.Results {
		itemID := l.id(&p.Results[i])
		if itemID == "" {
			return badResponse(l.op, fmt.Sprintf("result %d of page %d has no id", i+1, p.PageNumber))
		}
		if l.seen[itemID] {
			continue
		}
		l.seen[itemID] = true
		l.all = append(l.all, p.Results[i])
	}
	return nil
}

// nextURL is the page to read after p, and false when p is the last one.
func (l *lister[T]) nextURL(p *page[T]) (string, bool, error) {
	switch {
	case p.Links.Next != nil && p.Links.Next.Href != "":
		next, err := l.c.resolveHref(p.Links.Next.Href)
		if err != nil {
			return "", false, badResponse(l.op, err.Error())
		}
		return next, true, nil
	case len(p.Results) > 0 && p.PageNumber > 0 && p.PageSize > 0 && p.PageNumber*p.PageSize < p.TotalResults:
		// No next link but more results: fall back to page numbers.
		return l.pageURL(p.PageNumber+1, p.PageSize), true, nil
	}
	return "", false, nil
}

// UnlinkConnection sets a Linked connection to Unlinked (PATCH with {"status":"Unlinked"}).
//
// It is not retried after a network error: if the first PATCH did land, a second one would fail
// because the connection is no longer Linked; the caller should GET the connection instead.
func (c *Client) UnlinkConnection(ctx context.Context, key APIKey, companyID, connectionID string) (*Connection, error) {
	if err := requireIDs(codatapi.OpUnlinkConnection, companyID, connectionID, "-"); err != nil {
		return nil, err
	}
	return c.connection(ctx, key, request{
		op: codatapi.OpUnlinkConnection, method: http.MethodPatch, companyID: companyID,
		url:  c.endpoint(connectionPath(companyID, connectionID), nil),
		body: []byte(`{"status":"Unlinked"}`),
	}, connectionID)
}

// UpdateAuthorization replaces the connection's authorization
// (PUT /companies/{companyId}/connections/{connectionId}/authorization). The body's values are
// secrets: they never appear in errors. Values must be valid UTF-8: JSON cannot carry other bytes
// unchanged, and the client never sends something other than what it was given.
func (c *Client) UpdateAuthorization(ctx context.Context, key APIKey, companyID, connectionID string, body map[string]string) (*Connection, error) {
	op := codatapi.OpUpdateConnectionAuthorization
	if err := requireIDs(op, companyID, connectionID, "-"); err != nil {
		return nil, err
	}
	if body == nil {
		body = map[string]string{}
	}
	secrets := make([]string, 0, len(body))
	for k, v := range body {
		if err := ValidAuthorizationValue(v); err != nil {
			return nil, &Error{Operation: op, Kind: KindInvalidRequest, Message: fmt.Sprintf("value of %q %v", k, err)}
		}
		secrets = append(secrets, v)
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	return c.connection(ctx, key, request{
		op: op, method: http.MethodPut, companyID: companyID,
		url:  c.endpoint(connectionPath(companyID, connectionID)+"/authorization", nil),
		body: raw, secrets: secrets,
	}, connectionID)
}

// DeleteConnection deletes the connection (DELETE /companies/{companyId}/connections/{connectionId}).
// A connection that is already gone gives an error for which IsNotFound is true.
func (c *Client) DeleteConnection(ctx context.Context, key APIKey, companyID, connectionID string) error {
	if err := requireIDs(codatapi.OpDeleteConnection, companyID, connectionID, "-"); err != nil {
		return err
	}
	return c.do(ctx, key, request{
		op: codatapi.OpDeleteConnection, method: http.MethodDelete, companyID: companyID,
		url: c.endpoint(connectionPath(companyID, connectionID), nil),
	}, nil)
}

// connection sends a request answered with one Connection, and checks that the answer is one: a
// 200 whose body is JSON null, {} or another connection is a bad response, not a success.
func (c *Client) connection(ctx context.Context, key APIKey, r request, wantID string) (*Connection, error) {
	var conn Connection
	if err := c.do(ctx, key, r, &conn); err != nil {
		return nil, err
	}
	switch {
	case conn.ID == "":
		return nil, badResponse(r.op, "the response has no connection id")
	case wantID != "" && conn.ID != wantID:
		return nil, badResponse(r.op, fmt.Sprintf("the response is connection %s, not %s", conn.ID, wantID))
	}
	return normalize(&conn), nil
}

func badResponse(op, message string) *Error {
	return &Error{Operation: op, Kind: KindBadResponse, StatusCode: http.StatusOK, Message: message}
}

func requireIDs(op, companyID, connectionID, platformKey string) error {
	var missing string
	switch {
	case companyID == "":
		missing = "company id"
	case connectionID == "":
		missing = "connection id"
	case platformKey == "":
		missing = "platform key"
	default:
		return nil
	}
	return &Error{Operation: op, Kind: KindInvalidRequest, Message: missing + " is empty"}
}

func connectionsPath(companyID string) string {
	return companyPath(companyID) + "/connections"
}

func connectionPath(companyID, connectionID string) string {
	return connectionsPath(companyID) + "/" + url.PathEscape(connectionID)
}

// normalize maps a JSON null connectionInfo to nil.
func normalize(conn *Connection) *Connection {
	if string(bytes.TrimSpace(conn.ConnectionInfo)) == "null" {
		conn.ConnectionInfo = nil
	}
	return conn
}

// ValidAuthorizationValue says why a value cannot go into an update-authorization body unchanged:
// JSON strings are Unicode, so bytes that are not valid UTF-8 would be replaced on the way.
func ValidAuthorizationValue(v string) error {
	for i, r := range v {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(v[i:]); size <= 1 {
				return fmt.Errorf("is not valid UTF-8 (at byte %d of %d)", i+1, len(v))
			}
		}
	}
	return nil
}
