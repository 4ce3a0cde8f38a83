package codatsim_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/codat-operator/codat-operator/internal/codatapi"
	"github.com/codat-operator/codat-operator/internal/codatsim"
)

const (
	key      = "sim-test-key"
	company  = "8a210b68-6988-41ed-a1eb-0242ac120002"
	unknownC = "11111111-2222-4333-8444-555555555555"
)

var auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(key))

type fixture struct {
	t   *testing.T
	sim *codatsim.Simulator
	srv *httptest.Server
}

func newFixture(t *testing.T, o codatsim.Options) *fixture {
	t.Helper()
	if o.APIKeys == nil {
		o.APIKeys = []string{key}
	}
	if o.Companies == nil {
		o.Companies = []string{company}
	}
	sim := codatsim.New(o)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	return &fixture{t: t, sim: sim, srv: srv}
}

// do sends a request and returns the status, headers and body.
func (f *fixture) do(method, path, authorization, body string) (int, http.Header, []byte) {
	f.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.srv.URL+path, r)
	if err != nil {
		f.t.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func (f *fixture) create(platformKey string) codatsim.Connection {
	f.t.Helper()
	status, _, body := f.do("POST", "/companies/"+company+"/connections", auth, `{"platformKey":"`+platformKey+`"}`)
	if status != http.StatusOK {
		f.t.Fatalf("create: %d %s", status, body)
	}
	var c codatsim.Connection
	if err := json.Unmarshal(body, &c); err != nil {
		f.t.Fatal(err)
	}
	return c
}

type errorBody struct {
	StatusCode    int    `json:"statusCode"`
	Service       string `json:"service"`
	Error         string `json:"error"`
	CorrelationID string `json:"correlationId"`
	CanBeRetried  string `json:"canBeRetried"`
}

func TestAuthentication(t *testing.T) {
	f := newFixture(t, codatsim.Options{})
	tests := []struct {
		name   string
		header string
		want   int
	}{
		{"Basic base64(key)", auth, http.StatusOK},
		{"missing", "", http.StatusUnauthorized},
		{"wrong key", "Basic " + base64.StdEncoding.EncodeToString([]byte("nope")), http.StatusUnauthorized},
		{"key not encoded", "Basic " + key, http.StatusUnauthorized},
		{"no Basic prefix", base64.StdEncoding.EncodeToString([]byte(key)), http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, h, body := f.do("GET", "/companies/"+company+"/connections", tt.header, "")
			if status != tt.want {
				t.Fatalf("status %d, want %d: %s", status, tt.want, body)
			}
			for _, name := range []string{"X-Rate-Limit-Limit", "X-Rate-Limit-Remaining", "X-Rate-Limit-Reset"} {
				if h.Get(name) == "" {
					t.Errorf("missing header %s", name)
				}
			}
			if status != http.StatusOK {
				var e errorBody
				if err := json.Unmarshal(body, &e); err != nil || e.StatusCode != status || e.Error == "" || e.CorrelationID == "" {
					t.Fatalf("error body %s", body)
				}
			}
		})
	}
}

