package codatsim

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// AdminPrefix is the path prefix of the admin API. Codat has no path starting with "/_".
const AdminPrefix = "/_sim/"

// Counters is the JSON body of GET /_sim/counts.
type Counters struct {
	// Operations counts requests per operation (including "link").
	Operations map[string]int `json:"operations"`
	// Statuses counts requests per operation and status code ("0": response deliberately lost).
	Statuses map[string]map[string]int `json:"statuses"`
	// MaxInFlight is the most concurrent API requests seen per company.
	MaxInFlight map[string]int `json:"maxInFlight"`
}

// serveAdmin is the unauthenticated admin API (the binary listens on loopback by default).
func (s *Simulator) serveAdmin(w http.ResponseWriter, r *http.Request) {
	routed, ok := adminRequest(r)
	// A GET pattern matches HEAD too, but the admin API has never answered HEAD.
	if !ok || r.Method == http.MethodHead {
		adminNotFound(w, r)
		return
	}
	s.admin.ServeHTTP(w, routed)
}

// adminRequest is r as the admin routes see it. The admin API matches the decoded path segment by
// segment, ignoring slashes at either end ("/_sim/counts/" works, and "%2F" separates segments),
// where ServeMux matches the escaped path and redirects one it would clean. So the routes get the
// decoded segments, each escaped again, dots too: a "." or ".." segment stays an id, as it always
// was, instead of becoming a redirect. false: a segment is empty, which no route matches.
func adminRequest(r *http.Request) (*http.Request, bool) {
	rest := strings.Trim(strings.TrimPrefix(r.URL.Path, "/_sim"), "/")
	segments := strings.Split(rest, "/")
	for i, seg := range segments {
		if seg == "" {
			return nil, false
		}
		segments[i] = strings.ReplaceAll(url.PathEscape(seg), ".", "%2E")
	}
	routed := r.Clone(r.Context())
	routed.URL.Path, routed.URL.RawPath = AdminPrefix+rest, AdminPrefix+strings.Join(segments, "/")
	return routed, true
}

// adminRoutes is the admin API, one handler per method and path (docs/simulator.md lists them).
// A company's fail, garble and tags, and the faults, are set with PUT or POST alike. Any other
// path, or another method on one of these paths, gets adminNotFound.
func (s *Simulator) adminRoutes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc(AdminPrefix, adminNotFound)

	mux.HandleFunc("GET /_sim/companies", answer(s.companyIDs))
	mux.HandleFunc("POST /_sim/companies", s.adminCreateCompany)
	mux.HandleFunc("GET /_sim/companies/{company}", s.adminGetCompany)
	mux.HandleFunc("PATCH /_sim/companies/{company}", s.adminEditCompany)
	mux.HandleFunc("DELETE /_sim/companies/{company}", s.adminDeleteCompany)
	mux.HandleFunc("PUT /_sim/companies/{company}/fail", s.adminFailCompany)
	mux.HandleFunc("POST /_sim/companies/{company}/fail", s.adminFailCompany)
	mux.HandleFunc("PUT /_sim/companies/{company}/garble", s.adminGarbleCompany)
	mux.HandleFunc("POST /_sim/companies/{company}/garble", s.adminGarbleCompany)
	mux.HandleFunc("PUT /_sim/companies/{company}/tags", s.adminSetCompanyTags)
	mux.HandleFunc("POST /_sim/companies/{company}/tags", s.adminSetCompanyTags)

	mux.HandleFunc("GET /_sim/companies/{company}/connections", s.adminListConnections)
	mux.HandleFunc("POST /_sim/companies/{company}/connections", s.adminAddConnection)
	mux.HandleFunc("GET /_sim/companies/{company}/connections/{connection}", s.adminGetConnection)
	mux.HandleFunc("DELETE /_sim/companies/{company}/connections/{connection}", s.adminDeleteConnection)
	mux.HandleFunc("POST /_sim/companies/{company}/connections/{connection}/link", s.adminLink)
	mux.HandleFunc("POST /_sim/companies/{company}/connections/{connection}/deauthorize", s.adminDeauthorize)
	mux.HandleFunc("POST /_sim/companies/{company}/connections/{connection}/fail-link", s.adminFailLink)

	mux.HandleFunc("GET /_sim/webhooks", answer(s.Consumers))
	mux.HandleFunc("POST /_sim/webhooks", s.adminAddConsumer)
	mux.HandleFunc("GET /_sim/webhooks/deliveries", answer(s.Deliveries))
	mux.HandleFunc("POST /_sim/webhooks/rate-limit", s.adminSendRateLimitEvent)
	mux.HandleFunc("DELETE /_sim/webhooks/{consumer}", s.adminRemoveConsumer)

	mux.HandleFunc("GET /_sim/faults", answer(s.Faults))
	mux.HandleFunc("PUT /_sim/faults", s.adminSetFaults)
	mux.HandleFunc("POST /_sim/faults", s.adminSetFaults)
	mux.HandleFunc("POST /_sim/quota/reset", noContent(s.ResetQuota))
	mux.HandleFunc("GET /_sim/counts", answer(s.counters))
	mux.HandleFunc("GET /_sim/requests", answer(s.Requests))
	mux.HandleFunc("POST /_sim/reset-counts", noContent(s.ResetCounts))
	mux.HandleFunc("POST /_sim/reset", noContent(s.Reset))
	mux.HandleFunc("GET /_sim/platforms", answer(s.Platforms))
	mux.HandleFunc("POST /_sim/platforms", s.adminAddPlatform)
	mux.HandleFunc("POST /_sim/api-keys", s.adminAddAPIKey)
	return mux
}

