// Package codatsim is a stateful simulator of Codat's company and connection API (the six company
// and six connection operations of the Platform API), with the business side (the link pages), an
// admin API under /_sim/, deterministic fault injection and request counters for tests.
//
// Start it in-process with httptest:
//
//	sim := codatsim.New(codatsim.Options{APIKeys: []string{"k"}, Companies: []string{companyID}, Seed: 1})
//	srv := httptest.NewServer(sim)
package codatsim

import (
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/codat-operator/codat-operator/internal/codatapi"
)

// OpLink is the business opening a connection's linkUrl (not a Codat API operation); the simulator
// counts it beside Codat's operationIds (package codatapi).
const OpLink = "link"

func isOperation(op string) bool {
	_, ok := codatapi.OperationNamed(op)
	return ok
}

// TimeFormat is how the simulator writes timestamps: UTC, 7 fractional digits, like Codat's
// lastSync examples. Successive created values are strictly increasing.
const TimeFormat = "2006-01-02T15:04:05.0000000Z"

// DefaultDailyQuota is the X-Rate-Limit-Limit reported when no Quota fault is set.
const DefaultDailyQuota = 100000

// ErrNotFound is returned by the Go API for an unknown company or connection.
var ErrNotFound = errors.New("codatsim: not found")

// Connection is a connection as the simulator serves it (Codat's Connection schema). It is its
// own type, not codatclient's, on purpose: the contract test checks each side against the spec,
// and a shared type would let a renamed field pass on both.
type Connection struct {
	ID                   string                `json:"id"`
	IntegrationID        string                `json:"integrationId"`
	IntegrationKey       string                `json:"integrationKey,omitempty"`
	SourceID             string                `json:"sourceId"`
	SourceType           string                `json:"sourceType"`
	PlatformName         string                `json:"platformName"`
	LinkURL              string                `json:"linkUrl"`
	Status               string                `json:"status"`
	LastSync             string                `json:"lastSync,omitempty"`
	Created              string                `json:"created"`
	DataConnectionErrors []DataConnectionError `json:"dataConnectionErrors,omitempty"`
	ConnectionInfo       map[string]any        `json:"connectionInfo,omitempty"`
}

// DataConnectionError is an entry of Connection.DataConnectionErrors.
type DataConnectionError struct {
	StatusCode   string `json:"statusCode,omitempty"`
	StatusText   string `json:"statusText,omitempty"`
	ErrorMessage string `json:"errorMessage,omitempty"`
	ErroredOnUtc string `json:"erroredOnUtc,omitempty"`
	// Status and ResolvedOnUtc are left out when they have no value (a non-transient error, an
	// unresolved one): Codat's spec says null there, but it is OpenAPI 3.1, where null does not
	// match a string schema.
	Status        *string `json:"status,omitempty"`
	ResolvedOnUtc *string `json:"resolvedOnUtc,omitempty"`
}

func (c Connection) clone() Connection {
	c.DataConnectionErrors = slices.Clone(c.DataConnectionErrors)
	if c.ConnectionInfo != nil {
		info := make(map[string]any, len(c.ConnectionInfo))
		for k, v := range c.ConnectionInfo {
			info[k] = v
		}
		c.ConnectionInfo = info
	}
	return c
}

// Request is one request the simulator handled (Codat API operations and link pages).
type Request struct {
	Time         time.Time     `json:"time"`
	Method       string        `json:"method"`
	Path         string        `json:"path"`
	Operation    string        `json:"operation"`
	CompanyID    string        `json:"companyId,omitempty"`
	ConnectionID string        `json:"connectionId,omitempty"`
	StatusCode   int           `json:"statusCode"` // 0 when the response was deliberately lost
	Fault        string        `json:"fault,omitempty"`
	Duration     time.Duration `json:"duration"`
}

