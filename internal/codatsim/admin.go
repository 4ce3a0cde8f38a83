package codatsim

import (
	"encoding/json"
	"errors"
	"net/http"
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
	parts := strings.Split(strings.Trim(strings.TrimPrefix(r.URL.Path, "/_sim"), "/"), "/")
	m := r.Method
	switch {
	case match(parts, "companies") && m == http.MethodGet:
		writeJSON(w, http.StatusOK, map[string][]string{"companies": s.Companies()})
	case match(parts, "companies") && m == http.MethodPost:
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
	case match(parts, "companies", "*") && m == http.MethodGet:
		s.adminCompany(w, r, parts[1], nil, http.StatusOK)
	case match(parts, "companies", "*") && m == http.MethodPatch:
		var edit CompanyEdit
		if !readJSON(w, r, &edit) {
			return
		}
		s.adminCompany(w, r, parts[1], &edit, http.StatusOK)
	case match(parts, "companies", "*") && m == http.MethodDelete:
		if err := s.DeleteCompany(parts[1]); err != nil {
			adminError(w, http.StatusNotFound, "company not found")
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case match(parts, "companies", "*", "fail") && (m == http.MethodPut || m == http.MethodPost):
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
		s.FailCompany(parts[1], body.Status)
		w.WriteHeader(http.StatusNoContent)
	case match(parts, "companies", "*", "garble") && (m == http.MethodPut || m == http.MethodPost):
		var body struct {
			Body string `json:"body"`
		}
		if !readJSON(w, r, &body) {
			return
		}
		if err := s.GarbleCompany(parts[1], body.Body); err != nil {
			adminError(w, http.StatusBadRequest, err.Error())
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case match(parts, "companies", "*", "connections") && m == http.MethodGet:
		conns := s.Connections(parts[1])
		if conns == nil {
			adminError(w, http.StatusNotFound, "company not found")
			return
		}
		writeJSON(w, http.StatusOK, conns)
	case match(parts, "companies", "*", "connections") && m == http.MethodPost:
		s.adminAddConnection(w, r, parts[1])
	case match(parts, "companies", "*", "connections", "*") && m == http.MethodGet:
		s.adminConnection(w, parts[1], parts[3], nil)
	case match(parts, "companies", "*", "connections", "*") && m == http.MethodDelete:
		if err := s.DeleteConnection(parts[1], parts[3]); err != nil {
			adminError(w, http.StatusNotFound, "connection not found")
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case match(parts, "companies", "*", "connections", "*", "link") && m == http.MethodPost:
		s.adminConnection(w, parts[1], parts[3], s.Link)
	case match(parts, "companies", "*", "connections", "*", "deauthorize") && m == http.MethodPost:
		s.adminConnection(w, parts[1], parts[3], s.Deauthorize)
	case match(parts, "companies", "*", "connections", "*", "fail-link") && m == http.MethodPost:
		var body struct {
			Message string `json:"message"`
		}
		if r.ContentLength != 0 && !readJSON(w, r, &body) {
			return
		}
		s.adminConnection(w, parts[1], parts[3], func(c, id string) error { return s.FailLink(c, id, body.Message) })
	case match(parts, "companies", "*", "tags") && (m == http.MethodPut || m == http.MethodPost):
		var body struct {
			Tags map[string]string `json:"tags"`
		}
		if !readJSON(w, r, &body) {
			return
		}
		s.SetCompanyTags(parts[1], body.Tags)
		w.WriteHeader(http.StatusNoContent)
	case match(parts, "webhooks") && m == http.MethodGet:
		writeJSON(w, http.StatusOK, s.Consumers())
	case match(parts, "webhooks") && m == http.MethodPost:
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
	case match(parts, "webhooks", "deliveries") && m == http.MethodGet:
		writeJSON(w, http.StatusOK, s.Deliveries())
	case match(parts, "webhooks", "rate-limit") && m == http.MethodPost:
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
	case match(parts, "webhooks", "*") && m == http.MethodDelete:
		s.RemoveConsumer(parts[1])
		w.WriteHeader(http.StatusNoContent)
	case match(parts, "faults") && m == http.MethodGet:
		writeJSON(w, http.StatusOK, s.Faults())
	case match(parts, "faults") && (m == http.MethodPut || m == http.MethodPost):
		var f Faults
		if !readJSON(w, r, &f) {
			return
		}
		if err := s.SetFaults(f); err != nil {
			adminError(w, http.StatusBadRequest, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, s.Faults())
	case match(parts, "quota", "reset") && m == http.MethodPost:
		s.ResetQuota()
		w.WriteHeader(http.StatusNoContent)
	case match(parts, "counts") && m == http.MethodGet:
		writeJSON(w, http.StatusOK, s.counters())
	case match(parts, "requests") && m == http.MethodGet:
		writeJSON(w, http.StatusOK, s.Requests())
	case match(parts, "reset-counts") && m == http.MethodPost:
		s.ResetCounts()
		w.WriteHeader(http.StatusNoContent)
	case match(parts, "reset") && m == http.MethodPost:
		s.Reset()
		w.WriteHeader(http.StatusNoContent)
	case match(parts, "platforms") && m == http.MethodGet:
		writeJSON(w, http.StatusOK, s.Platforms())
	case match(parts, "platforms") && m == http.MethodPost:
		var p Platform
		if !readJSON(w, r, &p) {
			return
		}
		if err := s.AddPlatform(p); err != nil {
			adminError(w, http.StatusBadRequest, err.Error())
			return
		}
		writeJSON(w, http.StatusCreated, p)
	case match(parts, "api-keys") && m == http.MethodPost:
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
	default:
		adminError(w, http.StatusNotFound, "no such admin endpoint; see docs/simulator.md")
	}
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

func (s *Simulator) adminConnection(w http.ResponseWriter, companyID, connectionID string, change func(string, string) error) {
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

// match compares path segments; "*" matches any non-empty segment.
func match(parts []string, pattern ...string) bool {
	if len(parts) != len(pattern) {
		return false
	}
	for i, p := range pattern {
		if parts[i] == "" || (p != "*" && p != parts[i]) {
			return false
		}
	}
	return true
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