func TestLifecycle(t *testing.T) {
	f := newFixture(t, codatsim.Options{})
	c := f.create("mqjo")
	if c.Status != codatapi.StatusPendingAuth || c.PlatformName != "Sandbox" || c.SourceType != "Accounting" || c.IntegrationKey != "mqjo" {
		t.Fatalf("created %+v", c)
	}
	if want := f.srv.URL + "/link/companies/" + company + "/connections/" + c.ID + "/start"; c.LinkURL != want {
		t.Fatalf("linkUrl %q, want %q", c.LinkURL, want)
	}
	// integrationId and sourceId are stable per platform key.
	if d := f.create("mqjo"); d.IntegrationID != c.IntegrationID || d.SourceID != c.SourceID || d.ID == c.ID {
		t.Fatalf("second connection %+v", d)
	}
	if x := f.create("gbol"); x.IntegrationID == c.IntegrationID {
		t.Fatal("two platforms share an integrationId")
	}

	path := "/companies/" + company + "/connections/" + c.ID
	status, _, body := f.do("PATCH", path, auth, `{"status":"Unlinked"}`)
	if status != http.StatusBadRequest || !strings.Contains(string(body), "Only Linked") {
		t.Fatalf("unlink PendingAuth: %d %s", status, body)
	}

	// The business opens the link page.
	resp, err := http.Get(c.LinkURL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), "now linked") {
		t.Fatalf("link page: %d %s", resp.StatusCode, page)
	}
	got := f.get(path)
	if got.Status != codatapi.StatusLinked || got.LastSync == "" || got.ConnectionInfo["simulated"] != true {
		t.Fatalf("after link: %+v", got)
	}

	if err := f.sim.Deauthorize(company, c.ID); err != nil {
		t.Fatal(err)
	}
	got = f.get(path)
	if got.Status != codatapi.StatusDeauthorized || len(got.DataConnectionErrors) != 1 || *got.DataConnectionErrors[0].Status != "Active" {
		t.Fatalf("after deauthorize: %+v", got)
	}

	status, _, body = f.do("PUT", path+"/authorization", auth, `{"accessToken":"a","businessId":"b"}`)
	if status != http.StatusOK {
		t.Fatalf("authorization: %d %s", status, body)
	}
	got = f.get(path)
	if got.Status != codatapi.StatusLinked || *got.DataConnectionErrors[0].Status != "Resolved" || got.DataConnectionErrors[0].ResolvedOnUtc == nil {
		t.Fatalf("after authorization: %+v", got)
	}

	status, _, body = f.do("PATCH", path, auth, `{"status":"Unlinked"}`)
	if status != http.StatusOK || !strings.Contains(string(body), `"status":"Unlinked"`) {
		t.Fatalf("unlink: %d %s", status, body)
	}
	status, _, _ = f.do("DELETE", path, auth, "")
	if status != http.StatusOK {
		t.Fatalf("delete: %d", status)
	}
	for _, m := range []string{"GET", "DELETE"} {
		if status, _, _ = f.do(m, path, auth, ""); status != http.StatusNotFound {
			t.Fatalf("%s after delete: %d", m, status)
		}
	}
	if n := len(f.sim.Connections(company)); n != 2 {
		t.Fatalf("%d connections left, want 2", n)
	}
}

func (f *fixture) get(path string) codatsim.Connection {
	f.t.Helper()
	status, _, body := f.do("GET", path, auth, "")
	if status != http.StatusOK {
		f.t.Fatalf("get %s: %d %s", path, status, body)
	}
	var c codatsim.Connection
	if err := json.Unmarshal(body, &c); err != nil {
		f.t.Fatal(err)
	}
	return c
}

func TestBadRequests(t *testing.T) {
	f := newFixture(t, codatsim.Options{})
	c := f.create("gbol")
	base := "/companies/" + company + "/connections"
	tests := []struct {
		name, method, path, body string
		want                     int
	}{
		{"unknown company", "GET", "/companies/" + unknownC + "/connections", "", 404},
		{"unknown company on create", "POST", "/companies/" + unknownC + "/connections", `{"platformKey":"gbol"}`, 404},
		{"unknown connection", "GET", base + "/" + unknownC, "", 404},
		{"unknown platform key", "POST", base, `{"platformKey":"zzzz"}`, 400},
		{"create without body", "POST", base, "", 400},
		{"create with another field", "POST", base, `{"platformKey":"gbol","x":1}`, 400},
		{"unlink with another status", "PATCH", base + "/" + c.ID, `{"status":"Linked"}`, 400},
		{"authorization not a string map", "PUT", base + "/" + c.ID + "/authorization", `{"a":1}`, 400},
		{"page 0", "GET", base + "?page=0", "", 400},
		{"pageSize too large", "GET", base + "?pageSize=5001", "", 400},
		{"unsupported query", "GET", base + "?query=" + "a%7C%7Cb", "", 400},
		{"method not allowed", "PUT", base, "", 405},
		{"unknown path", "GET", "/integrations", "", 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, h, body := f.do(tt.method, tt.path, auth, tt.body)
			var e errorBody
			if status != tt.want || json.Unmarshal(body, &e) != nil || e.StatusCode != tt.want || e.Service != "PublicApi" || e.CanBeRetried != "Unknown" {
				t.Fatalf("got %d %s, want %d with an ErrorMessage", status, body, tt.want)
			}
			if h.Get("X-Rate-Limit-Remaining") == "" {
				t.Error("missing X-Rate-Limit-Remaining")
			}
		})
	}
}