// Options configure a Simulator.
type Options struct {
	// APIKeys are accepted as "Authorization: Basic base64(key)".
	APIKeys []string
	// Companies that exist from the start.
	Companies []string
	// Seed for connection ids and random faults.
	Seed int64
	// LinkBaseURL is the base of linkUrl and redirect values, e.g. "http://127.0.0.1:8089". Empty:
	// taken from each create request's Host (for a company made outside the API, from the first
	// request that shows it).
	LinkBaseURL string
	// Platforms added to (or replacing, by key) DefaultPlatforms.
	Platforms []Platform
	// Connections that exist from the start, and again after Reset (their companies are added).
	// A bad one is left out; ValidateConnections says why.
	Connections []SeedConnection
	// DailyQuota is the X-Rate-Limit-Limit without a Quota fault (default DefaultDailyQuota).
	DailyQuota int
	// QuotaPerConnectedCompany, when set, makes the daily quota Codat's: this many requests times
	// one plus the companies with a Linked connection (Codat's is 1,000). It replaces DailyQuota.
	QuotaPerConnectedCompany int
	// Now is the clock (default time.Now).
	Now func() time.Time
	// OnRequest, if set, is called after every request, including /_sim/ calls (Operation "admin").
	OnRequest func(Request)
	// WebhookRetryScale multiplies Codat's webhook retry schedule (5s, 5m, 30m, 2h, 5h, 10h, 10h):
	// 0.001 makes it milliseconds, for tests. Default 1.
	WebhookRetryScale float64
	// WebhookHTTPClient delivers webhooks (default http.DefaultClient), e.g. one that trusts a
	// test's certificate authority.
	WebhookHTTPClient *http.Client
}

// Simulator is an http.Handler serving Codat's connection API. Safe for concurrent use.
type Simulator struct {
	opts Options
	now  func() time.Time
	// admin routes the admin API (adminRoutes).
	admin *http.ServeMux

	mu        sync.Mutex
	keys      map[string]bool // accepted Authorization header values
	companies map[string]*company
	// companyOrder is the companies' creation order, for stable paging of list-companies.
	companyOrder []string
	platforms    map[string]Platform
	faults       Faults
	faultRNG     *rand.Rand
	idRNG        *rand.Rand
	// webhookRNG draws webhook ids and delivery faults, so that consumers change neither the
	// connection ids nor the API's fault sequence.
	webhookRNG  *rand.Rand
	correlation uint64
	lastCreated time.Time
	quota       quotaState
	failing     map[string]int    // companyId -> forced status (FailCompany)
	garbling    map[string]string // companyId -> bad body kind (GarbleCompany)

	consumers  []Consumer
	deliveries []Delivery
	// done stops webhook deliveries that are waiting for a retry (Close).
	done      chan struct{}
	closeOnce sync.Once

	counts       map[string]int
	statusCounts map[string]map[int]int
	log          []Request
	inFlight     map[string]int
	maxInFlight  map[string]int
}

type company struct {
	id          string
	name        string
	description string
	tags        map[string]string
	created     string
	// redirect is the company's Link URL; empty until a base is known (see Options.LinkBaseURL).
	redirect string
	conns    map[string]*connection
	order    []string // creation order, for stable paging
}

type connection struct {
	Connection
	authorization map[string]string
}

type quotaState struct {
	limit   int
	used    int
	resetAt time.Time
}

// New returns a Simulator with the given keys, companies and platforms.
func New(o Options) *Simulator {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.DailyQuota <= 0 {
		o.DailyQuota = DefaultDailyQuota
	}
	o.LinkBaseURL = strings.TrimRight(o.LinkBaseURL, "/")
	s := &Simulator{opts: o, now: func() time.Time { return o.Now().UTC() }, keys: map[string]bool{}, done: make(chan struct{})}
	s.admin = s.adminRoutes()
	for _, k := range o.APIKeys {
		s.addKeyLocked(k)
	}
	s.resetLocked()
	return s
}

// resetLocked puts everything but the API keys back to how New left it.
func (s *Simulator) resetLocked() {
	s.lastCreated = time.Time{}
	s.companies = map[string]*company{}
	s.companyOrder = nil
	for _, id := range s.opts.Companies {
		s.ensureCompanyLocked(id)
	}
	s.platforms = map[string]Platform{}
	for _, p := range append(DefaultPlatforms(), s.opts.Platforms...) {
		s.addPlatformLocked(p)
	}
	seed := uint64(s.opts.Seed) //nolint:gosec // a negative seed wraps around: any bits seed the generator
	s.faultRNG = rand.New(rand.NewPCG(seed, 0x6661756c7473))
	s.idRNG = rand.New(rand.NewPCG(seed, 0x696473))
	s.webhookRNG = rand.New(rand.NewPCG(seed, 0x77656268))
	s.correlation = 0
	s.faults = Faults{}.withDefaults()
	s.failing = map[string]int{}
	s.garbling = map[string]string{}
	s.resetQuotaLocked()
	s.resetCountsLocked()
	_ = s.seedLocked()
}

