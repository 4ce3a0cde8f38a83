package codatsim

import (
	"github.com/codat-operator/codat-operator/internal/codatapi"

	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const (
	defaultPageSize = 100
	maxPageSize     = 5000
	maxBody         = 1 << 20
)

// response is computed under the lock and written after the request leaves the in-flight count,
// so that a client never sees the response before the simulator has stopped counting it.
type response struct {
	status int
	header http.Header
	body   []byte
	fault  string
	lose   bool // close the connection without writing anything
}

// marshal is json.Marshal without HTML escaping, so hrefs keep a literal "&".
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func jsonResponse(status int, v any) *response {
	b, err := marshal(v)
	if err != nil {
		return errorResponse(http.StatusInternalServerError, "encoding response: "+err.Error())
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json; charset=utf-8")
	return &response{status: status, header: h, body: b}
}

// errorBody is Codat's ErrorMessage. validation is left out, as in Codat's examples: the spec is
// OpenAPI 3.1, where `nullable` is no keyword, so a null would not match its object schema.
type errorBody struct {
	StatusCode        int    `json:"statusCode"`
	Service           string `json:"service"`
	Error             string `json:"error"`
	CorrelationID     string `json:"correlationId"`
	CanBeRetried      string `json:"canBeRetried"`
	DetailedErrorCode int    `json:"detailedErrorCode"`
}

// errorResponse builds an ErrorMessage response; the correlation id is filled in by finish.
func errorResponse(status int, msg string) *response {
	r := jsonResponse(status, errorBody{StatusCode: status, Service: "PublicApi", Error: msg, CanBeRetried: "Unknown"})
	return r
}

// ServeHTTP routes Codat's company and connection API, the link pages and the /_sim/ admin API.
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	switch {
	case strings.HasPrefix(r.URL.Path, "/_sim/") || r.URL.Path == "/_sim":
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		s.serveAdmin(rec, r)
		s.notify(Request{Time: s.now(), Method: r.Method, Path: r.URL.Path, Operation: "admin",
			StatusCode: rec.status, Duration: time.Since(start)})
		return
	case strings.HasPrefix(r.URL.Path, "/link/"):
		s.serveLink(w, r, start)
		return
	}
	op, companyID, connectionID, ok := route(r.Method, r.URL.Path)
	if !ok {
		status, msg := http.StatusNotFound, "The requested resource was not found (the simulator serves only the company and connection API)."
		if op == "method" {
			status, msg = http.StatusMethodNotAllowed, "The requested HTTP method is not allowed for this resource."
		}
		resp := errorResponse(status, msg)
		s.mu.Lock()
		s.finishLocked(resp)
		s.mu.Unlock()
		resp.write(w)
		s.notify(Request{Time: s.now(), Method: r.Method, Path: r.URL.Path, StatusCode: status, Duration: time.Since(start)})
		return
	}
	s.serveAPI(w, r, op, companyID, connectionID, start)
}

// route maps a method and path to a Codat operation. op is "method" for a known path with the
// wrong method. It stays a switch, not ServeMux patterns like the admin API's: every miss needs
// Codat's error body (a 405 for HEAD too, which a GET pattern would serve), and serveAPI records
// the path as sent and times from arrival, both of which patterns would need wrapping to keep.
func route(method, path string) (op, companyID, connectionID string, ok bool) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if parts[0] != "companies" {
		return "", "", "", false
	}
	var byMethod map[string]string
	switch {
	case len(parts) == 1:
		byMethod = map[string]string{http.MethodGet: codatapi.OpListCompanies, http.MethodPost: codatapi.OpCreateCompany}
	case len(parts) == 2 && parts[1] != "":
		companyID = parts[1]
		byMethod = map[string]string{http.MethodGet: codatapi.OpGetCompany, http.MethodPut: codatapi.OpReplaceCompany,
			http.MethodPatch: codatapi.OpUpdateCompany, http.MethodDelete: codatapi.OpDeleteCompany}
	case len(parts) < 3 || parts[2] != "connections" || parts[1] == "":
		return "", "", "", false
	case len(parts) == 3:
		companyID = parts[1]
		byMethod = map[string]string{http.MethodGet: codatapi.OpListConnections, http.MethodPost: codatapi.OpCreateConnection}
	case len(parts) == 4 && parts[3] != "":
		companyID, connectionID = parts[1], parts[3]
		byMethod = map[string]string{http.MethodGet: codatapi.OpGetConnection, http.MethodPatch: codatapi.OpUnlinkConnection, http.MethodDelete: codatapi.OpDeleteConnection}
	case len(parts) == 5 && parts[3] != "" && parts[4] == "authorization":
		companyID, connectionID = parts[1], parts[3]
		byMethod = map[string]string{http.MethodPut: codatapi.OpUpdateConnectionAuthorization}
	default:
		return "", "", "", false
	}
	if op, ok := byMethod[method]; ok {
		return op, companyID, connectionID, true
	}
	return "method", companyID, connectionID, false
}

