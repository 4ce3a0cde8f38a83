package codatsim_test

import (
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/codat-operator/codat-operator/internal/codatapi"
	"github.com/codat-operator/codat-operator/internal/codatsim"
)

// createCompany creates a company through the API and returns it.
func (f *fixture) createCompany(body string) codatsim.Company {
	f.t.Helper()
	status, _, b := f.do(http.MethodPost, "/companies", auth, body)
	if status != http.StatusOK {
		f.t.Fatalf("create-company %s: %d %s", body, status, b)
	}
	return decode[codatsim.Company](f.t, b)
}

// getCompany reads a company through the API.
func (f *fixture) getCompany(id string) codatsim.Company {
	f.t.Helper()
	status, _, b := f.do(http.MethodGet, "/companies/"+id, auth, "")
	if status != http.StatusOK {
		f.t.Fatalf("get-company %s: %d %s", id, status, b)
	}
	return decode[codatsim.Company](f.t, b)
}

func TestCompanyLifecycle(t *testing.T) {
	f := newFixture(t, codatsim.Options{})
	made := f.createCompany(`{"name":"Example Company (Codat[1])","description":"Needs a loan","tags":{"region":"uk","uid":"cust-1"}}`)
	// Codat removes forbidden characters instead of refusing the name, as its docs show.
	if made.Name != "Example Company Codat1" || made.Description != "Needs a loan" ||
		!maps.Equal(made.Tags, map[string]string{"region": "uk", "uid": "cust-1"}) {
		t.Fatalf("created %+v", made)
	}
	if want := f.srv.URL + "/link/company/" + made.ID; made.Redirect != want {
		t.Errorf("redirect %q, want %q", made.Redirect, want)
	}
	if made.Created == "" || made.LastSync != "" || made.DataConnections == nil || len(made.DataConnections) != 0 {
		t.Errorf("created %q, lastSync %q, dataConnections %v", made.Created, made.LastSync, made.DataConnections)
	}
	path := "/companies/" + made.ID

	// Its connections show in the company, and its lastSync is theirs.
	status, _, b := f.do(http.MethodPost, path+"/connections", auth, `{"platformKey":"mqjo"}`)
	if status != http.StatusOK {
		t.Fatalf("create-connection: %d %s", status, b)
	}
	conn := decode[codatsim.Connection](t, b)
	if err := f.sim.Link(made.ID, conn.ID); err != nil {
		t.Fatal(err)
	}
	got := f.getCompany(made.ID)
	linked, _ := f.sim.Connection(made.ID, conn.ID)
	if len(got.DataConnections) != 1 || got.DataConnections[0].ID != conn.ID || got.LastSync != linked.LastSync || got.Created != made.Created {
		t.Fatalf("after a linked connection: %+v", got)
	}

	tests := []struct {
		name, method, body string
		want               codatsim.CompanyDetails
	}{
		{"replace sets what it is given", http.MethodPut, `{"name":"Acme","description":"d2","tags":{"tier":"gold"}}`,
			codatsim.CompanyDetails{Name: "Acme", Description: "d2", Tags: map[string]string{"tier": "gold"}}},
		{"replace empties what it is not given", http.MethodPut, `{"name":"Acme"}`,
			codatsim.CompanyDetails{Name: "Acme"}},
		{"update changes only what it is given", http.MethodPatch, `{"description":"d3","tags":{"a":"1","b":"2"}}`,
			codatsim.CompanyDetails{Name: "Acme", Description: "d3", Tags: map[string]string{"a": "1", "b": "2"}}},
		{"update with nulls keeps name and description", http.MethodPatch, `{"name":null,"description":null}`,
			codatsim.CompanyDetails{Name: "Acme", Description: "d3", Tags: map[string]string{"a": "1", "b": "2"}}},
		{"update replaces all tags, never merges", http.MethodPatch, `{"tags":{"c":"3"}}`,
			codatsim.CompanyDetails{Name: "Acme", Description: "d3", Tags: map[string]string{"c": "3"}}},
		{"update with null tags removes every tag, as Codat's docs warn", http.MethodPatch, `{"tags":null}`,
			codatsim.CompanyDetails{Name: "Acme", Description: "d3"}},
		{"update may empty the description", http.MethodPatch, `{"name":"Acme & Co.","description":""}`,
			codatsim.CompanyDetails{Name: "Acme & Co."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, b := f.do(tt.method, path, auth, tt.body)
			if status != http.StatusOK {
				t.Fatalf("%d %s", status, b)
			}
			answer := decode[codatsim.Company](t, b)
			for _, c := range []codatsim.Company{answer, f.getCompany(made.ID)} {
				if c.Name != tt.want.Name || c.Description != tt.want.Description || !maps.Equal(c.Tags, tt.want.Tags) ||
					c.ID != made.ID || c.Redirect != made.Redirect || len(c.DataConnections) != 1 {
					t.Fatalf("got %+v, want %+v", c, tt.want)
				}
			}
		})
	}

	status, h, b := f.do(http.MethodDelete, path, auth, "")
	if status != http.StatusNoContent || len(b) != 0 || h.Get("X-Rate-Limit-Remaining") == "" {
		t.Fatalf("delete-company: %d %q %v", status, b, h)
	}
	for _, req := range [][2]string{
		{http.MethodGet, path}, {http.MethodDelete, path}, {http.MethodPatch, path},
		{http.MethodGet, path + "/connections"}, {http.MethodGet, path + "/connections/" + conn.ID},
	} {
		if status, _, b := f.do(req[0], req[1], auth, `{"name":"x"}`); status != http.StatusNotFound {
			t.Errorf("%s %s after delete: %d %s", req[0], req[1], status, b)
		}
	}
	if _, err := f.sim.Connection(made.ID, conn.ID); !errors.Is(err, codatsim.ErrNotFound) {
		t.Errorf("the company's connection outlived it: %v", err)
	}
	for op, want := range map[string]int{codatapi.OpCreateCompany: 1, codatapi.OpGetCompany: len(tests) + 2, codatapi.OpReplaceCompany: 2,
		codatapi.OpUpdateCompany: 6, codatapi.OpDeleteCompany: 2} {
		if got := f.sim.Count(op); got != want {
			t.Errorf("count %s = %d, want %d", op, got, want)
		}
	}
	if n := f.sim.CountStatus(codatapi.OpDeleteCompany, http.StatusNoContent); n != 1 {
		t.Errorf("%d deletes answered 204, want 1", n)
	}
}