func (s *Simulator) resetCountsLocked() {
	s.counts = map[string]int{}
	s.statusCounts = map[string]map[int]int{}
	s.log = nil
	s.inFlight = map[string]int{}
	s.maxInFlight = map[string]int{}
}

func (s *Simulator) resetQuotaLocked() {
	exhausted := s.quota.limit > 0 && s.quota.used > s.quota.limit
	defer func() {
		if exhausted {
			s.emitRateLimitLocked(codatapi.EventRateLimitReset)
		}
	}()
	now := s.now()
	if s.faults.Quota > 0 {
		// Whole seconds, as X-Rate-Limit-Reset tells them: a client never sees the quota reset
		// later than the header says.
		resetAt := now.Add(s.faults.QuotaWindow)
		if whole := resetAt.Truncate(time.Second); whole.Before(resetAt) {
			resetAt = whole.Add(time.Second)
		}
		s.quota = quotaState{limit: s.faults.Quota, resetAt: resetAt}
		return
	}
	// Codat's daily quota resets at 00:00 UTC.
	midnight := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC).Add(24 * time.Hour)
	s.quota = quotaState{limit: s.opts.DailyQuota, resetAt: midnight}
}

func (s *Simulator) addKeyLocked(key string) {
	if key == "" {
		return
	}
	s.keys["Basic "+base64.StdEncoding.EncodeToString([]byte(key))] = true
}

func (s *Simulator) addPlatformLocked(p Platform) {
	if p.IntegrationID == "" {
		p.IntegrationID = stableUUID("integration", p.Key)
	}
	s.platforms[p.Key] = p
}

// AddAPIKey accepts another API key.
func (s *Simulator) AddAPIKey(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addKeyLocked(key)
}

// AddCompany makes a company exist (a no-op if it does), as if made in Codat's Portal: named
// "Company " and the start of its id, with no description and no tags. It sends no webhook.
func (s *Simulator) AddCompany(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ensureCompanyLocked(id)
}

// ensureCompanyLocked returns the company, adding it (as AddCompany describes) if it is unknown.
func (s *Simulator) ensureCompanyLocked(id string) *company {
	if c := s.companies[id]; c != nil {
		return c
	}
	return s.addCompanyLocked(id, "Company "+id[:min(8, len(id))], "", nil)
}

// addCompanyLocked adds a company with the next creation time.
func (s *Simulator) addCompanyLocked(id, name, description string, tags map[string]string) *company {
	c := &company{id: id, name: name, description: description, tags: maps.Clone(tags),
		created: s.createdLocked(), conns: map[string]*connection{}}
	if s.opts.LinkBaseURL != "" {
		c.redirect = companyRedirect(s.opts.LinkBaseURL, id)
	}
	s.companies[id] = c
	s.companyOrder = append(s.companyOrder, id)
	return c
}

// companyRedirect is the company's Link URL: the simulator's company link page.
func companyRedirect(base, id string) string {
	return strings.TrimRight(base, "/") + "/link/company/" + url.PathEscape(id)
}