func (s *Simulator) serveAPI(w http.ResponseWriter, r *http.Request, op, companyID, connectionID string, start time.Time) {
	body, readErr := io.ReadAll(io.LimitReader(r.Body, maxBody))

	s.mu.Lock()
	d := draw{rateLimit: s.faultRNG.Float64(), errorRate: s.faultRNG.Float64(), loseCreate: s.faultRNG.Float64(), badResponse: s.faultRNG.Float64()}
	latency := s.faults.Latency
	// Codat's cap on concurrent requests is per company: list-companies and create-company name none.
	if companyID != "" {
		s.inFlight[companyID]++
		if s.inFlight[companyID] > s.maxInFlight[companyID] {
			s.maxInFlight[companyID] = s.inFlight[companyID]
		}
	}
	s.mu.Unlock()

	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
		}
	}

	s.mu.Lock()
	var resp *response
	if readErr != nil {
		resp = errorResponse(http.StatusBadRequest, "Could not read the request body.")
	} else {
		resp = s.handleLocked(r, op, companyID, connectionID, body, d)
	}
	if companyID != "" {
		s.inFlight[companyID]--
	}
	s.finishLocked(resp)
	req := Request{Time: s.now(), Method: r.Method, Path: r.URL.Path, Operation: op, CompanyID: companyID,
		ConnectionID: connectionID, StatusCode: resp.status, Fault: resp.fault, Duration: time.Since(start)}
	if resp.lose {
		req.StatusCode = 0
	}
	s.recordLocked(req)
	s.mu.Unlock()

	s.notify(req)
	if resp.lose {
		loseResponse(w)
		return
	}
	resp.write(w)
}

// handleLocked applies authentication, faults and then the operation.
func (s *Simulator) handleLocked(r *http.Request, op, companyID, connectionID string, body []byte, d draw) *response {
	if !s.keys[r.Header.Get("Authorization")] {
		return errorResponse(http.StatusUnauthorized, "Unauthorized: the API key is missing or not valid. Send 'Authorization: Basic <base64 of the API key>'.")
	}
	if status := s.failing[companyID]; status != 0 {
		return s.companyFailureLocked(status)
	}
	if resp := s.injectFaultLocked(op, d); resp != nil {
		return resp
	}
	resp := s.operateLocked(r, op, companyID, connectionID, body, d)
	if resp.status == http.StatusOK && !resp.lose {
		s.garbleLocked(resp, companyID, d)
	}
	return resp
}

// garbleLocked replaces a good answer's body with a bad one when a fault says so.
func (s *Simulator) garbleLocked(resp *response, companyID string, d draw) {
	kind, ok := s.garbling[companyID]
	switch {
	case ok:
	case s.faults.BadResponseNext > 0:
		s.faults.BadResponseNext--
		kind = s.faults.BadResponseBody
	case d.badResponse < s.faults.BadResponseRate:
		kind = s.faults.BadResponseBody
	default:
		return
	}
	if kind == "" {
		kind = BadBodyTruncated
	}
	resp.body, resp.fault = badBodies[kind](resp.body), FaultBadResponse
	if kind == BadBodyHTML {
		resp.header.Set("Content-Type", "text/html; charset=utf-8")
	}
}