func TestPagingAndQuery(t *testing.T) {
	f := newFixture(t, codatsim.Options{})
	for i := range 5 {
		f.create([]string{"gbol", "suuo"}[i%2])
	}
	type page struct {
		Results      []codatsim.Connection        `json:"results"`
		PageNumber   int                          `json:"pageNumber"`
		PageSize     int                          `json:"pageSize"`
		TotalResults int                          `json:"totalResults"`
		Links        map[string]map[string]string `json:"_links"`
	}
	base := "/companies/" + company + "/connections"
	tests := []struct {
		query        string
		wantN, total int
		wantLinks    []string
		wantNext     string
	}{
		{"", 5, 5, []string{"current", "self"}, ""},
		{"?page=1&pageSize=2", 2, 5, []string{"current", "next", "self"}, base + "?page=2&pageSize=2"},
		{"?page=2&pageSize=2", 2, 5, []string{"current", "next", "previous", "self"}, base + "?page=3&pageSize=2"},
		{"?page=3&pageSize=2", 1, 5, []string{"current", "previous", "self"}, ""},
		{"?page=9&pageSize=2", 0, 5, []string{"current", "previous", "self"}, ""},
		{"?query=integrationKey%3Dsuuo", 2, 2, []string{"current", "self"}, ""},
		{"?query=integrationKey%3Dgbol%26%26status%3DPendingAuth&pageSize=1", 1, 3, []string{"current", "next", "self"},
			base + "?page=2&pageSize=1&query=integrationKey%3Dgbol%26%26status%3DPendingAuth"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			status, _, body := f.do("GET", base+tt.query, auth, "")
			var p page
			if status != 200 || json.Unmarshal(body, &p) != nil {
				t.Fatalf("%d %s", status, body)
			}
			var links []string
			for k := range p.Links {
				links = append(links, k)
			}
			slices.Sort(links)
			if len(p.Results) != tt.wantN || p.TotalResults != tt.total || !slices.Equal(links, tt.wantLinks) {
				t.Fatalf("got %d results of %d, links %v; want %d of %d, %v", len(p.Results), p.TotalResults, links, tt.wantN, tt.total, tt.wantLinks)
			}
			if p.Links["self"]["href"] != base || p.Links["next"]["href"] != tt.wantNext {
				t.Fatalf("links %v", p.Links)
			}
			if p.Results == nil {
				t.Fatal("results must be an array, not null")
			}
		})
	}
}

func TestCreatedTimestampsAreStrictlyIncreasing(t *testing.T) {
	frozen := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	f := newFixture(t, codatsim.Options{Now: func() time.Time { return frozen }})
	var prev time.Time
	for i := range 5 {
		c := f.create("mqjo")
		if !strings.HasSuffix(c.Created, "Z") {
			t.Fatalf("created %q is not UTC", c.Created)
		}
		ts, err := time.Parse(time.RFC3339Nano, c.Created)
		if err != nil {
			t.Fatalf("created %q: %v", c.Created, err)
		}
		if i > 0 && !ts.After(prev) {
			t.Fatalf("created %v is not after %v", ts, prev)
		}
		prev = ts
	}
}

