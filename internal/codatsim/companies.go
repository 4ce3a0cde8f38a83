package codatsim

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/codat-operator/codat-operator/internal/codatapi"
)

// CompanyDetails is Codat's companyDetails: a company without its connections, as the company.*
// webhooks carry it.
type CompanyDetails struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	// Redirect is the company's Link URL: <base>/link/company/{id}, served by the simulator.
	Redirect string `json:"redirect"`
	// LastSync is the newest lastSync of the company's connections; left out while none synced.
	LastSync string            `json:"lastSync,omitempty"`
	Created  string            `json:"created"`
	Products []string          `json:"products"`
	Tags     map[string]string `json:"tags,omitempty"`
	// ReferenceSubsidiaryCompanies is always empty: the simulator has no multi-entity companies.
	ReferenceSubsidiaryCompanies []CompanyReference `json:"referenceSubsidiaryCompanies"`
}

// Company is a company as the simulator serves it (Codat's Company schema): its details and its
// current connections. It is its own type, not codatclient's, for the reason Connection is.
type Company struct {
	CompanyDetails
	DataConnections []Connection `json:"dataConnections"`
}

// CompanyEdit changes a company from outside the API, as someone in Codat's Portal would. A nil
// field is left as it is; a non-nil Tags replaces all the company's tags.
type CompanyEdit struct {
	Name        *string           `json:"name,omitempty"`
	Description *string           `json:"description,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
}

// Company returns a company as get-company shows it.
func (s *Simulator) Company(id string) (Company, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.companies[id]
	if c == nil {
		return Company{}, ErrNotFound
	}
	return s.companyLocked(nil, c), nil
}

// EditCompany changes a company outside the API (no webhook: Codat has no company.updated event),
// for example to test that an operator puts back what someone changed in the Portal. The name and
// tags follow the rules of the API: forbidden characters are removed, and tags beyond Codat's
// limits are refused.
func (s *Simulator) EditCompany(id string, e CompanyEdit) (Company, error) {
	ch, err := e.change()
	if err != nil {
		return Company{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.companies[id]
	if c == nil {
		return Company{}, ErrNotFound
	}
	ch.apply(c)
	return s.companyLocked(nil, c), nil
}

// change is the companyChange of the edit, checked as the API checks a body.
func (e CompanyEdit) change() (companyChange, error) {
	ch := companyChange{description: e.Description, tags: e.Tags, setTags: e.Tags != nil}
	if e.Name != nil {
		name := sanitizeCompanyName(*e.Name)
		if name == "" {
			return companyChange{}, fmt.Errorf("codatsim: %s", emptyNameMessage)
		}
		ch.name = &name
	}
	if err := validateTags(e.Tags); err != nil {
		return companyChange{}, fmt.Errorf("codatsim: %w", err)
	}
	return ch, nil
}

// DeleteCompany deletes a company outside the API (as Codat's Portal would), with its connections,
// and sends company.deleted.
func (s *Simulator) DeleteCompany(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.companies[id] == nil {
		return ErrNotFound
	}
	s.deleteCompanyLocked(nil, id)
	return nil
}

// companyLocked renders a company. r, when set, gives the base of a redirect not yet known.
func (s *Simulator) companyLocked(r *http.Request, c *company) Company {
	out := Company{CompanyDetails: s.detailsLocked(r, c), DataConnections: []Connection{}}
	for _, id := range c.order {
		out.DataConnections = append(out.DataConnections, c.conns[id].clone())
	}
	return out
}

func (s *Simulator) detailsLocked(r *http.Request, c *company) CompanyDetails {
	if c.redirect == "" && r != nil {
		c.redirect = companyRedirect(s.linkBase(r), c.id)
	}
	redirect := c.redirect
	if redirect == "" {
		redirect = companyRedirect("", c.id) // a path, until a request shows the base
	}
	d := CompanyDetails{ID: c.id, Name: c.name, Description: c.description, Redirect: redirect, Created: c.created,
		Products: []string{}, Tags: maps.Clone(c.tags), ReferenceSubsidiaryCompanies: []CompanyReference{}}
	for _, conn := range c.conns {
		// Every lastSync the simulator writes has the same layout, so the text orders as the time.
		d.LastSync = max(d.LastSync, conn.LastSync)
	}
	return d
}

// deleteCompanyLocked deletes a company and its connections. Codat documents company.deleted for
// this; it does not say that a connection.deleted goes out for each connection, so none does: a
// consumer that relied on those would work here and miss deletions against Codat.
func (s *Simulator) deleteCompanyLocked(r *http.Request, id string) {
	details := s.detailsLocked(r, s.companies[id])
	delete(s.companies, id)
	s.companyOrder = slices.DeleteFunc(s.companyOrder, func(c string) bool { return c == id })
	s.emitCompanyLocked(codatapi.EventCompanyDeleted, details)
}

// createCompanyLocked serves create-company.
func (s *Simulator) createCompanyLocked(r *http.Request, body []byte) *response {
	ch, bad := parseCompanyBody(body, false)
	if bad != nil {
		return bad
	}
	c := s.addCompanyLocked(s.newIDLocked(), "", "", nil)
	ch.apply(c)
	c.redirect = companyRedirect(s.linkBase(r), c.id)
	out := s.companyLocked(r, c)
	s.emitCompanyLocked(codatapi.EventCompanyCreated, out.CompanyDetails)
	return jsonResponse(http.StatusOK, out)
}

// changeCompanyLocked serves replace-company (partial false) and update-company (partial true).
func (s *Simulator) changeCompanyLocked(r *http.Request, c *company, body []byte, partial bool) *response {
	ch, bad := parseCompanyBody(body, partial)
	if bad != nil {
		return bad
	}
	ch.apply(c)
	return jsonResponse(http.StatusOK, s.companyLocked(r, c))
}

// companyChange is what a company body asks to change. A nil name or description, and setTags
// false, leave that field as it is.
type companyChange struct {
	name, description *string
	tags              map[string]string
	setTags           bool
}

func (ch companyChange) apply(c *company) {
	if ch.name != nil {
		c.name = *ch.name
	}
	if ch.description != nil {
		c.description = *ch.description
	}
	if ch.setTags {
		c.tags = maps.Clone(ch.tags)
	}
}

const emptyNameMessage = "name must hold at least one allowed character: letters, digits, spaces and - ' , & @ . ? !"

// parseCompanyBody reads Codat's CompanyRequestBody (partial false: create-company and
// replace-company, where a field left out is emptied) or CompanyUpdateRequest (partial true:
// update-company, where a field left out or null stays as it is, except tags: Codat's docs say a
// null or empty tags object removes every tag).
func parseCompanyBody(body []byte, partial bool) (companyChange, *response) {
	bad := func(msg string) (companyChange, *response) {
		return companyChange{}, errorResponse(http.StatusBadRequest, msg)
	}
	fields, msg := companyFields(body)
	if msg != "" {
		return bad(msg)
	}
	// A body with several faults is refused for the first in this order: name, description, tags.
	var ch companyChange
	if msg := ch.readName(fields, partial); msg != "" {
		return bad(msg)
	}
	if msg := ch.readDescription(fields, partial); msg != "" {
		return bad(msg)
	}
	if msg := ch.readTags(fields, partial); msg != "" {
		return bad(msg)
	}
	return ch, nil
}

// companyFields splits a company body into its fields, or says why it is not one: not a JSON
// object, or a field a company does not have.
func companyFields(body []byte) (map[string]json.RawMessage, string) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		return nil, `The request body must be a JSON object {"name": ..., "description": ..., "tags": {...}}.`
	}
	for k := range fields {
		if k != "name" && k != "description" && k != "tags" {
			return nil, fmt.Sprintf("Unknown field %q: a company has name, description and tags.", k)
		}
	}
	return fields, ""
}

// isNull says whether a field's value is JSON null.
func isNull(raw json.RawMessage) bool { return strings.TrimSpace(string(raw)) == "null" }

// readName takes the body's name: required unless partial. It returns why it is refused, or "".
func (ch *companyChange) readName(fields map[string]json.RawMessage, partial bool) string {
	raw, ok := fields["name"]
	switch {
	case ok && !isNull(raw):
		var name string
		if err := json.Unmarshal(raw, &name); err != nil {
			return "name must be a string."
		}
		// Codat removes forbidden characters rather than refusing the name.
		if name = sanitizeCompanyName(name); name == "" {
			return emptyNameMessage + "."
		}
		ch.name = &name
	case !partial:
		return "name is required."
	}
	return ""
}

// readDescription takes the body's description: emptied when left out, unless partial. It returns
// why it is refused, or "".
func (ch *companyChange) readDescription(fields map[string]json.RawMessage, partial bool) string {
	raw, ok := fields["description"]
	switch {
	case ok && !isNull(raw):
		var d string
		if err := json.Unmarshal(raw, &d); err != nil {
			return "description must be a string."
		}
		ch.description = &d
	case !partial:
		empty := ""
		ch.description = &empty
	}
	return ""
}

// readTags takes the body's tags (null removes them all): removed when left out, unless partial.
// It returns why they are refused, or "".
func (ch *companyChange) readTags(fields map[string]json.RawMessage, partial bool) string {
	raw, ok := fields["tags"]
	switch {
	case ok:
		var tags map[string]string
		if err := json.Unmarshal(raw, &tags); err != nil {
			return "tags must be an object of string values."
		}
		if err := validateTags(tags); err != nil {
			return err.Error() + "."
		}
		ch.tags, ch.setTags = tags, true
	case !partial:
		ch.setTags = true
	}
	return ""
}

// sanitizeCompanyName removes what Codat's name pattern forbids (`^[A-Za-z0-9\s\-',&@.,?!]+$`):
// "Company (Codat[1])" becomes "Company Codat1", as Codat's docs show.
func sanitizeCompanyName(name string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune(" \t\n\v\f\r-',&@.?!", r):
			return r
		}
		return -1
	}, name)
}