// operateLocked performs the operation on the simulator's state.
func (s *Simulator) operateLocked(r *http.Request, op, companyID, connectionID string, body []byte, d draw) *response {
	switch op {
	case codatapi.OpListCompanies:
		return s.listCompaniesLocked(r)
	case codatapi.OpCreateCompany:
		resp := s.createCompanyLocked(r, body)
		if resp.status == http.StatusOK && s.loseCreateCompanyLocked(d) {
			resp.lose, resp.fault = true, FaultLostResponse
		}
		return resp
	}
	c := s.companies[companyID]
	if c == nil {
		return errorResponse(http.StatusNotFound, fmt.Sprintf("No company was found with ID %s", companyID))
	}
	if connectionID != "" && c.conns[connectionID] == nil {
		return errorResponse(http.StatusNotFound, fmt.Sprintf("Data connection %s not found", connectionID))
	}
	switch op {
	case codatapi.OpListConnections:
		return s.listLocked(r, companyID, c)
	case codatapi.OpCreateConnection:
		resp := s.createLocked(r, companyID, c, body)
		if resp.status == http.StatusOK && s.loseCreateLocked(d) {
			resp.lose, resp.fault = true, FaultLostResponse
		}
		return resp
	case codatapi.OpGetConnection:
		return jsonResponse(http.StatusOK, c.conns[connectionID].Connection)
	case codatapi.OpGetCompany:
		return jsonResponse(http.StatusOK, s.companyLocked(r, c))
	case codatapi.OpReplaceCompany, codatapi.OpUpdateCompany:
		return s.changeCompanyLocked(r, c, body, op == codatapi.OpUpdateCompany)
	case codatapi.OpDeleteCompany:
		s.deleteCompanyLocked(r, companyID)
		return &response{status: http.StatusNoContent, header: http.Header{}}
	case codatapi.OpDeleteConnection:
		_ = s.deleteLocked(companyID, connectionID)
		return &response{status: http.StatusOK, header: http.Header{}}
	case codatapi.OpUnlinkConnection, codatapi.OpUpdateConnectionAuthorization:
		conn := c.conns[connectionID]
		from := conn.Status
		change := s.unlinkLocked
		if op == codatapi.OpUpdateConnectionAuthorization {
			change = s.authorizeLocked
		}
		resp := change(conn, body)
		s.changedLocked(companyID, conn, from)
		return resp
	}
	return errorResponse(http.StatusNotFound, "Unknown operation.")
}

// injectFaultLocked decides quota, rate-limit and error faults for an authenticated request.
func (s *Simulator) injectFaultLocked(op string, d draw) *response {
	f := &s.faults
	now := s.now()
	if !now.Before(s.quota.resetAt) {
		s.resetQuotaLocked()
	}
	if per := s.opts.QuotaPerConnectedCompany; per > 0 && f.Quota == 0 {
		s.quota.limit = per * (1 + s.connectedCompaniesLocked())
	}
	s.quota.used++
	if s.quota.used == s.quota.limit+1 {
		s.emitRateLimitLocked(codatapi.EventRateLimitReached)
	}
	if s.quota.used > s.quota.limit {
		resp := errorResponse(http.StatusTooManyRequests, "You have exceeded your request quota; please retry after the quota resets.")
		resp.header.Set("Retry-After", strconv.Itoa(ceilSeconds(s.quota.resetAt.Sub(now))))
		resp.fault = FaultQuota
		return resp
	}
	if f.RateLimitNext > 0 || d.rateLimit < f.RateLimitRate {
		if f.RateLimitNext > 0 {
			f.RateLimitNext--
		}
		resp := errorResponse(http.StatusTooManyRequests, "You have made too many requests in a given amount of time; please retry later.")
		resp.header.Set("Retry-After", strconv.Itoa(ceilSeconds(f.RetryAfter)))
		resp.fault = FaultRateLimit
		return resp
	}
	rate, ok := f.ErrorRate[op]
	if !ok {
		rate = f.ErrorRate["*"]
	}
	if d.errorRate < rate {
		msg := "An internal server error occurred (simulated)."
		if f.ErrorStatus == http.StatusServiceUnavailable {
			msg = "The service is temporarily unavailable for maintenance (simulated)."
		}
		resp := errorResponse(f.ErrorStatus, msg)
		if f.ErrorStatus == http.StatusServiceUnavailable {
			resp.header.Set("Retry-After", strconv.Itoa(ceilSeconds(f.RetryAfter)))
		}
		resp.fault = FaultError
		return resp
	}
	return nil
}

// companyFailureLocked is the response forced by FailCompany.
func (s *Simulator) companyFailureLocked(status int) *response {
	msg := map[int]string{
		http.StatusPaymentRequired:    "An account limit has been reached (simulated).",
		http.StatusForbidden:          "The API key is not allowed to access this company (simulated).",
		http.StatusTooManyRequests:    "You have made too many requests in a given amount of time; please retry later.",
		http.StatusServiceUnavailable: "The service is temporarily unavailable for maintenance (simulated).",
	}[status]
	if msg == "" {
		msg = http.StatusText(status) + " (simulated)."
	}
	resp := errorResponse(status, msg)
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		resp.header.Set("Retry-After", strconv.Itoa(ceilSeconds(s.faults.RetryAfter)))
	}
	resp.fault = FaultCompany
	return resp
}