func TestInjectedRateLimits(t *testing.T) {
	base := "/companies/" + company + "/connections"
	t.Run("next N requests", func(t *testing.T) {
		f := newFixture(t, codatsim.Options{})
		if err := f.sim.SetFaults(codatsim.Faults{RateLimitNext: 2, RetryAfter: 7 * time.Second}); err != nil {
			t.Fatal(err)
		}
		if got := f.answers(3, base, "Retry-After"); got != "429/7,429/7,200/" {
			t.Fatalf("got %v", got)
		}
		if f.sim.CountStatus(codatapi.OpListConnections, 429) != 2 {
			t.Fatal("429s not counted")
		}
	})
	t.Run("quota runs out until reset", func(t *testing.T) {
		clock := newClock()
		f := newFixture(t, codatsim.Options{Now: clock.now})
		if err := f.sim.SetFaults(codatsim.Faults{Quota: 2, QuotaWindow: time.Hour}); err != nil {
			t.Fatal(err)
		}
		if got := f.answers(4, base, "X-Rate-Limit-Remaining", "Retry-After"); got != "200/1/,200/0/,429/0/3600,429/0/3600" {
			t.Fatalf("got %v", got)
		}
		clock.advance(time.Hour)
		if status, _, _ := f.do("GET", base, auth, ""); status != 200 {
			t.Fatalf("after the window: %d", status)
		}
		if err := f.sim.SetFaults(codatsim.Faults{Quota: 1}); err != nil {
			t.Fatal(err)
		}
		f.do("GET", base, auth, "")
		if status, _, _ := f.do("GET", base, auth, ""); status != 429 {
			t.Fatalf("quota of 1: second request %d", status)
		}
		f.sim.ResetQuota()
		if status, _, _ := f.do("GET", base, auth, ""); status != 200 {
			t.Fatalf("after ResetQuota: %d", status)
		}
	})
	t.Run("a quota already spent by another application", func(t *testing.T) {
		clock := newClock()
		f := newFixture(t, codatsim.Options{Now: clock.now})
		if err := f.sim.SetFaults(codatsim.Faults{Quota: 10, QuotaWindow: time.Hour, QuotaUsed: 8}); err != nil {
			t.Fatal(err)
		}
		if got := f.answers(3, base, "X-Rate-Limit-Remaining"); got != "200/1,200/0,429/0" {
			t.Fatalf("got %v", got)
		}
		clock.advance(time.Hour)
		if status, h, _ := f.do("GET", base, auth, ""); status != 200 || h.Get("X-Rate-Limit-Remaining") != "9" {
			t.Fatalf("the next window starts unspent: %d, %s left", status, h.Get("X-Rate-Limit-Remaining"))
		}
		for _, bad := range []codatsim.Faults{{QuotaUsed: 1}, {Quota: 5, QuotaUsed: 6}, {Quota: 5, QuotaUsed: -1}} {
			if err := f.sim.SetFaults(bad); err == nil {
				t.Errorf("SetFaults(%+v) accepted", bad)
			}
		}
	})
}

func TestInjectedServerErrors(t *testing.T) {
	f := newFixture(t, codatsim.Options{})
	c := f.create("mqjo")
	if err := f.sim.SetFaults(codatsim.Faults{ErrorRate: map[string]float64{codatapi.OpGetConnection: 1}, ErrorStatus: 503}); err != nil {
		t.Fatal(err)
	}
	status, h, _ := f.do("GET", "/companies/"+company+"/connections/"+c.ID, auth, "")
	if status != 503 || h.Get("Retry-After") != "1" {
		t.Fatalf("get: %d Retry-After %q", status, h.Get("Retry-After"))
	}
	if status, _, _ := f.do("GET", "/companies/"+company+"/connections", auth, ""); status != 200 {
		t.Fatalf("list is not faulted but got %d", status)
	}
	for _, bad := range []codatsim.Faults{
		{ErrorRate: map[string]float64{"get-connexion": 1}}, // not an operationId
		{RateLimitRate: 1.5},
		{ErrorStatus: 200},
	} {
		if err := f.sim.SetFaults(bad); err == nil {
			t.Errorf("SetFaults(%+v) accepted", bad)
		}
	}
}