func TestCompanyBadRequests(t *testing.T) {
	f := newFixture(t, codatsim.Options{})
	path := "/companies/" + company
	elevenTags := `{"name":"x","tags":{"a":"1","b":"1","c":"1","d":"1","e":"1","f":"1","g":"1","h":"1","i":"1","j":"1","k":"1"}}`
	tests := []struct {
		name, method, path, body, wantText string
	}{
		{"create without a name", http.MethodPost, "/companies", `{"description":"d"}`, "name is required"},
		{"create with only forbidden characters", http.MethodPost, "/companies", `{"name":"()[]"}`, "at least one allowed character"},
		{"create with a null name", http.MethodPost, "/companies", `{"name":null}`, "name is required"},
		{"create with eleven tags", http.MethodPost, "/companies", elevenTags, "at most 10 tags"},
		{"create with a 28-character tag key", http.MethodPost, "/companies", `{"name":"x","tags":{"` + strings.Repeat("k", 28) + `":"v"}}`, "1 to 27 characters"},
		{"create with an empty tag key", http.MethodPost, "/companies", `{"name":"x","tags":{"":"v"}}`, "1 to 27 characters"},
		{"create with a 101-character tag value", http.MethodPost, "/companies", `{"name":"x","tags":{"k":"` + strings.Repeat("v", 101) + `"}}`, "at most 100 characters"},
		{"create with a tag that is not a string", http.MethodPost, "/companies", `{"name":"x","tags":{"k":1}}`, "object of string values"},
		{"create with an unknown field", http.MethodPost, "/companies", `{"name":"x","platform":"gbol"}`, `Unknown field "platform"`},
		{"create with a body that is not an object", http.MethodPost, "/companies", `["x"]`, "must be a JSON object"},
		{"create with no body", http.MethodPost, "/companies", "", "must be a JSON object"},
		{"replace without a name", http.MethodPut, path, `{"description":"d"}`, "name is required"},
		{"update to an empty name", http.MethodPatch, path, `{"name":""}`, "at least one allowed character"},
		{"update with a description that is not a string", http.MethodPatch, path, `{"description":5}`, "description must be a string"},
		{"list with an unknown query field", http.MethodGet, "/companies?query=" + url.QueryEscape("platform=gbol"), "", "Error parsing query"},
		{"list with ||", http.MethodGet, "/companies?tags=" + url.QueryEscape("a=1||b=2"), "", "Error parsing tags"},
		{"list page 0", http.MethodGet, "/companies?page=0", "", "page must be"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(f.sim.Companies())
			status, _, b := f.do(tt.method, tt.path, auth, tt.body)
			e := decode[errorBody](t, b)
			if status != http.StatusBadRequest || e.StatusCode != http.StatusBadRequest || !strings.Contains(e.Error, tt.wantText) {
				t.Fatalf("%d %s, want 400 saying %q", status, b, tt.wantText)
			}
			if got := len(f.sim.Companies()); got != before {
				t.Fatalf("a refused request changed the companies: %d, then %d", before, got)
			}
		})
	}
	if c := f.getCompany(company); c.Name != "Company 8a210b68" || c.Description != "" {
		t.Errorf("refused changes touched the company: %+v", c)
	}
	for _, method := range []string{http.MethodPatch, http.MethodDelete} {
		if status, _, _ := f.do(method, "/companies", auth, ""); status != http.StatusMethodNotAllowed {
			t.Errorf("%s /companies: %d, want 405", method, status)
		}
	}
	if status, _, _ := f.do(http.MethodPost, path, auth, `{"name":"x"}`); status != http.StatusMethodNotAllowed {
		t.Errorf("POST /companies/{id}: %d, want 405", status)
	}
}