// adminNotFound answers a path the admin API does not have, or a method it does not take there.
func adminNotFound(w http.ResponseWriter, _ *http.Request) {
	adminError(w, http.StatusNotFound, "no such admin endpoint; see docs/simulator.md")
}

// answer is a route that answers 200 with what get returns.
func answer[T any](get func() T) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, get()) }
}

// noContent is a route that does what do does and answers 204.
func noContent(do func()) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		do()
		w.WriteHeader(http.StatusNoContent)
	}
}

// companyIDs is the body of GET /_sim/companies.
func (s *Simulator) companyIDs() map[string][]string {
	return map[string][]string{"companies": s.Companies()}
}

func (s *Simulator) adminCreateCompany(w http.ResponseWriter, r *http.Request) {
	var body struct {
		ID string `json:"id"`
		CompanyEdit
	}
	if !readJSON(w, r, &body) {
		return
	}
	if body.ID == "" || strings.ContainsAny(body.ID, "/?#") {
		adminError(w, http.StatusBadRequest, `body must be {"id":"<company id>"} (name, description and tags optional)`)
		return
	}
	s.adminCompany(w, r, body.ID, &body.CompanyEdit, http.StatusCreated)
}

func (s *Simulator) adminGetCompany(w http.ResponseWriter, r *http.Request) {
	s.adminCompany(w, r, r.PathValue("company"), nil, http.StatusOK)
}

func (s *Simulator) adminEditCompany(w http.ResponseWriter, r *http.Request) {
	var edit CompanyEdit
	if !readJSON(w, r, &edit) {
		return
	}
	s.adminCompany(w, r, r.PathValue("company"), &edit, http.StatusOK)
}

func (s *Simulator) adminDeleteCompany(w http.ResponseWriter, r *http.Request) {
	if err := s.DeleteCompany(r.PathValue("company")); err != nil {
		adminError(w, http.StatusNotFound, "company not found")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Simulator) adminFailCompany(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Status int `json:"status"`
	}
	if !readJSON(w, r, &body) {
		return
	}
	if body.Status != 0 && (body.Status < 400 || body.Status > 599) {
		adminError(w, http.StatusBadRequest, `body must be {"status":<4xx or 5xx, or 0 to stop>}`)
		return
	}
	s.FailCompany(r.PathValue("company"), body.Status)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Simulator) adminGarbleCompany(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Body string `json:"body"`
	}
	if !readJSON(w, r, &body) {
		return
	}
	if err := s.GarbleCompany(r.PathValue("company"), body.Body); err != nil {
		adminError(w, http.StatusBadRequest, err.Error())
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Simulator) adminSetCompanyTags(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Tags map[string]string `json:"tags"`
	}
	if !readJSON(w, r, &body) {
		return
	}
	s.SetCompanyTags(r.PathValue("company"), body.Tags)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Simulator) adminListConnections(w http.ResponseWriter, r *http.Request) {
	conns := s.Connections(r.PathValue("company"))
	if conns == nil {
		adminError(w, http.StatusNotFound, "company not found")
		return
	}
	writeJSON(w, http.StatusOK, conns)
}

func (s *Simulator) adminGetConnection(w http.ResponseWriter, r *http.Request) {
	s.adminConnection(w, r, nil)
}

