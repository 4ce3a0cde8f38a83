package codatsim_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/codat-operator/codat-operator/internal/codatapi"
	"github.com/codat-operator/codat-operator/internal/codatsim"
)

func TestSeededConnections(t *testing.T) {
	const (
		adopted  = "3f0c2a7e-9b1d-4c55-8e21-6a7d0b9c1e42"
		other    = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
		otherCon = "5d1e2f3a-4b5c-4d6e-8f7a-9b0c1d2e3f4a"
	)
	f := newFixture(t, codatsim.Options{
		LinkBaseURL: "http://sim.example",
		Connections: []codatsim.SeedConnection{
			{CompanyID: company, ID: adopted, PlatformKey: "mqjo", Status: codatapi.StatusLinked},
			{CompanyID: other, ID: otherCon, PlatformKey: "gbol"}, // company added; PendingAuth
		},
	})

	// Served by the Codat API like any other connection.
	status, _, body := f.do("GET", "/companies/"+company+"/connections/"+adopted, auth, "")
	got := decode[codatsim.Connection](t, body)
	if status != 200 || got.Status != codatapi.StatusLinked || got.IntegrationKey != "mqjo" || got.PlatformName != "Sandbox" ||
		got.LastSync == "" || got.ConnectionInfo["simulated"] != true || got.Created == "" ||
		got.LinkURL != "http://sim.example/link/companies/"+company+"/connections/"+adopted+"/start" {
		t.Fatalf("seeded Linked connection: %d %+v", status, got)
	}
	if conns := f.sim.Connections(other); len(conns) != 1 || conns[0].ID != otherCon || conns[0].Status != codatapi.StatusPendingAuth {
		t.Fatalf("seeded PendingAuth connection: %+v", conns)
	}
	// Seeding draws no ids: the first created connection has the id it has without seeds.
	plain := newFixture(t, codatsim.Options{})
	if c, p := f.create("gbol"), plain.create("gbol"); c.ID != p.ID || c.Created <= got.Created {
		t.Fatalf("created after seeding: %+v, without seeding: %+v", c, p)
	}

	// Unlinked and Deauthorized through the Go API.
	u, err := f.sim.AddConnection(codatsim.SeedConnection{CompanyID: company, ID: "u1", PlatformKey: "qhyg", Status: codatapi.StatusUnlinked})
	if err != nil || u.Status != codatapi.StatusUnlinked || u.LastSync == "" {
		t.Fatalf("Unlinked: %+v %v", u, err)
	}
	d, err := f.sim.AddConnection(codatsim.SeedConnection{CompanyID: company, ID: "d1", PlatformKey: "qhyg", Status: codatapi.StatusDeauthorized})
	if err != nil || d.Status != codatapi.StatusDeauthorized || len(d.DataConnectionErrors) != 1 {
		t.Fatalf("Deauthorized: %+v %v", d, err)
	}
	for _, tt := range []struct {
		seed codatsim.SeedConnection
		want error
	}{
		{codatsim.SeedConnection{CompanyID: unknownC, ID: "x", PlatformKey: "mqjo"}, codatsim.ErrNotFound},
		{codatsim.SeedConnection{CompanyID: company, ID: adopted, PlatformKey: "mqjo"}, codatsim.ErrExists},
		{codatsim.SeedConnection{CompanyID: company, ID: "x", PlatformKey: "zzzz"}, nil},
		{codatsim.SeedConnection{CompanyID: company, ID: "x", PlatformKey: "mqjo", Status: "Linkd"}, nil},
		{codatsim.SeedConnection{CompanyID: company, ID: "a/b", PlatformKey: "mqjo"}, nil},
	} {
		_, err := f.sim.AddConnection(tt.seed)
		if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
			t.Errorf("AddConnection(%+v) = %v, want %v", tt.seed, err, tt.want)
		}
	}

	// Reset brings the seeded connections back, and only them.
	f.sim.Reset()
	if conns := f.sim.Connections(company); len(conns) != 1 || conns[0].ID != adopted || conns[0].Status != codatapi.StatusLinked {
		t.Fatalf("after Reset: %+v", conns)
	}

	if err := codatsim.ValidateConnections(codatsim.Options{Connections: []codatsim.SeedConnection{{CompanyID: company, ID: "x", PlatformKey: "nope"}}}); err == nil ||
		!strings.Contains(err.Error(), "nope") {
		t.Fatalf("ValidateConnections: %v", err)
	}
}

func TestAdminAddConnection(t *testing.T) {
	f := newFixture(t, codatsim.Options{})
	path := "/_sim/companies/" + company + "/connections"
	expect := func(body string, want int) []byte {
		t.Helper()
		status, _, b := f.do("POST", path, "", body)
		if status != want {
			t.Fatalf("POST %s %s: %d %s, want %d", path, body, status, b, want)
		}
		return b
	}
	c := decode[codatsim.Connection](t, expect(`{"id":"3f0c2a7e-9b1d-4c55-8e21-6a7d0b9c1e42","platformKey":"mqjo","status":"Linked"}`, http.StatusCreated))
	if c.Status != codatapi.StatusLinked || c.ID != "3f0c2a7e-9b1d-4c55-8e21-6a7d0b9c1e42" ||
		c.LinkURL != f.srv.URL+"/link/companies/"+company+"/connections/"+c.ID+"/start" {
		t.Fatalf("added: %+v", c)
	}
	p := decode[codatsim.Connection](t, expect(`{"id":"second","platformKey":"gbol"}`, http.StatusCreated))
	if p.Status != codatapi.StatusPendingAuth {
		t.Fatalf("default status: %+v", p)
	}
	// The business can open its linkUrl.
	if status, _, b := f.do("GET", strings.TrimPrefix(p.LinkURL, f.srv.URL), "", ""); status != 200 {
		t.Fatalf("link page: %d %s", status, b)
	}
	expect(`{"id":"second","platformKey":"gbol"}`, http.StatusConflict)
	expect(`{"id":"x","platformKey":"zzzz"}`, http.StatusBadRequest)
	expect(`{"id":"x","platformKey":"mqjo","status":"Gone"}`, http.StatusBadRequest)
	expect(`{"id":"x","platformKey":"mqjo","extra":1}`, http.StatusBadRequest)
	expect(`{"platformKey":"mqjo"}`, http.StatusBadRequest)
	if status, _, _ := f.do("POST", "/_sim/companies/"+unknownC+"/connections", "", `{"id":"x","platformKey":"mqjo"}`); status != http.StatusNotFound {
		t.Fatalf("unknown company: %d", status)
	}
	if conns := f.sim.Connections(company); len(conns) != 2 || conns[1].Status != codatapi.StatusLinked {
		t.Fatalf("connections: %+v", conns)
	}
}