// Companies returns the ids of all companies, sorted.
func (s *Simulator) Companies() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.companies))
	for id := range s.companies {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// AddPlatform adds (or replaces) a platform key that creates accept.
func (s *Simulator) AddPlatform(p Platform) error {
	if !validPlatformKey(p.Key) || p.Name == "" || p.SourceType == "" {
		return errors.New("codatsim: a platform needs a four-lowercase-letter key, a name and a source type")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addPlatformLocked(p)
	return nil
}

// Platforms returns the known platforms, sorted by key.
func (s *Simulator) Platforms() []Platform {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Platform, 0, len(s.platforms))
	for _, p := range s.platforms {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func validPlatformKey(k string) bool {
	if len(k) != 4 {
		return false
	}
	for _, r := range k {
		if r < 'a' || r > 'z' {
			return false
		}
	}
	return true
}

// Connections returns the company's current (not deleted) connections in creation order;
// nil for an unknown company.
func (s *Simulator) Connections(companyID string) []Connection {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.companies[companyID]
	if c == nil {
		return nil
	}
	out := make([]Connection, 0, len(c.order))
	for _, id := range c.order {
		out = append(out, c.conns[id].clone())
	}
	return out
}

// Connection returns one connection.
func (s *Simulator) Connection(companyID, connectionID string) (Connection, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	conn, err := s.findLocked(companyID, connectionID)
	if err != nil {
		return Connection{}, err
	}
	return conn.clone(), nil
}

// Authorization returns the body of the last update-authorization call for the connection.
func (s *Simulator) Authorization(companyID, connectionID string) (map[string]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	conn, err := s.findLocked(companyID, connectionID)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(conn.authorization))
	for k, v := range conn.authorization {
		out[k] = v
	}
	return out, nil
}

func (s *Simulator) findLocked(companyID, connectionID string) (*connection, error) {
	c := s.companies[companyID]
	if c == nil {
		return nil, ErrNotFound
	}
	conn := c.conns[connectionID]
	if conn == nil {
		return nil, ErrNotFound
	}
	return conn, nil
}

// Link does what the business does by opening the linkUrl: the connection becomes Linked.
func (s *Simulator) Link(companyID, connectionID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	conn, err := s.findLocked(companyID, connectionID)
	if err != nil {
		return err
	}
	from := conn.Status
	s.linkLocked(conn)
	s.changedLocked(companyID, conn, from)
	return nil
}

func (s *Simulator) linkLocked(conn *connection) {
	now := s.now().Format(TimeFormat)
	conn.Status = codatapi.StatusLinked
	conn.LastSync = now
	resolved := "Resolved"
	for i := range conn.DataConnectionErrors {
		e := &conn.DataConnectionErrors[i]
		if e.Status != nil && *e.Status == "Active" {
			at := now
			e.Status, e.ResolvedOnUtc = &resolved, &at
		}
	}
	conn.ConnectionInfo = map[string]any{
		"simulated":   true,
		"tenantName":  "Simulated " + conn.PlatformName + " company",
		"linkedTimes": linkedTimes(conn.ConnectionInfo) + 1,
	}
}

func linkedTimes(info map[string]any) int {
	if n, ok := info["linkedTimes"].(int); ok {
		return n
	}
	return 0
}

// Deauthorize does what a platform does when access is lost: the connection becomes
// Deauthorized with an active dataConnectionErrors entry.
func (s *Simulator) Deauthorize(companyID, connectionID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	conn, err := s.findLocked(companyID, connectionID)
	if err != nil {
		return err
	}
	from := conn.Status
	s.deauthorizeLocked(conn)
	s.changedLocked(companyID, conn, from)
	return nil
}

func (s *Simulator) deauthorizeLocked(conn *connection) {
	active := "Active"
	conn.Status = codatapi.StatusDeauthorized
	conn.DataConnectionErrors = append(conn.DataConnectionErrors, DataConnectionError{
		StatusCode:   "401",
		StatusText:   "Unauthorized",
		ErrorMessage: "The platform revoked access to this connection (simulated).",
		ErroredOnUtc: s.now().Format(TimeFormat),
		Status:       &active,
	})
}

// DeleteConnection deletes a connection from outside the API (as the Portal would).
func (s *Simulator) DeleteConnection(companyID, connectionID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deleteLocked(companyID, connectionID)
}

// deleteLocked deletes a connection and sends connection.deleted with its last state.
func (s *Simulator) deleteLocked(companyID, connectionID string) error {
	conn, err := s.findLocked(companyID, connectionID)
	if err != nil {
		return err
	}
	c := s.companies[companyID]
	delete(c.conns, connectionID)
	c.order = slices.DeleteFunc(c.order, func(id string) bool { return id == connectionID })
	s.emitConnectionLocked(codatapi.EventConnectionDeleted, companyID, conn.Connection)
	return nil
}

// Close stops webhook deliveries that wait for a retry. The simulator still serves requests.
func (s *Simulator) Close() {
	s.closeOnce.Do(func() { close(s.done) })
}

func (s *Simulator) stopped() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// sleep waits d, or less when the simulator is closed.
func (s *Simulator) sleep(d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-s.done:
	}
}

// SetCompanyTags sets the tags Codat holds for a company (the company is created if needed); they
// appear in webhooks' referenceCompany.
func (s *Simulator) SetCompanyTags(companyID string, tags map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ensureCompanyLocked(companyID).tags = maps.Clone(tags)
}

// SetFaults replaces the injected faults and restarts the quota period (with QuotaUsed spent).
func (s *Simulator) SetFaults(f Faults) error {
	if err := f.validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f.ErrorRate = cloneRates(f.ErrorRate)
	s.faults = f.withDefaults()
	s.resetQuotaLocked()
	if f.Quota > 0 {
		s.quota.used = f.QuotaUsed // this period only: the next starts unused
	}
	return nil
}

func cloneRates(m map[string]float64) map[string]float64 {
	if m == nil {
		return nil
	}
	out := make(map[string]float64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Faults returns the faults in force (counters such as RateLimitNext count down).
func (s *Simulator) Faults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.faults
	f.ErrorRate = cloneRates(f.ErrorRate)
	return f
}

// FailCompany makes every API request for the company fail with status (e.g. 402 for an account
// limit, 403, 503) after authentication, until it is called again with status 0. Unlike Faults it
// touches one company only, so parallel tests sharing a simulator do not disturb each other.
func (s *Simulator) FailCompany(companyID string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if status == 0 {
		delete(s.failing, companyID)
		return
	}
	s.failing[companyID] = status
}

// GarbleCompany makes every successful API answer for the company a 200 whose body is not what
// Codat documents (BadBodyTruncated, BadBodyEmpty or BadBodyHTML); the operations still take
// effect. An empty kind stops it. Like FailCompany, it touches one company only.
func (s *Simulator) GarbleCompany(companyID, kind string) error {
	if _, ok := badBodies[kind]; !ok && kind != "" {
		return fmt.Errorf("codatsim: bad body kind %q must be %s, %s or %s", kind, BadBodyTruncated, BadBodyEmpty, BadBodyHTML)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if kind == "" {
		delete(s.garbling, companyID)
		return nil
	}
	s.garbling[companyID] = kind
	return nil
}

// ResetQuota starts a new quota period: requests get through again.
func (s *Simulator) ResetQuota() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resetQuotaLocked()
}

// Count returns how many requests of an operation were handled (any status).
func (s *Simulator) Count(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[op]
}

// CountStatus returns how many requests of an operation got the status (0: response lost).
func (s *Simulator) CountStatus(op string, status int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.statusCounts[op][status]
}

// Counts returns the request count of every operation seen.
func (s *Simulator) Counts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.counts))
	for k, v := range s.counts {
		out[k] = v
	}
	return out
}