func TestLostCreateResponseStillCreates(t *testing.T) {
	f := newFixture(t, codatsim.Options{})
	if err := f.sim.SetFaults(codatsim.Faults{LoseCreateResponseNext: 1}); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/companies/"+company+"/connections", strings.NewReader(`{"platformKey":"mqjo"}`))
	req.Header.Set("Authorization", auth)
	resp, err := f.srv.Client().Do(req)
	if err == nil {
		_ = resp.Body.Close()
		t.Fatalf("got a response %d; want the connection closed", resp.StatusCode)
	}
	conns := f.sim.Connections(company)
	if len(conns) != 1 || conns[0].Status != codatapi.StatusPendingAuth {
		t.Fatalf("connections after lost create: %+v", conns)
	}
	if f.sim.CountStatus(codatapi.OpCreateConnection, 0) != 1 || f.sim.Requests()[0].Fault != codatsim.FaultLostResponse {
		t.Fatalf("log: %+v", f.sim.Requests())
	}
	f.create("mqjo") // the fault was for one create only
}

// faultSequence runs a fixed sequence of requests and returns what each got.
func faultSequence(t *testing.T, seed int64) []int {
	t.Helper()
	f := newFixture(t, codatsim.Options{Seed: seed})
	if err := f.sim.SetFaults(codatsim.Faults{
		ErrorRate:              map[string]float64{"*": 0.3},
		RateLimitRate:          0.2,
		LoseCreateResponseRate: 0.3,
	}); err != nil {
		t.Fatal(err)
	}
	for range 40 {
		f.do("GET", "/companies/"+company+"/connections", auth, "")
		req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/companies/"+company+"/connections", strings.NewReader(`{"platformKey":"mqjo"}`))
		req.Header.Set("Authorization", auth)
		if resp, err := f.srv.Client().Do(req); err == nil {
			_ = resp.Body.Close()
		}
	}
	var statuses []int
	for _, r := range f.sim.Requests() {
		statuses = append(statuses, r.StatusCode)
	}
	return statuses
}

func TestFaultsAreDeterministicPerSeed(t *testing.T) {
	a, b, other := faultSequence(t, 42), faultSequence(t, 42), faultSequence(t, 43)
	if len(a) != 80 {
		t.Fatalf("%d requests logged, want 80", len(a))
	}
	if !slices.Equal(a, b) {
		t.Fatalf("same seed, different faults:\n%v\n%v", a, b)
	}
	if slices.Equal(a, other) {
		t.Fatalf("different seeds, same faults: %v", a)
	}
	kinds := map[int]bool{}
	for _, s := range a {
		kinds[s] = true
	}
	for _, s := range []int{0, 200, 429, 500} {
		if !kinds[s] {
			t.Errorf("sequence never produced status %d: %v", s, a)
		}
	}
}

func TestSameSeedSameIDs(t *testing.T) {
	a := newFixture(t, codatsim.Options{Seed: 5}).create("mqjo")
	b := newFixture(t, codatsim.Options{Seed: 5}).create("mqjo")
	c := newFixture(t, codatsim.Options{Seed: 6}).create("mqjo")
	if a.ID != b.ID || a.ID == c.ID {
		t.Fatalf("ids %s %s %s", a.ID, b.ID, c.ID)
	}
}

func TestGoAPIOutsideWorld(t *testing.T) {
	f := newFixture(t, codatsim.Options{})
	if err := f.sim.Link(company, unknownC); !errors.Is(err, codatsim.ErrNotFound) {
		t.Fatalf("Link unknown: %v", err)
	}
	other := "0f6e4c3a-5b2d-4e1f-9a8b-7c6d5e4f3a2b"
	if status, _, _ := f.do("GET", "/companies/"+other+"/connections", auth, ""); status != 404 {
		t.Fatal("unknown company served")
	}
	f.sim.AddCompany(other)
	if status, _, _ := f.do("GET", "/companies/"+other+"/connections", auth, ""); status != 200 {
		t.Fatal("added company not served")
	}
	if err := f.sim.AddPlatform(codatsim.Platform{Key: "abcd", Name: "Test Books", SourceType: "Accounting"}); err != nil {
		t.Fatal(err)
	}
	c := f.create("abcd")
	if c.PlatformName != "Test Books" {
		t.Fatalf("created %+v", c)
	}
	if err := f.sim.AddPlatform(codatsim.Platform{Key: "ABCD", Name: "x", SourceType: "Accounting"}); err == nil {
		t.Fatal("bad platform key accepted")
	}
	if err := f.sim.DeleteConnection(company, c.ID); err != nil {
		t.Fatal(err)
	}
	if status, _, _ := f.do("GET", "/companies/"+company+"/connections/"+c.ID, auth, ""); status != 404 {
		t.Fatal("deleted connection still served")
	}
	f.sim.AddAPIKey("second")
	if status, _, _ := f.do("GET", "/companies/"+company+"/connections", "Basic "+base64.StdEncoding.EncodeToString([]byte("second")), ""); status != 200 {
		t.Fatal("added key refused")
	}

	f.sim.Reset()
	if len(f.sim.Connections(company)) != 0 || f.sim.Connections(other) != nil || len(f.sim.Requests()) != 0 {
		t.Fatal("Reset left state behind")
	}
	if status, _, _ := f.do("POST", "/companies/"+company+"/connections", auth, `{"platformKey":"abcd"}`); status != 400 {
		t.Fatal("Reset kept an added platform")
	}
}