func (s *Simulator) adminDeleteConnection(w http.ResponseWriter, r *http.Request) {
	if err := s.DeleteConnection(r.PathValue("company"), r.PathValue("connection")); err != nil {
		adminError(w, http.StatusNotFound, "connection not found")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Simulator) adminLink(w http.ResponseWriter, r *http.Request) {
	s.adminConnection(w, r, s.Link)
}

func (s *Simulator) adminDeauthorize(w http.ResponseWriter, r *http.Request) {
	s.adminConnection(w, r, s.Deauthorize)
}

func (s *Simulator) adminFailLink(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Message string `json:"message"`
	}
	// The body is optional: FailLink has a default message.
	if r.ContentLength != 0 && !readJSON(w, r, &body) {
		return
	}
	s.adminConnection(w, r, func(c, id string) error { return s.FailLink(c, id, body.Message) })
}

func (s *Simulator) adminAddConsumer(w http.ResponseWriter, r *http.Request) {
	var c Consumer
	if !readJSON(w, r, &c) {
		return
	}
	c, err := s.AddConsumer(c)
	if err != nil {
		adminError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusCreated, c)
}

func (s *Simulator) adminSendRateLimitEvent(w http.ResponseWriter, r *http.Request) {
	var body struct {
		EventType string `json:"eventType"`
	}
	if !readJSON(w, r, &body) {
		return
	}
	if err := s.SendRateLimitEvent(body.EventType); err != nil {
		adminError(w, http.StatusBadRequest, err.Error())
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Simulator) adminRemoveConsumer(w http.ResponseWriter, r *http.Request) {
	s.RemoveConsumer(r.PathValue("consumer"))
	w.WriteHeader(http.StatusNoContent)
}

func (s *Simulator) adminSetFaults(w http.ResponseWriter, r *http.Request) {
	var f Faults
	if !readJSON(w, r, &f) {
		return
	}
	if err := s.SetFaults(f); err != nil {
		adminError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, s.Faults())
}

func (s *Simulator) adminAddPlatform(w http.ResponseWriter, r *http.Request) {
	var p Platform
	if !readJSON(w, r, &p) {
		return
	}
	if err := s.AddPlatform(p); err != nil {
		adminError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusCreated, p)
}

func (s *Simulator) adminAddAPIKey(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Key string `json:"key"`
	}
	if !readJSON(w, r, &body) {
		return
	}
	if body.Key == "" {
		adminError(w, http.StatusBadRequest, `body must be {"key":"<api key>"}`)
		return
	}
	s.AddAPIKey(body.Key)
	w.WriteHeader(http.StatusNoContent)
}

// adminCompany answers with the company, after creating it (status 201) and applying edit, when
// they are given. The request's Host is the base of a redirect not yet known, as for API calls.
func (s *Simulator) adminCompany(w http.ResponseWriter, r *http.Request, id string, edit *CompanyEdit, status int) {
	if status == http.StatusCreated {
		// Check the edit first: a refused body creates nothing.
		if _, err := edit.change(); err != nil {
			adminError(w, http.StatusBadRequest, err.Error())
			return
		}
		s.AddCompany(id)
	}
	if edit != nil {
		if _, err := s.EditCompany(id, *edit); err != nil {
			code := http.StatusBadRequest
			if errors.Is(err, ErrNotFound) {
				code = http.StatusNotFound
			}
			adminError(w, code, err.Error())
			return
		}
	}
	s.mu.Lock()
	c := s.companies[id]
	var out Company
	if c != nil {
		out = s.companyLocked(r, c)
	}
	s.mu.Unlock()
	if c == nil {
		adminError(w, http.StatusNotFound, "company not found")
		return
	}
	writeJSON(w, status, out)
}

// adminConnection answers with the connection of the path, after change when it is given.
func (s *Simulator) adminConnection(w http.ResponseWriter, r *http.Request, change func(companyID, connectionID string) error) {
	companyID, connectionID := r.PathValue("company"), r.PathValue("connection")
	if change != nil {
		if err := change(companyID, connectionID); err != nil {
			adminError(w, http.StatusNotFound, "connection not found")
			return
		}
	}
	conn, err := s.Connection(companyID, connectionID)
	if errors.Is(err, ErrNotFound) {
		adminError(w, http.StatusNotFound, "connection not found")
		return
	}
	writeJSON(w, http.StatusOK, conn)
}

func (s *Simulator) counters() Counters {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := Counters{Operations: map[string]int{}, Statuses: map[string]map[string]int{}, MaxInFlight: map[string]int{}}
	for op, n := range s.counts {
		c.Operations[op] = n
	}
	for op, m := range s.statusCounts {
		c.Statuses[op] = map[string]int{}
		for code, n := range m {
			c.Statuses[op][strconv.Itoa(code)] = n
		}
	}
	for id, n := range s.maxInFlight {
		c.MaxInFlight[id] = n
	}
	return c
}

func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		adminError(w, http.StatusBadRequest, "invalid JSON body: "+err.Error())
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func adminError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