// Requests returns the log of handled requests, oldest first.
func (s *Simulator) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.log)
}

// MaxInFlight returns the most API requests for the company that were being handled at once.
func (s *Simulator) MaxInFlight(companyID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxInFlight[companyID]
}

// ResetCounts clears the counters, the request log and the in-flight maxima.
func (s *Simulator) ResetCounts() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resetCountsLocked()
}

// Reset returns to the state New created: the Options' companies (and those of its connections)
// with their seeded connections only, default and optional platforms, no faults, empty counters,
// generators reseeded. Keys added later stay.
func (s *Simulator) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resetLocked()
}

// newIDLocked returns a random company or connection UUID from the seeded generator.
func (s *Simulator) newIDLocked() string { return uuidFrom(s.idRNG) }

// uuidFrom draws a random UUID.
func uuidFrom(rng *rand.Rand) string {
	b := make([]byte, 16)
	for i := 0; i < 16; i += 8 {
		v := rng.Uint64()
		for j := 0; j < 8; j++ {
			b[i+j] = byte(v >> (8 * j)) //nolint:gosec // takes the low byte on purpose
		}
	}
	return formatUUID(b)
}

// createdLocked returns a creation time strictly after the previous one.
func (s *Simulator) createdLocked() string {
	t := s.now().Truncate(100 * time.Nanosecond)
	if !t.After(s.lastCreated) {
		t = s.lastCreated.Add(100 * time.Nanosecond)
	}
	s.lastCreated = t
	return t.Format(TimeFormat)
}

// connectedCompaniesLocked counts the companies with a Linked connection: Codat's "active
// connected companies", by which its daily quota grows.
func (s *Simulator) connectedCompaniesLocked() int {
	n := 0
	for _, c := range s.companies {
		for _, conn := range c.conns {
			if conn.Status == codatapi.StatusLinked {
				n++
				break
			}
		}
	}
	return n
}