func TestListCompanies(t *testing.T) {
	f := newFixture(t, codatsim.Options{Companies: []string{}})
	var ids []string
	for i, body := range []string{
		`{"name":"Acme","tags":{"region":"uk","codat-operator-uid":"0c3e0b9c-0000-4000-8000-000000000001"}}`,
		`{"name":"Beta","tags":{"region":"us"}}`,
		`{"name":"Acme Two","description":"second","tags":{"region":"uk","team":"lending"}}`,
		`{"name":"Delta"}`,
	} {
		ids = append(ids, f.createCompany(body).ID)
		if i == 0 {
			f.sim.AddCompany(company) // seeded between API creates: listed in creation order
			ids = append(ids, company)
		}
	}
	type page struct {
		Results      []codatsim.Company           `json:"results"`
		PageNumber   int                          `json:"pageNumber"`
		PageSize     int                          `json:"pageSize"`
		TotalResults int                          `json:"totalResults"`
		Links        map[string]map[string]string `json:"_links"`
	}
	q := url.QueryEscape
	tests := []struct {
		query    string
		want     []int // indexes into ids, in order
		total    int
		wantNext string
	}{
		{"", []int{0, 1, 2, 3, 4}, 5, ""},
		{"?page=1&pageSize=2", []int{0, 1}, 5, "/companies?page=2&pageSize=2"},
		{"?page=3&pageSize=2", []int{4}, 5, ""},
		{"?page=4&pageSize=2", []int{}, 5, ""},
		{"?query=" + q("id="+ids[2]), []int{2}, 1, ""},
		{"?query=" + q("tags.region=uk"), []int{0, 3}, 2, ""},
		{"?query=" + q("tags.region = UK && name ~ two"), []int{3}, 1, ""},
		{"?query=" + q("tags.region!=uk"), []int{1, 2, 4}, 3, ""},
		{"?query=" + q("tags.codat-operator-uid=0c3e0b9c-0000-4000-8000-000000000001"), []int{0}, 1, ""},
		{"?tags=" + q("codat-operator-uid=0c3e0b9c-0000-4000-8000-000000000001"), []int{0}, 1, ""},
		{"?tags=" + q("region = uk && team = lending"), []int{3}, 1, ""},
		{"?tags=" + q("region=uk") + "&query=" + q("description=second"), []int{3}, 1, ""},
		{"?tags=" + q("region~u") + "&pageSize=1&orderBy=-created", []int{0}, 3, "/companies?orderBy=-created&page=2&pageSize=1&tags=region~u"},
		{"?query=" + q("name=nobody"), []int{}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			status, _, b := f.do(http.MethodGet, "/companies"+tt.query, auth, "")
			if status != http.StatusOK {
				t.Fatalf("%d %s", status, b)
			}
			p := decode[page](t, b)
			var got []int
			for _, c := range p.Results {
				got = append(got, slices.Index(ids, c.ID))
			}
			if p.Results == nil || !slices.Equal(got, tt.want) || p.TotalResults != tt.total {
				t.Fatalf("results %v of %d, want %v of %d", got, p.TotalResults, tt.want, tt.total)
			}
			if p.Links["self"]["href"] != "/companies" || p.Links["next"]["href"] != tt.wantNext || p.Links["current"]["href"] == "" {
				t.Fatalf("links %v", p.Links)
			}
		})
	}
	if n := f.sim.MaxInFlight(""); n != 0 {
		t.Errorf("requests that name no company were counted in flight for company \"\": %d", n)
	}
}

