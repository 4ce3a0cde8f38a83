package codatclient

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/codat-operator/codat-operator/internal/codatapi"
)

// Company is Codat's company (the Company schema of the Platform API), as the operator reads it.
// Timestamps are kept as Codat sends them (see Connection); a JSON null decodes as "" or nil.
type Company struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Tags are the company's key/value tags (at most 10, Codat says).
	Tags map[string]string `json:"tags,omitempty"`
	// Redirect is the company's Link URL, where the business connects its platforms.
	Redirect          string   `json:"redirect,omitempty"`
	Created           string   `json:"created,omitempty"`
	LastSync          string   `json:"lastSync,omitempty"`
	CreatedByUserName string   `json:"createdByUserName,omitempty"`
	Products          []string `json:"products,omitempty"`
	// ReferenceParentCompany and ReferenceSubsidiaryCompanies place the company in a multi-entity
	// group.
	ReferenceParentCompany       *CompanyReference  `json:"referenceParentCompany,omitempty"`
	ReferenceSubsidiaryCompanies []CompanyReference `json:"referenceSubsidiaryCompanies,omitempty"`
	// DataConnections are the company's connections, without their link URLs: those carry
	// one-time passwords, and the connections' own objects show them where they belong.
	DataConnections []CompanyConnection `json:"dataConnections,omitempty"`
}

// CompanyReference is another company of a multi-entity group.
type CompanyReference struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// CompanyConnection is what Company keeps of each of its connections.
type CompanyConnection struct {
	ID             string `json:"id"`
	IntegrationKey string `json:"integrationKey,omitempty"`
	PlatformName   string `json:"platformName,omitempty"`
	SourceType     string `json:"sourceType,omitempty"`
	Status         string `json:"status,omitempty"`
}

// CompanyRequest is the body of create-company and replace-company (Codat's CompanyRequestBody).
// Codat removes characters its name pattern forbids (letters, digits, spaces and - ' , & @ . ? !
// are allowed) instead of refusing the name, so what it stores may differ from what was sent:
// compare with Codat's answer, not with the request.
type CompanyRequest struct {
	// Name is required.
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Tags are at most 10; keys have 1 to 27 characters, values at most 100.
	Tags map[string]string `json:"tags,omitempty"`
}

// CompanyUpdate is the body of update-company (Codat's CompanyUpdateRequest). A nil field is left
// out, and Codat leaves it as it is. A non-nil Tags replaces all of the company's tags: Codat's
// docs warn that an empty tags object removes them all, and that tags to keep must be sent.
type CompanyUpdate struct {
	Name        *string
	Description *string
	Tags        map[string]string
}

// CompanyFilter narrows list-companies. Both are Codat's query language (clauses such as
// `key=value`, `!=`, `~` for contains, joined with `&&`); Codat applies both when both are set.
type CompanyFilter struct {
	// Query filters on the company's fields (the `query` parameter), e.g. "id=<uuid>" or
	// "tags.region=uk".
	Query string
	// Tags filters on the company's tags (the `tags` parameter), e.g. "region=uk && team=lending":
	// the way Codat's docs find a company by a tag.
	Tags string
}

// CompanyTagFilter is the filter for companies whose tag key has value. Keep the key free of dots
// and of the query language's operators: Codat's language reads a dot as a path.
func CompanyTagFilter(key, value string) CompanyFilter {
	return CompanyFilter{Tags: key + "=" + value}
}

// maxQueryLength is Codat's limit on a query's length: "under 2048 characters".
const maxQueryLength = 2047

// ListCompanies returns every company that matches the filter (all of them for an empty filter),
// following the pages to the end (GET /companies). Codat documents its query language loosely:
// a caller that looks for one company must check the fields of what comes back (for example its
// tags) rather than trust the filter alone.
func (c *Client) ListCompanies(ctx context.Context, key APIKey, filter CompanyFilter) ([]Company, error) {
	op := codatapi.OpListCompanies
	params := url.Values{}
	for name, v := range map[string]string{"query": filter.Query, "tags": filter.Tags} {
		if len(v) > maxQueryLength {
			return nil, &Error{Operation: op, Kind: KindInvalidRequest, Message: fmt.Sprintf("the %s filter has %d characters; Codat takes fewer than 2048", name, len(v))}
		}
		if v != "" {
			params.Set(name, v)
		}
	}
	return listAll(ctx, c, key, op, "", "/companies", params, func(co *Company) string { return co.ID })
}