// validateTags applies Codat's limits on a company's tags.
func validateTags(tags map[string]string) error {
	if len(tags) > codatapi.MaxCompanyTags {
		return fmt.Errorf("a company has at most %d tags, not %d", codatapi.MaxCompanyTags, len(tags))
	}
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		if n := utf8.RuneCountInString(k); n < 1 || n > codatapi.MaxCompanyTagKeyLength {
			return fmt.Errorf("tag key %q must have 1 to %d characters", k, codatapi.MaxCompanyTagKeyLength)
		}
		if utf8.RuneCountInString(tags[k]) > codatapi.MaxCompanyTagValueLength {
			return fmt.Errorf("the value of tag %q must have at most %d characters", k, codatapi.MaxCompanyTagValueLength)
		}
	}
	return nil
}

// companiesPage is list-companies' envelope (Codat's Companies).
type companiesPage struct {
	Results      []Company          `json:"results"`
	PageNumber   int                `json:"pageNumber"`
	PageSize     int                `json:"pageSize"`
	TotalResults int                `json:"totalResults"`
	Links        map[string]linkRef `json:"_links"`
}

// listCompaniesLocked serves list-companies: `query` on the company's fields and its tags
// (`tags.<key>`), and `tags` on the tags alone (`<key>=<value>`), both in the subset of Codat's
// query language that parseClauses reads.
func (s *Simulator) listCompaniesLocked(r *http.Request) *response {
	q := r.URL.Query()
	page, size, bad := pageParams(q)
	if bad != nil {
		return bad
	}
	byQuery, err := parseClauses(q.Get("query"), func(field string) bool {
		_, ok := companyField(Company{}, field)
		return ok
	})
	if err != nil {
		return errorResponse(http.StatusBadRequest, "Error parsing query - "+err.Error())
	}
	byTags, err := parseClauses(q.Get("tags"), func(key string) bool { return key != "" })
	if err != nil {
		return errorResponse(http.StatusBadRequest, "Error parsing tags - "+err.Error())
	}
	matched := []Company{}
	for _, id := range s.companyOrder {
		c := s.companyLocked(r, s.companies[id])
		if matchAll(byQuery, func(f string) string { v, _ := companyField(c, f); return v }) &&
			matchAll(byTags, func(k string) string { return c.Tags[k] }) {
			matched = append(matched, c)
		}
	}
	out := companiesPage{PageNumber: page, PageSize: size, TotalResults: len(matched)}
	out.Results, out.Links = pageOf(matched, page, size, "/companies", q, "query", "tags", "orderBy")
	return jsonResponse(http.StatusOK, out)
}