// The company's Link URL (its redirect) is where the business connects every platform at once:
// opening it authorizes each of the company's connections that is not Linked.
func TestCompanyLinkPage(t *testing.T) {
	f := newFixture(t, codatsim.Options{LinkBaseURL: "http://sim.example:8089/"})
	made := f.createCompany(`{"name":"Acme"}`)
	if made.Redirect != "http://sim.example:8089/link/company/"+made.ID {
		t.Fatalf("redirect %q ignores LinkBaseURL", made.Redirect)
	}
	if seeded := f.getCompany(company); seeded.Redirect != "http://sim.example:8089/link/company/"+company {
		t.Fatalf("seeded company's redirect %q", seeded.Redirect)
	}
	path := strings.TrimPrefix(made.Redirect, "http://sim.example:8089")
	var conns []string
	for _, key := range []string{"mqjo", "suuo"} {
		status, _, b := f.do(http.MethodPost, "/companies/"+made.ID+"/connections", auth, `{"platformKey":"`+key+`"}`)
		if status != http.StatusOK {
			t.Fatalf("create-connection: %d %s", status, b)
		}
		conns = append(conns, decode[codatsim.Connection](t, b).ID)
	}
	if err := f.sim.Link(made.ID, conns[1]); err != nil {
		t.Fatal(err)
	}
	if err := f.sim.Deauthorize(made.ID, conns[1]); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"Acme linked Sandbox, Plaid", "no connection waiting"} {
		status, h, body := f.do(http.MethodGet, path, "", "")
		if status != http.StatusOK || !strings.Contains(string(body), want) || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
			t.Fatalf("visit %d: %d %s", i, status, body)
		}
	}
	for _, id := range conns {
		if c, _ := f.sim.Connection(made.ID, id); c.Status != codatapi.StatusLinked {
			t.Errorf("connection %s is %s after the business went through Link", id, c.Status)
		}
	}
	if status, _, _ := f.do(http.MethodGet, "/link/company/"+unknownC, "", ""); status != http.StatusNotFound {
		t.Errorf("an unknown company's link page: %d", status)
	}
	if n := f.sim.Count(codatsim.OpLink); n != 3 {
		t.Errorf("link count %d, want 3", n)
	}
}

func TestLostCreateCompanyResponseStillCreates(t *testing.T) {
	f := newFixture(t, codatsim.Options{Companies: []string{}})
	if err := f.sim.SetFaults(codatsim.Faults{LoseCreateCompanyResponseNext: 1}); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/companies", strings.NewReader(`{"name":"Acme","tags":{"codat-operator-uid":"u1"}}`))
	req.Header.Set("Authorization", auth)
	resp, err := f.srv.Client().Do(req)
	if err == nil {
		_ = resp.Body.Close()
		t.Fatalf("got a response %d; want the connection closed", resp.StatusCode)
	}
	ids := f.sim.Companies()
	if len(ids) != 1 {
		t.Fatalf("companies after a lost create: %v", ids)
	}
	if c, _ := f.sim.Company(ids[0]); c.Tags["codat-operator-uid"] != "u1" {
		t.Fatalf("the company made: %+v", c)
	}
	if f.sim.CountStatus(codatapi.OpCreateCompany, 0) != 1 || f.sim.Requests()[0].Fault != codatsim.FaultLostResponse {
		t.Fatalf("log: %+v", f.sim.Requests())
	}
	// A create-connection fault does not touch create-company, and the other way round.
	if err := f.sim.SetFaults(codatsim.Faults{LoseCreateResponseNext: 1}); err != nil {
		t.Fatal(err)
	}
	made := f.createCompany(`{"name":"Beta"}`)
	req, _ = http.NewRequest(http.MethodPost, f.srv.URL+"/companies/"+made.ID+"/connections", strings.NewReader(`{"platformKey":"mqjo"}`))
	req.Header.Set("Authorization", auth)
	if resp, err := f.srv.Client().Do(req); err == nil {
		_ = resp.Body.Close()
	}
	if f.sim.CountStatus(codatapi.OpCreateConnection, 0) != 1 || f.sim.CountStatus(codatapi.OpCreateCompany, http.StatusOK) != 1 {
		t.Fatalf("the create-connection fault was spent elsewhere: %+v", f.sim.Counts())
	}
}