func (s *Simulator) loseCreateLocked(d draw) bool {
	if s.faults.LoseCreateResponseNext > 0 {
		s.faults.LoseCreateResponseNext--
		return true
	}
	return d.loseCreate < s.faults.LoseCreateResponseRate
}

func (s *Simulator) loseCreateCompanyLocked(d draw) bool {
	if s.faults.LoseCreateCompanyResponseNext > 0 {
		s.faults.LoseCreateCompanyResponseNext--
		return true
	}
	return d.loseCreate < s.faults.LoseCreateCompanyResponseRate
}

func ceilSeconds(d time.Duration) int {
	n := int(math.Ceil(d.Seconds()))
	if n < 1 {
		n = 1
	}
	return n
}

// finishLocked adds the headers every API response carries.
func (s *Simulator) finishLocked(resp *response) {
	if resp.header == nil {
		resp.header = http.Header{}
	}
	if resp.status >= 400 && resp.header.Get("Content-Type") != "" {
		s.correlation++
		var eb errorBody
		if json.Unmarshal(resp.body, &eb) == nil {
			eb.CorrelationID = fmt.Sprintf("%032x", s.correlation)
			resp.body, _ = marshal(eb)
		}
	}
	remaining := s.quota.limit - s.quota.used
	if remaining < 0 {
		remaining = 0
	}
	resp.header.Set("X-Rate-Limit-Limit", strconv.Itoa(s.quota.limit))
	resp.header.Set("X-Rate-Limit-Remaining", strconv.Itoa(remaining))
	resp.header.Set("X-Rate-Limit-Reset", s.quota.resetAt.Format(http.TimeFormat))
}

func (r *response) write(w http.ResponseWriter) {
	for k, v := range r.header {
		w.Header()[k] = v
	}
	if r.status != http.StatusNoContent { // a 204 carries no Content-Length (RFC 9110)
		w.Header().Set("Content-Length", strconv.Itoa(len(r.body)))
	}
	w.WriteHeader(r.status)
	_, _ = w.Write(r.body) //nolint:gosec // JSON for API clients, with its Content-Type; no page renders it
}

// loseResponse closes the client's TCP connection without an HTTP response.
func loseResponse(w http.ResponseWriter) {
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		_ = conn.Close()
		return
	}
	panic(http.ErrAbortHandler) // HTTP/2: abort the stream instead
}

func (s *Simulator) recordLocked(req Request) {
	s.counts[req.Operation]++
	if s.statusCounts[req.Operation] == nil {
		s.statusCounts[req.Operation] = map[int]int{}
	}
	s.statusCounts[req.Operation][req.StatusCode]++
	s.log = append(s.log, req)
}

func (s *Simulator) notify(req Request) {
	if s.opts.OnRequest != nil {
		s.opts.OnRequest(req)
	}
}

type linkRef struct {
	Href string `json:"href"`
}

type connectionsPage struct {
	Results      []Connection       `json:"results"`
	PageNumber   int                `json:"pageNumber"`
	PageSize     int                `json:"pageSize"`
	TotalResults int                `json:"totalResults"`
	Links        map[string]linkRef `json:"_links"`
}

func (s *Simulator) listLocked(r *http.Request, companyID string, c *company) *response {
	q := r.URL.Query()
	page, size, bad := pageParams(q)
	if bad != nil {
		return bad
	}
	clauses, err := parseClauses(q.Get("query"), func(field string) bool { return connectionFields[field] != nil })
	if err != nil {
		return errorResponse(http.StatusBadRequest, "Error parsing query - "+err.Error())
	}
	matched := []Connection{}
	for _, id := range c.order {
		conn := c.conns[id].Connection
		if matchAll(clauses, func(field string) string { return connectionFields[field](conn) }) {
			matched = append(matched, conn)
		}
	}
	out := connectionsPage{PageNumber: page, PageSize: size, TotalResults: len(matched)}
	out.Results, out.Links = pageOf(matched, page, size, "/companies/"+url.PathEscape(companyID)+"/connections", q, "query", "orderBy")
	return jsonResponse(http.StatusOK, out)
}

