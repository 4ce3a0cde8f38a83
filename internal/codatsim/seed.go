package codatsim

import (
	"github.com/codat-operator/codat-operator/internal/codatapi"

	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// ErrExists is returned by AddConnection for a connection id the company already has.
var ErrExists = errors.New("codatsim: already exists")

// SeedConnection is a connection that exists without having been created through the API: made
// in Codat's Portal, by Link, or by another tool, e.g. one a CodatConnection adopts by
// spec.connectionId.
type SeedConnection struct {
	// CompanyID is the company it belongs to. In Options.Connections the company is added if
	// needed; AddConnection needs a company that exists.
	CompanyID string `json:"-"`
	// ID is the connection id (any string without '/', '?' or '#'; Codat's are UUIDs).
	ID string `json:"id"`
	// PlatformKey is a known platform key, e.g. "mqjo".
	PlatformKey string `json:"platformKey"`
	// Status is PendingAuth (the default), Linked, Unlinked or Deauthorized.
	Status string `json:"status,omitempty"`
	// LinkBaseURL is the base of its linkUrl. Empty: Options.LinkBaseURL; if that is empty too,
	// the linkUrl is a path ("/link/companies/…").
	LinkBaseURL string `json:"-"`
}

// AddConnection adds an existing connection to an existing company (ErrNotFound otherwise).
// A Linked one has lastSync and connectionInfo as if the business had opened its linkUrl; an
// Unlinked one was linked once; a Deauthorized one has an active dataConnectionErrors entry.
// It gets the next creation time and draws nothing from the seeded generators.
func (s *Simulator) AddConnection(c SeedConnection) (Connection, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.companies[c.CompanyID] == nil {
		return Connection{}, ErrNotFound
	}
	conn, err := s.addConnectionLocked(c)
	if err != nil {
		return Connection{}, err
	}
	// Made outside the API (the Portal, Link): Codat reports it like any other.
	s.emitConnectionLocked(codatapi.EventConnectionCreated, c.CompanyID, conn.Connection)
	return conn.clone(), nil
}

func (s *Simulator) addConnectionLocked(c SeedConnection) (*connection, error) {
	if c.ID == "" || strings.ContainsAny(c.ID, "/?#") {
		return nil, fmt.Errorf("codatsim: invalid connection id %q", c.ID)
	}
	p, ok := s.platforms[c.PlatformKey]
	if !ok {
		return nil, fmt.Errorf("codatsim: unknown platform key %q", c.PlatformKey)
	}
	if c.Status == "" {
		c.Status = codatapi.StatusPendingAuth
	}
	switch c.Status {
	case codatapi.StatusPendingAuth, codatapi.StatusLinked, codatapi.StatusUnlinked, codatapi.StatusDeauthorized:
	default:
		return nil, fmt.Errorf("codatsim: invalid status %q (PendingAuth, Linked, Unlinked or Deauthorized)", c.Status)
	}
	co := s.companies[c.CompanyID]
	if co.conns[c.ID] != nil {
		return nil, fmt.Errorf("%w: connection %s of company %s", ErrExists, c.ID, c.CompanyID)
	}
	base := strings.TrimRight(c.LinkBaseURL, "/")
	if base == "" {
		base = s.opts.LinkBaseURL
	}
	conn := &connection{Connection: Connection{
		ID:             c.ID,
		IntegrationID:  p.IntegrationID,
		IntegrationKey: p.Key,
		SourceID:       stableUUID("source", p.Key),
		SourceType:     p.SourceType,
		PlatformName:   p.Name,
		LinkURL:        base + "/link/companies/" + url.PathEscape(c.CompanyID) + "/connections/" + url.PathEscape(c.ID) + "/start",
		Status:         codatapi.StatusPendingAuth,
		Created:        s.createdLocked(),
	}}
	switch c.Status {
	case codatapi.StatusLinked:
		s.linkLocked(conn)
	case codatapi.StatusUnlinked:
		s.linkLocked(conn)
		conn.Status = codatapi.StatusUnlinked
	case codatapi.StatusDeauthorized:
		s.deauthorizeLocked(conn)
	}
	co.conns[c.ID] = conn
	co.order = append(co.order, c.ID)
	return conn, nil
}

// seedLocked adds Options.Connections (and their companies), at New and Reset.
func (s *Simulator) seedLocked() error {
	var errs []error
	for _, c := range s.opts.Connections {
		s.ensureCompanyLocked(c.CompanyID)
		if _, err := s.addConnectionLocked(c); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ValidateConnections reports what is wrong with Options.Connections (New ignores a bad one).
func ValidateConnections(o Options) error {
	probe := New(Options{Platforms: o.Platforms, LinkBaseURL: o.LinkBaseURL})
	probe.opts.Connections = o.Connections
	probe.mu.Lock()
	defer probe.mu.Unlock()
	return probe.seedLocked()
}

// adminAddConnection serves POST /_sim/companies/{c}/connections.
func (s *Simulator) adminAddConnection(w http.ResponseWriter, r *http.Request) {
	var body SeedConnection
	if !readJSON(w, r, &body) {
		return
	}
	body.CompanyID = r.PathValue("company")
	body.LinkBaseURL = s.linkBase(r)
	conn, err := s.AddConnection(body)
	switch {
	case errors.Is(err, ErrNotFound):
		adminError(w, http.StatusNotFound, "company not found")
	case errors.Is(err, ErrExists):
		adminError(w, http.StatusConflict, err.Error())
	case err != nil:
		adminError(w, http.StatusBadRequest, err.Error())
	default:
		writeJSON(w, http.StatusCreated, conn)
	}
}