// Faults reach the company operations as they reach the connection operations: per-operation
// error rates, and failures of one company.
func TestCompanyFaults(t *testing.T) {
	f := newFixture(t, codatsim.Options{})
	if err := f.sim.SetFaults(codatsim.Faults{ErrorRate: map[string]float64{codatapi.OpGetCompany: 1}, ErrorStatus: http.StatusServiceUnavailable}); err != nil {
		t.Fatal(err)
	}
	if status, h, _ := f.do(http.MethodGet, "/companies/"+company, auth, ""); status != http.StatusServiceUnavailable || h.Get("Retry-After") == "" {
		t.Errorf("get-company with its error rate at 1: %d", status)
	}
	if status, _, _ := f.do(http.MethodGet, "/companies", auth, ""); status != http.StatusOK {
		t.Errorf("list-companies is not faulted but got %d", status)
	}
	if err := f.sim.SetFaults(codatsim.Faults{}); err != nil {
		t.Fatal(err)
	}
	f.sim.FailCompany(company, http.StatusPaymentRequired)
	for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if status, _, _ := f.do(m, "/companies/"+company, auth, `{"name":"x"}`); status != http.StatusPaymentRequired {
			t.Errorf("%s on a failing company: %d, want 402", m, status)
		}
	}
	if status, _, _ := f.do(http.MethodPost, "/companies", auth, `{"name":"x"}`); status != http.StatusOK {
		t.Errorf("create-company, which names no company, failed: %d", status)
	}
	if _, err := f.sim.Company(company); err != nil {
		t.Errorf("the failing company was deleted all the same: %v", err)
	}
	for _, bad := range []codatsim.Faults{{LoseCreateCompanyResponseRate: 2}, {LoseCreateCompanyResponseNext: -1}} {
		if err := f.sim.SetFaults(bad); err == nil {
			t.Errorf("SetFaults(%+v) accepted", bad)
		}
	}
	var faults codatsim.Faults
	if err := json.Unmarshal([]byte(`{"loseCreateCompanyResponseNext":2,"loseCreateCompanyResponseRate":0.5}`), &faults); err != nil ||
		faults.LoseCreateCompanyResponseNext != 2 || faults.LoseCreateCompanyResponseRate != 0.5 {
		t.Fatalf("faults from JSON: %+v, %v", faults, err)
	}
	if b, _ := json.Marshal(faults); !strings.Contains(string(b), `"loseCreateCompanyResponseNext":2`) {
		t.Errorf("faults to JSON: %s", b)
	}
}

// Companies that exist without a create call (--company, Options.Companies, AddCompany, the admin
// API) serve as before, and Reset brings back only them.
func TestSeededCompaniesStillWork(t *testing.T) {
	f := newFixture(t, codatsim.Options{Connections: []codatsim.SeedConnection{
		{CompanyID: unknownC, ID: "3f0c2a7e-9b1d-4c55-8e21-6a7d0b9c1e42", PlatformKey: "mqjo", Status: codatapi.StatusLinked}}})
	seeded := f.getCompany(company)
	if seeded.Name != "Company 8a210b68" || seeded.Created == "" || seeded.Tags != nil || seeded.Redirect != f.srv.URL+"/link/company/"+company {
		t.Fatalf("seeded company %+v", seeded)
	}
	withConn := f.getCompany(unknownC)
	if len(withConn.DataConnections) != 1 || withConn.LastSync == "" {
		t.Fatalf("the company of a seeded connection: %+v", withConn)
	}
	f.sim.SetCompanyTags(company, map[string]string{"tenant": "acme"})
	if got := f.getCompany(company); got.Tags["tenant"] != "acme" {
		t.Fatalf("tags set outside the API: %v", got.Tags)
	}
	made := f.createCompany(`{"name":"Made"}`)
	if got := f.sim.Companies(); len(got) != 3 || !slices.Contains(got, made.ID) {
		t.Fatalf("companies %v", got)
	}
	f.sim.Reset()
	if got := f.sim.Companies(); len(got) != 2 || slices.Contains(got, made.ID) {
		t.Fatalf("after Reset: %v", got)
	}
	if got := f.getCompany(company); got.Tags != nil {
		t.Errorf("Reset kept the tags: %v", got.Tags)
	}
	if got := f.getCompany(unknownC); len(got.DataConnections) != 1 {
		t.Errorf("Reset lost the seeded connection: %+v", got)
	}
}