func TestLinkPage(t *testing.T) {
	f := newFixture(t, codatsim.Options{LinkBaseURL: "http://sim.example:8089/"})
	c := f.create("mqjo")
	if !strings.HasPrefix(c.LinkURL, "http://sim.example:8089/link/companies/") {
		t.Fatalf("linkUrl %q ignores LinkBaseURL", c.LinkURL)
	}
	path := strings.TrimPrefix(c.LinkURL, "http://sim.example:8089")
	for i, want := range []string{"now linked", "already linked"} {
		status, h, body := f.do("GET", path, "", "")
		if status != 200 || !strings.Contains(string(body), want) || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
			t.Fatalf("visit %d: %d %s", i, status, body)
		}
	}
	if status, _, _ := f.do("GET", "/link/companies/"+company+"/connections/"+unknownC+"/start", "", ""); status != 404 {
		t.Fatal("link to an unknown connection served")
	}
	if n := f.sim.Count(codatsim.OpLink); n != 3 {
		t.Fatalf("link count %d", n)
	}
}

func TestMaxInFlightIsObserved(t *testing.T) {
	f := newFixture(t, codatsim.Options{})
	if err := f.sim.SetFaults(codatsim.Faults{Latency: 30 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			f.do("GET", "/companies/"+company+"/connections", auth, "")
		}()
	}
	close(start)
	wg.Wait()
	if got := f.sim.MaxInFlight(company); got < 1 || got > 5 {
		t.Fatalf("max in flight %d", got)
	}
}

func TestFailCompany(t *testing.T) {
	other := "0f6e4c3a-5b2d-4e1f-9a8b-7c6d5e4f3a2b"
	f := newFixture(t, codatsim.Options{Companies: []string{company, other}})
	f.sim.FailCompany(company, http.StatusPaymentRequired)
	if status, _, body := f.do("GET", "/companies/"+company+"/connections", auth, ""); status != 402 || !strings.Contains(string(body), `"statusCode":402`) {
		t.Fatalf("failed company: %d %s", status, body)
	}
	if status, _, _ := f.do("GET", "/companies/"+other+"/connections", auth, ""); status != 200 {
		t.Fatalf("other company: %d", status)
	}
	if status, _, _ := f.do("GET", "/companies/"+company+"/connections", "", ""); status != 401 {
		t.Fatalf("authentication comes first: %d", status)
	}
	f.sim.FailCompany(company, 0)
	if status, _, _ := f.do("GET", "/companies/"+company+"/connections", auth, ""); status != 200 {
		t.Fatalf("after clearing: %d", status)
	}
	if status, _, _ := f.do("PUT", "/_sim/companies/"+other+"/fail", "", `{"status":503}`); status != 204 {
		t.Fatalf("admin fail: %d", status)
	}
	if status, h, _ := f.do("GET", "/companies/"+other+"/connections", auth, ""); status != 503 || h.Get("Retry-After") == "" {
		t.Fatalf("admin-failed company: %d", status)
	}
	if status, _, _ := f.do("PUT", "/_sim/companies/"+other+"/fail", "", `{"status":200}`); status != 400 {
		t.Fatalf("admin fail with 200: %d", status)
	}
}