// CreateCompany creates a company (POST /companies). It is never retried: every POST makes a new
// company, and Codat has no idempotency key. A failure of class Transient may still have created
// one (the answer was lost or garbled): look for it (ListCompanies, by a tag the request carried)
// before creating again.
func (c *Client) CreateCompany(ctx context.Context, key APIKey, req CompanyRequest) (*Company, error) {
	op := codatapi.OpCreateCompany
	if strings.TrimSpace(req.Name) == "" {
		return nil, &Error{Operation: op, Kind: KindInvalidRequest, Message: "company name is empty"}
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	return c.company(ctx, key, request{op: op, method: http.MethodPost, url: c.endpoint("/companies", nil), body: body}, "")
}

// GetCompany reads a company (GET /companies/{companyId}). A company that does not exist (or was
// deleted) gives an error for which IsNotFound is true.
func (c *Client) GetCompany(ctx context.Context, key APIKey, companyID string) (*Company, error) {
	op := codatapi.OpGetCompany
	if err := requireIDs(op, companyID, "-", "-"); err != nil {
		return nil, err
	}
	return c.company(ctx, key, request{op: op, method: http.MethodGet, companyID: companyID, url: c.endpoint(companyPath(companyID), nil)}, companyID)
}

// ReplaceCompany sets the company's name, description and tags to exactly req
// (PUT /companies/{companyId}): a description or tags left empty are removed in Codat. This is the
// call to put back what changed in Codat: one request whose result does not depend on what Codat
// held before, and which may be repeated (it is retried once after a network error, as GET is).
func (c *Client) ReplaceCompany(ctx context.Context, key APIKey, companyID string, req CompanyRequest) (*Company, error) {
	op := codatapi.OpReplaceCompany
	if err := requireIDs(op, companyID, "-", "-"); err != nil {
		return nil, err
	}
	if strings.TrimSpace(req.Name) == "" {
		return nil, &Error{Operation: op, Kind: KindInvalidRequest, Message: "company name is empty"}
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	return c.company(ctx, key, request{op: op, method: http.MethodPut, companyID: companyID,
		url: c.endpoint(companyPath(companyID), nil), body: body}, companyID)
}

// UpdateCompany changes what u sets of the company (PATCH /companies/{companyId}); the rest stays.
// Like every PATCH, it is not retried after a network error: read the company instead.
func (c *Client) UpdateCompany(ctx context.Context, key APIKey, companyID string, u CompanyUpdate) (*Company, error) {
	op := codatapi.OpUpdateCompany
	if err := requireIDs(op, companyID, "-", "-"); err != nil {
		return nil, err
	}
	fields := map[string]any{}
	if u.Name != nil {
		if strings.TrimSpace(*u.Name) == "" {
			return nil, &Error{Operation: op, Kind: KindInvalidRequest, Message: "company name is empty"}
		}
		fields["name"] = *u.Name
	}
	if u.Description != nil {
		fields["description"] = *u.Description
	}
	if u.Tags != nil {
		fields["tags"] = u.Tags
	}
	body, err := json.Marshal(fields)
	if err != nil {
		return nil, err
	}
	return c.company(ctx, key, request{op: op, method: http.MethodPatch, companyID: companyID,
		url: c.endpoint(companyPath(companyID), nil), body: body}, companyID)
}

// DeleteCompany deletes the company with all its connections and the data Codat pulled for it
// (DELETE /companies/{companyId}); it cannot be undone. A company that is already gone gives an
// error for which IsNotFound is true.
func (c *Client) DeleteCompany(ctx context.Context, key APIKey, companyID string) error {
	op := codatapi.OpDeleteCompany
	if err := requireIDs(op, companyID, "-", "-"); err != nil {
		return err
	}
	return c.do(ctx, key, request{op: op, method: http.MethodDelete, companyID: companyID, url: c.endpoint(companyPath(companyID), nil)}, nil)
}

// company sends a request answered with one Company and checks that the answer is one: a 200
// whose body is JSON null, {} or another company is a bad response, not a success.
func (c *Client) company(ctx context.Context, key APIKey, r request, wantID string) (*Company, error) {
	var co Company
	if err := c.do(ctx, key, r, &co); err != nil {
		return nil, err
	}
	switch {
	case co.ID == "":
		return nil, badResponse(r.op, "the response has no company id")
	case wantID != "" && !strings.EqualFold(co.ID, wantID):
		return nil, badResponse(r.op, fmt.Sprintf("the response is company %q, not %s", co.ID, wantID))
	}
	return &co, nil
}

func companyPath(companyID string) string {
	return "/companies/" + url.PathEscape(companyID)
}