// pageParams reads page (default 1) and pageSize (default 100, at most 5000).
func pageParams(q url.Values) (page, size int, bad *response) {
	page, err := intParam(q, "page", 1)
	if err != nil || page < 1 {
		return 0, 0, errorResponse(http.StatusBadRequest, "Error parsing query - page must be an integer of at least 1.")
	}
	size, err = intParam(q, "pageSize", defaultPageSize)
	if err != nil || size < 1 || size > maxPageSize {
		return 0, 0, errorResponse(http.StatusBadRequest, fmt.Sprintf("Error parsing query - pageSize must be an integer from 1 to %d.", maxPageSize))
	}
	return page, size, nil
}

// pageOf returns one page of the matched items (never nil: Codat sends an array) and the paging
// links: relative hrefs to self, and to the current, next and previous pages with the request's
// parameters named in keep.
func pageOf[T any](matched []T, page, size int, self string, q url.Values, keep ...string) ([]T, map[string]linkRef) {
	results := []T{}
	if from := (page - 1) * size; from < len(matched) {
		results = matched[from:min(from+size, len(matched))]
	}
	pageHref := func(p int) string {
		v := url.Values{"page": {strconv.Itoa(p)}, "pageSize": {strconv.Itoa(size)}}
		for _, k := range keep {
			if value := q.Get(k); value != "" {
				v.Set(k, value)
			}
		}
		return self + "?" + v.Encode()
	}
	links := map[string]linkRef{"self": {self}, "current": {pageHref(page)}}
	if page*size < len(matched) {
		links["next"] = linkRef{pageHref(page + 1)}
	}
	if page > 1 {
		links["previous"] = linkRef{pageHref(page - 1)}
	}
	return results, links
}

func intParam(q url.Values, name string, def int) (int, error) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	return strconv.Atoi(v)
}

// clause is one `field<op>value` of Codat's query language.
type clause struct{ field, op, value string }

// parseClauses reads the simple part of Codat's query language: clauses `field=value`,
// `field!=value` and `field~value` (contains) joined with `&&`, spaces around them allowed, on the
// fields known accepts. Anything else (`||`, braces, an unknown field) is an error.
func parseClauses(qs string, known func(field string) bool) ([]clause, error) {
	if strings.TrimSpace(qs) == "" {
		return nil, nil
	}
	if strings.ContainsAny(qs, "{}") || strings.Contains(qs, "||") {
		return nil, fmt.Errorf("the simulator supports only clauses joined with &&")
	}
	var out []clause
	for _, text := range strings.Split(qs, "&&") {
		var c clause
		for _, o := range []string{"!=", "=", "~"} {
			if i := strings.Index(text, o); i > 0 {
				c = clause{field: strings.TrimSpace(text[:i]), op: o, value: strings.TrimSpace(text[i+len(o):])}
				break
			}
		}
		if c.op == "" || !known(c.field) {
			return nil, fmt.Errorf("cannot parse clause %q", text)
		}
		out = append(out, c)
	}
	return out, nil
}

// matchAll says whether get's values meet every clause. Comparisons ignore case, as Codat's do.
func matchAll(clauses []clause, get func(field string) string) bool {
	for _, c := range clauses {
		v := get(c.field)
		var ok bool
		switch c.op {
		case "=":
			ok = strings.EqualFold(v, c.value)
		case "!=":
			ok = !strings.EqualFold(v, c.value)
		default:
			ok = strings.Contains(strings.ToLower(v), strings.ToLower(c.value))
		}
		if !ok {
			return false
		}
	}
	return true
}

var connectionFields = map[string]func(Connection) string{
	"id":             func(c Connection) string { return c.ID },
	"integrationId":  func(c Connection) string { return c.IntegrationID },
	"integrationKey": func(c Connection) string { return c.IntegrationKey },
	"sourceId":       func(c Connection) string { return c.SourceID },
	"sourceType":     func(c Connection) string { return c.SourceType },
	"platformName":   func(c Connection) string { return c.PlatformName },
	"status":         func(c Connection) string { return c.Status },
	"created":        func(c Connection) string { return c.Created },
}