func TestCompanyAdminAPI(t *testing.T) {
	f := newFixture(t, codatsim.Options{Companies: []string{}})
	other := "0f6e4c3a-5b2d-4e1f-9a8b-7c6d5e4f3a2b"
	expect := func(method, path, body string, want int) []byte {
		t.Helper()
		status, _, b := f.do(method, path, "", body)
		if status != want {
			t.Fatalf("%s %s: %d %s, want %d", method, path, status, b, want)
		}
		return b
	}
	got := decode[codatsim.Company](t, expect(http.MethodPost, "/_sim/companies",
		`{"id":"`+company+`","name":"Acme (Portal)","description":"seeded","tags":{"tenant":"acme"}}`, http.StatusCreated))
	if got.ID != company || got.Name != "Acme Portal" || got.Description != "seeded" || got.Tags["tenant"] != "acme" {
		t.Fatalf("seeded %+v", got)
	}
	expect(http.MethodPost, "/_sim/companies", `{"id":"`+other+`"}`, http.StatusCreated)
	expect(http.MethodPost, "/_sim/companies", `{"id":"`+other+`","tags":{"`+strings.Repeat("k", 28)+`":"v"}}`, http.StatusBadRequest)
	if got := decode[codatsim.Company](t, expect(http.MethodGet, "/_sim/companies/"+other, "", http.StatusOK)); got.Name != "Company 0f6e4c3a" {
		t.Fatalf("admin get %+v", got)
	}

	// A change in the Portal: only what is given changes, and it counts as no API request.
	got = decode[codatsim.Company](t, expect(http.MethodPatch, "/_sim/companies/"+company, `{"name":"Renamed"}`, http.StatusOK))
	if got.Name != "Renamed" || got.Description != "seeded" || got.Tags["tenant"] != "acme" {
		t.Fatalf("after a rename in the Portal: %+v", got)
	}
	got = decode[codatsim.Company](t, expect(http.MethodPatch, "/_sim/companies/"+company, `{"tags":{}}`, http.StatusOK))
	if got.Tags != nil || got.Name != "Renamed" {
		t.Fatalf("after removing the tags in the Portal: %+v", got)
	}
	expect(http.MethodPatch, "/_sim/companies/"+company, `{"name":"[]"}`, http.StatusBadRequest)
	expect(http.MethodPatch, "/_sim/companies/"+unknownC, `{"name":"x"}`, http.StatusNotFound)
	expect(http.MethodGet, "/_sim/companies/"+unknownC, "", http.StatusNotFound)

	f.create("mqjo")
	expect(http.MethodDelete, "/_sim/companies/"+company, "", http.StatusNoContent)
	expect(http.MethodDelete, "/_sim/companies/"+company, "", http.StatusNotFound)
	if ids := decode[map[string][]string](t, expect(http.MethodGet, "/_sim/companies", "", http.StatusOK)); !slices.Equal(ids["companies"], []string{other}) {
		t.Fatalf("companies after the delete: %v", ids)
	}
	expect(http.MethodGet, "/_sim/companies/"+company+"/connections", "", http.StatusNotFound)

	counts := decode[codatsim.Counters](t, expect(http.MethodGet, "/_sim/counts", "", http.StatusOK))
	if counts.Operations[codatapi.OpCreateConnection] != 1 || len(counts.Operations) != 1 {
		t.Errorf("admin calls were counted as API requests: %v", counts.Operations)
	}
}