// companyField is a field a list-companies query may name; false for one it may not. The key of
// `tags.<key>` is everything after "tags.", dots included (Codat's language would read a dot as a
// path: keep tag keys you query without dots).
func companyField(c Company, field string) (string, bool) {
	switch field {
	case "id":
		return c.ID, true
	case "name":
		return c.Name, true
	case "description":
		return c.Description, true
	case "created":
		return c.Created, true
	case "lastSync":
		return c.LastSync, true
	}
	if key, ok := strings.CutPrefix(field, "tags."); ok && key != "" {
		return c.Tags[key], true
	}
	return "", false
}

// serveCompanyLinkLocked is the company's Link URL (its redirect): the business authorizes every
// connection of the company that is not Linked, as it would by going through Codat's Link.
func (s *Simulator) serveCompanyLinkLocked(companyID string) (int, string) {
	c := s.companies[companyID]
	if c == nil {
		return http.StatusNotFound, "This company does not exist (it may have been deleted)."
	}
	var linked []string
	for _, id := range c.order {
		conn := c.conns[id]
		if conn.Status == codatapi.StatusLinked {
			continue
		}
		from := conn.Status
		s.linkLocked(conn)
		s.changedLocked(companyID, conn, from)
		linked = append(linked, conn.PlatformName)
	}
	if len(linked) == 0 {
		return http.StatusOK, c.name + " has no connection waiting to be linked (the simulator links the company's existing connections; create one first)."
	}
	return http.StatusOK, c.name + " linked " + strings.Join(linked, ", ") + ". You can close this page."
}