// A bad 200 keeps the operation's effect and breaks only the body, as a proxy mangling Codat's
// answer would.
func TestBadResponses(t *testing.T) {
	f := newFixture(t, codatsim.Options{})
	for _, kind := range []string{"", codatsim.BadBodyTruncated, codatsim.BadBodyEmpty, codatsim.BadBodyHTML} {
		if err := f.sim.SetFaults(codatsim.Faults{BadResponseNext: 1, BadResponseBody: kind}); err != nil {
			t.Fatal(err)
		}
		before := len(f.sim.Connections(company))
		status, _, body := f.do("POST", "/companies/"+company+"/connections", auth, `{"platformKey":"gbol"}`)
		var c codatsim.Connection
		if status != http.StatusOK || json.Unmarshal(body, &c) == nil {
			t.Errorf("kind %q: %d %q, want a 200 whose body is not a connection", kind, status, body)
		}
		if got := len(f.sim.Connections(company)); got != before+1 {
			t.Errorf("kind %q: the garbled create made %d connections, want 1", kind, got-before)
		}
		if status, _, _ := f.do("GET", "/companies/"+company+"/connections", auth, ""); status != http.StatusOK {
			t.Errorf("the fault outlived its count")
		}
	}
	if err := f.sim.SetFaults(codatsim.Faults{BadResponseBody: "binary"}); err == nil {
		t.Error("an unknown bad body kind was accepted")
	}

	// Per company, through the admin API, until turned off.
	if status, _, body := f.do("PUT", "/_sim/companies/"+company+"/garble", "", `{"body":"empty"}`); status != http.StatusNoContent {
		t.Fatalf("garble: %d %s", status, body)
	}
	if status, _, body := f.do("GET", "/companies/"+company+"/connections", auth, ""); status != http.StatusOK || len(body) != 0 {
		t.Errorf("garbled list: %d %q, want 200 with an empty body", status, body)
	}
	if err := f.sim.GarbleCompany(company, ""); err != nil {
		t.Fatal(err)
	}
	if status, _, body := f.do("GET", "/companies/"+company+"/connections", auth, ""); status != http.StatusOK || !json.Valid(body) {
		t.Errorf("after turning it off: %d %q", status, body)
	}
	if err := f.sim.GarbleCompany(company, "gzip"); err == nil {
		t.Error("an unknown kind was accepted")
	}
}

// With QuotaPerConnectedCompany the daily quota is Codat's: 1,000 times one plus the companies
// with a Linked connection.
func TestQuotaFollowsConnectedCompanies(t *testing.T) {
	f := newFixture(t, codatsim.Options{QuotaPerConnectedCompany: 1000, Companies: []string{company, unknownC}})
	limit := func() string {
		_, h, _ := f.do(http.MethodGet, "/companies/"+company+"/connections", auth, "")
		return h.Get("X-Rate-Limit-Limit")
	}
	if got := limit(); got != "1000" {
		t.Fatalf("no company connected: limit %s, want 1000", got)
	}
	c := f.create("gbol")
	if got := limit(); got != "1000" {
		t.Fatalf("a PendingAuth connection: limit %s, want 1000", got)
	}
	if err := f.sim.Link(company, c.ID); err != nil {
		t.Fatal(err)
	}
	if got := limit(); got != "2000" {
		t.Fatalf("one company connected: limit %s, want 2000", got)
	}
}

// clock is a settable time for the simulator, safe for its handlers to read.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

// answers makes n GETs of path and sums up each answer as status/header/header..., joined by commas.
func (f *fixture) answers(n int, path string, headers ...string) string {
	var got []string
	for range n {
		status, h, _ := f.do("GET", path, auth, "")
		answer := []string{strconv.Itoa(status)}
		for _, name := range headers {
			answer = append(answer, h.Get(name))
		}
		got = append(got, strings.Join(answer, "/"))
	}
	return strings.Join(got, ",")
}