func (s *Simulator) createLocked(r *http.Request, companyID string, c *company, body []byte) *response {
	var req struct {
		PlatformKey *string `json:"platformKey"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || req.PlatformKey == nil {
		return errorResponse(http.StatusBadRequest, `The request body must be a JSON object {"platformKey":"<four lowercase letters>"}.`)
	}
	p, ok := s.platforms[*req.PlatformKey]
	if !ok {
		return errorResponse(http.StatusBadRequest, fmt.Sprintf("No enabled integration was found with platform key '%s'.", *req.PlatformKey))
	}
	id := s.newIDLocked()
	conn := &connection{Connection: Connection{
		ID:             id,
		IntegrationID:  p.IntegrationID,
		IntegrationKey: p.Key,
		SourceID:       stableUUID("source", p.Key),
		SourceType:     p.SourceType,
		PlatformName:   p.Name,
		LinkURL:        s.linkBase(r) + "/link/companies/" + url.PathEscape(companyID) + "/connections/" + id + "/start",
		Status:         codatapi.StatusPendingAuth,
		Created:        s.createdLocked(),
	}}
	c.conns[id] = conn
	c.order = append(c.order, id)
	s.emitConnectionLocked(codatapi.EventConnectionCreated, companyID, conn.Connection)
	return jsonResponse(http.StatusOK, conn.Connection)
}

func (s *Simulator) linkBase(r *http.Request) string {
	if s.opts.LinkBaseURL != "" {
		return s.opts.LinkBaseURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (s *Simulator) unlinkLocked(conn *connection, body []byte) *response {
	var req map[string]any
	if err := json.Unmarshal(body, &req); err != nil || len(req) != 1 || req["status"] != codatapi.StatusUnlinked {
		return errorResponse(http.StatusBadRequest, `The request body must be {"status":"Unlinked"}.`)
	}
	if conn.Status != codatapi.StatusLinked {
		return errorResponse(http.StatusBadRequest, fmt.Sprintf("Only Linked data connections can be unlinked; data connection %s is %s.", conn.ID, conn.Status))
	}
	conn.Status = codatapi.StatusUnlinked
	return jsonResponse(http.StatusOK, conn.Connection)
}

func (s *Simulator) authorizeLocked(conn *connection, body []byte) *response {
	var auth map[string]string
	if err := json.Unmarshal(body, &auth); err != nil || auth == nil {
		return errorResponse(http.StatusBadRequest, "The request body must be a JSON object of string values.")
	}
	conn.authorization = auth
	s.linkLocked(conn)
	return jsonResponse(http.StatusOK, conn.Connection)
}

// serveLink is the page the business opens to authorize: a connection's linkUrl links the
// connection, a company's redirect links every connection of the company that is not Linked.
func (s *Simulator) serveLink(w http.ResponseWriter, r *http.Request, start time.Time) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	status, text := http.StatusNotFound, "This link is not valid."
	var companyID, connectionID string
	if len(parts) == 3 && parts[1] == "company" && parts[2] != "" {
		companyID = parts[2]
		if r.Method != http.MethodGet {
			status, text = http.StatusMethodNotAllowed, "Open this link with GET."
		} else {
			s.mu.Lock()
			status, text = s.serveCompanyLinkLocked(companyID)
			s.mu.Unlock()
		}
	}
	if len(parts) == 6 && parts[1] == "companies" && parts[3] == "connections" && parts[5] == "start" {
		companyID, connectionID = parts[2], parts[4]
		if r.Method != http.MethodGet {
			status, text = http.StatusMethodNotAllowed, "Open this link with GET."
		} else {
			s.mu.Lock()
			conn, err := s.findLocked(companyID, connectionID)
			switch {
			case err != nil:
				text = "This connection does not exist (it may have been deleted)."
			case conn.Status == codatapi.StatusLinked:
				status, text = http.StatusOK, conn.PlatformName+" is already linked. You can close this page."
			default:
				from := conn.Status
				s.linkLocked(conn)
				s.changedLocked(companyID, conn, from)
				status, text = http.StatusOK, conn.PlatformName+" is now linked. You can close this page."
			}
			s.mu.Unlock()
		}
	}
	req := Request{Time: s.now(), Method: r.Method, Path: r.URL.Path, Operation: OpLink, CompanyID: companyID,
		ConnectionID: connectionID, StatusCode: status, Duration: time.Since(start)}
	s.mu.Lock()
	s.recordLocked(req)
	s.mu.Unlock()
	s.notify(req)

	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, "<!doctype html>\n<title>Codat simulator</title>\n<p>%s</p>\n", html.EscapeString(text))
}

// statusRecorder remembers the status written; Unwrap keeps http.ResponseController working.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
