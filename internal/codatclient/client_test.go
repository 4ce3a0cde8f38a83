package codatclient_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/codat-operator/codat-operator/internal/codatapi"
	"github.com/codat-operator/codat-operator/internal/codatclient"
	"github.com/codat-operator/codat-operator/internal/codatsim"
)

const (
	testKey  = codatclient.APIKey("sk-test-0123456789abcdef")
	otherKey = codatclient.APIKey("sk-other-fedcba9876543210")
	companyA = "8a210b68-6988-41ed-a1eb-0242ac120002"
	companyB = "0f6e4c3a-5b2d-4e1f-9a8b-7c6d5e4f3a2b"
	unknownC = "11111111-2222-4333-8444-555555555555"
)

// fastOptions keep the client's own limiter out of the way of tests that are not about it: a burst
// of 890 requests at once, within the per-IP ceiling.
func fastOptions(base string) codatclient.Options {
	return codatclient.Options{BaseURL: base, RequestsPerSecond: 1, Burst: 890, Timeout: 5 * time.Second}
}

// startSim runs a simulator over real HTTP with companyA and companyB.
func startSim(t *testing.T) (*codatsim.Simulator, *httptest.Server) {
	t.Helper()
	sim := codatsim.New(codatsim.Options{APIKeys: []string{string(testKey), string(otherKey)}, Companies: []string{companyA, companyB}, Seed: 1})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	return sim, srv
}

func newClient(t *testing.T, o codatclient.Options) *codatclient.Client {
	t.Helper()
	c, err := codatclient.New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func TestAllOperationsAgainstSimulator(t *testing.T) {
	sim, srv := startSim(t)
	c := newClient(t, fastOptions(srv.URL))
	ctx := context.Background()

	created, err := c.CreateConnection(ctx, testKey, companyA, "mqjo")
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if created.Status != codatapi.StatusPendingAuth || created.IntegrationKey != "mqjo" || created.SourceType != "Accounting" || created.Created == "" {
		t.Fatalf("created connection = %+v", created)
	}
	wantLink := srv.URL + "/link/companies/" + companyA + "/connections/" + created.ID + "/start"
	if created.LinkURL != wantLink {
		t.Fatalf("linkUrl = %q, want %q", created.LinkURL, wantLink)
	}

	got, err := c.GetConnection(ctx, testKey, companyA, created.ID)
	if err != nil || got.ID != created.ID || got.Status != codatapi.StatusPendingAuth {
		t.Fatalf("get = %+v, %v", got, err)
	}

	// The business opens the link.
	resp, err := http.Get(created.LinkURL)
	if err != nil {
		t.Fatalf("open link: %v", err)
	}
	_ = resp.Body.Close()
	if got, _ = c.GetConnection(ctx, testKey, companyA, created.ID); got.Status != codatapi.StatusLinked {
		t.Fatalf("after link: status %q", got.Status)
	}
	var info map[string]any
	if err := json.Unmarshal(got.ConnectionInfo, &info); err != nil || info["simulated"] != true {
		t.Fatalf("connectionInfo = %s (%v)", got.ConnectionInfo, err)
	}

	list, err := c.ListConnections(ctx, testKey, companyA)
	if err != nil || len(list) != 1 || list[0].ID != created.ID {
		t.Fatalf("list = %+v, %v", list, err)
	}

	unlinked, err := c.UnlinkConnection(ctx, testKey, companyA, created.ID)
	if err != nil || unlinked.Status != codatapi.StatusUnlinked {
		t.Fatalf("unlink = %+v, %v", unlinked, err)
	}

	relinked, err := c.UpdateAuthorization(ctx, testKey, companyA, created.ID, map[string]string{"accessToken": "tok"})
	if err != nil || relinked.Status != codatapi.StatusLinked {
		t.Fatalf("update authorization = %+v, %v", relinked, err)
	}
	if auth, _ := sim.Authorization(companyA, created.ID); auth["accessToken"] != "tok" {
		t.Fatalf("simulator saw authorization %v", auth)
	}

	if err := c.DeleteConnection(ctx, testKey, companyA, created.ID); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := c.GetConnection(ctx, testKey, companyA, created.ID); !codatclient.IsNotFound(err) {
		t.Fatalf("get after delete: %v, want not found", err)
	}
	if err := c.DeleteConnection(ctx, testKey, companyA, created.ID); !codatclient.IsNotFound(err) {
		t.Fatalf("second delete: %v, want not found", err)
	}

	for op, want := range map[string]int{
		codatapi.OpCreateConnection: 1, codatapi.OpGetConnection: 3, codatapi.OpListConnections: 1,
		codatapi.OpUnlinkConnection: 1, codatapi.OpUpdateConnectionAuthorization: 1, codatapi.OpDeleteConnection: 2,
	} {
		if got := sim.Count(op); got != want {
			t.Errorf("simulator count %s = %d, want %d", op, got, want)
		}
	}
}

func TestListFollowsAllPages(t *testing.T) {
	sim, srv := startSim(t)
	c := newClient(t, fastOptions(srv.URL))
	ctx := context.Background()
	for i := range 250 {
		if _, err := c.CreateConnection(ctx, testKey, companyA, "suuo"); err != nil {
			t.Fatalf("create %d: %v", i, err)
		}
	}
	sim.ResetCounts()

	list, err := c.ListConnections(ctx, testKey, companyA)
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	seen := map[string]int{}
	for _, conn := range list {
		seen[conn.ID]++
	}
	if len(list) != 250 || len(seen) != 250 {
		t.Fatalf("listed %d connections (%d distinct), want 250", len(list), len(seen))
	}
	for _, want := range sim.Connections(companyA) {
		if seen[want.ID] != 1 {
			t.Fatalf("connection %s listed %d times", want.ID, seen[want.ID])
		}
	}
	if n := sim.Count(codatapi.OpListConnections); n != 3 {
		t.Fatalf("list requests = %d, want 3", n)
	}
}

func TestListPageSizeOption(t *testing.T) {
	sim, srv := startSim(t)
	o := fastOptions(srv.URL)
	o.PageSize = 2
	c := newClient(t, o)
	for range 5 {
		if _, err := c.CreateConnection(context.Background(), testKey, companyB, "gbol"); err != nil {
			t.Fatal(err)
		}
	}
	list, err := c.ListConnections(context.Background(), testKey, companyB)
	if err != nil || len(list) != 5 {
		t.Fatalf("list = %d, %v", len(list), err)
	}
	if n := sim.Count(codatapi.OpListConnections); n != 3 {
		t.Fatalf("list requests = %d, want 3", n)
	}
	if _, err := codatclient.New(codatclient.Options{PageSize: 5001}); err == nil {
		t.Fatal("page size above 5000 accepted")
	}
}

// A server that sends no next link but a total still gets paged by number.
func TestListFallsBackToPageNumbers(t *testing.T) {
	var pages []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pages = append(pages, r.URL.Query().Get("page"))
		page := r.URL.Query().Get("page")
		id := map[string]string{"1": "a", "2": "b", "3": "c"}[page]
		results := `[]`
		if id != "" {
			results = `[{"id":"` + id + `","status":"Linked"}]`
		}
		fmt.Fprintf(w, `{"results":%s,"pageNumber":%s,"pageSize":1,"totalResults":3,"_links":{"self":{"href":"/x"},"current":{"href":"/x"}}}`, results, page)
	}))
	defer srv.Close()
	o := fastOptions(srv.URL)
	o.PageSize = 1
	list, err := newClient(t, o).ListConnections(context.Background(), testKey, companyA)
	if err != nil || len(list) != 3 || list[2].ID != "c" {
		t.Fatalf("list = %+v, %v", list, err)
	}
	if strings.Join(pages, ",") != "1,2,3" {
		t.Fatalf("pages requested: %v", pages)
	}
}

func TestListRefusesNextLinkToAnotherHost(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"results":[],"pageNumber":1,"pageSize":100,"totalResults":0,"_links":{"self":{"href":"/x"},"current":{"href":"/x"},"next":{"href":"https://evil.example/companies"}}}`)
	}))
	defer srv.Close()
	_, err := newClient(t, fastOptions(srv.URL)).ListConnections(context.Background(), testKey, companyA)
	if err == nil || !strings.Contains(err.Error(), "another host") {
		t.Fatalf("err = %v", err)
	}
}

// The pager keeps an item seen on two pages once, and stops with a bad response on an item
// without an id or on a next link that leads back to a page already read.
func TestListDedupesAndStopsOnBadPages(t *testing.T) {
	pageBody := func(number, results, next string) string {
		links := `"self":{"href":"/x"}`
		if next != "" {
			links += `,"next":{"href":"` + next + `"}`
		}
		return `{"results":` + results + `,"pageNumber":` + number + `,"pageSize":2,"totalResults":3,"_links":{` + links + `}}`
	}
	tests := []struct {
		name    string
		pages   map[string]string // by the page parameter
		wantIDs string
		wantErr string
	}{
		{name: "an item on two pages is kept once", pages: map[string]string{
			"1": pageBody("1", `[{"id":"a"},{"id":"b"}]`, "/companies/x/connections?page=2&pageSize=2"),
			"2": pageBody("2", `[{"id":"b"},{"id":"c"}]`, ""),
		}, wantIDs: "a,b,c"},
		{name: "an item without an id", pages: map[string]string{
			"1": pageBody("1", `[{"id":"a"},{"status":"Linked"}]`, ""),
		}, wantErr: "result 2 of page 1 has no id"},
		{name: "a next link back to a page read", pages: map[string]string{
			"1": pageBody("1", `[{"id":"a"}]`, "/companies/x/connections?page=2&pageSize=2"),
			"2": pageBody("2", `[{"id":"b"}]`, "/companies/x/connections?page=1&pageSize=2"),
		}, wantErr: "lead back to a page already read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.WriteString(w, tt.pages[r.URL.Query().Get("page")])
			}))
			defer srv.Close()
			o := fastOptions(srv.URL)
			o.PageSize = 2
			list, err := newClient(t, o).ListConnections(context.Background(), testKey, companyA)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			ids := make([]string, 0, len(list))
			for _, conn := range list {
				ids = append(ids, conn.ID)
			}
			if err != nil || strings.Join(ids, ",") != tt.wantIDs {
				t.Fatalf("list = %v, %v; want %s", ids, err, tt.wantIDs)
			}
		})
	}
}

func TestRequestHeaders(t *testing.T) {
	tests := []struct {
		name     string
		key      codatclient.APIKey
		wantAuth string
	}{
		{"bare key is Base64-encoded", "abc123", "Basic " + base64.StdEncoding.EncodeToString([]byte("abc123"))},
		{"trailing newline from a Secret is trimmed", "abc123\n", "Basic " + base64.StdEncoding.EncodeToString([]byte("abc123"))},
		{"ready-made header value is sent unchanged", "Basic YWJjMTIz", "Basic YWJjMTIz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got http.Header
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got = r.Header.Clone()
				_, _ = io.WriteString(w, `{"id":"x"}`)
			}))
			defer srv.Close()
			o := fastOptions(srv.URL)
			o.UserAgentVersion = "1.2.3"
			if _, err := newClient(t, o).GetConnection(context.Background(), tt.key, companyA, "x"); err != nil {
				t.Fatal(err)
			}
			if a := got.Get("Authorization"); a != tt.wantAuth {
				t.Errorf("Authorization = %q, want %q", a, tt.wantAuth)
			}
			if ua := got.Get("User-Agent"); ua != "codat-operator/1.2.3" {
				t.Errorf("User-Agent = %q", ua)
			}
			if acc := got.Get("Accept"); acc != "application/json" {
				t.Errorf("Accept = %q", acc)
			}
		})
	}
}

func TestDefaultUserAgentAndBaseURL(t *testing.T) {
	var ua string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ua = r.Header.Get("User-Agent")
		_, _ = io.WriteString(w, `{"id":"x"}`)
	}))
	defer srv.Close()
	if _, err := newClient(t, fastOptions(srv.URL+"/")).GetConnection(context.Background(), testKey, companyA, "x"); err != nil {
		t.Fatal(err)
	}
	if ua != "codat-operator/dev" {
		t.Fatalf("User-Agent = %q", ua)
	}
	for _, bad := range []string{"api.codat.io", "ftp://x", "https://user:pw@api.codat.io"} {
		if _, err := codatclient.New(codatclient.Options{BaseURL: bad}); err == nil {
			t.Errorf("New accepted base URL %q", bad)
		}
	}
}

// Codat's Connection comes in shapes a strict decoder would reject.
func TestDecodeLenientConnection(t *testing.T) {
	body := `{
	  "id": "3f0c2a7e-9b1d-4c55-8e21-6a7d0b9c1e42",
	  "integrationId": "6b1f4f0a-2c3d-4e5f-8a9b-0c1d2e3f4a5b",
	  "sourceId": "9d8c7b6a-5f4e-4d3c-2b1a-0f9e8d7c6b5a",
	  "sourceType": "SomethingNew",
	  "platformName": "Sandbox",
	  "linkUrl": "https://link-api.codat.io/x",
	  "status": "Suspended",
	  "lastSync": null,
	  "created": "2024-04-30T17:02:11.1234567",
	  "dataConnectionErrors": [{"statusCode":"401","status":null,"resolvedOnUtc":null,"erroredOnUtc":"2024-05-02T09:00:00+01:00"}],
	  "connectionInfo": {"tenant": {"name": "Demo"}, "count": 3, "flag": true}
	}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, body) }))
	defer srv.Close()
	got, err := newClient(t, fastOptions(srv.URL)).GetConnection(context.Background(), testKey, companyA, "3f0c2a7e-9b1d-4c55-8e21-6a7d0b9c1e42")
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if got.Status != "Suspended" || got.SourceType != "SomethingNew" || got.IntegrationKey != "" || got.LastSync != "" ||
		got.Created != "2024-04-30T17:02:11.1234567" {
		t.Fatalf("decoded %+v", got)
	}
	if len(got.DataConnectionErrors) != 1 || got.DataConnectionErrors[0].Status != "" || got.DataConnectionErrors[0].StatusCode != strconv.Itoa(http.StatusUnauthorized) {
		t.Fatalf("dataConnectionErrors = %+v", got.DataConnectionErrors)
	}
	var info map[string]any
	if err := json.Unmarshal(got.ConnectionInfo, &info); err != nil || info["count"] != float64(3) {
		t.Fatalf("connectionInfo = %s", got.ConnectionInfo)
	}
}

func TestHTTPErrors(t *testing.T) {
	future := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	codatBody := func(status int, msg string) string {
		return fmt.Sprintf(`{"statusCode":%d,"service":"PublicApi","error":%q,"correlationId":"corr-%d","canBeRetried":"Unknown","detailedErrorCode":0}`, status, msg, status)
	}
	type check func(error) bool
	tests := []struct {
		name        string
		status      int
		header      map[string]string
		body        string
		is          []check
		isNot       []check
		wantMsg     string
		wantCorr    string
		wantRetry   time.Duration
		retryWithin time.Duration // tolerance for HTTP-date Retry-After
	}{
		{name: "not found", status: 404, body: codatBody(404, "Data connection x not found"),
			is: []check{codatclient.IsNotFound}, isNot: []check{codatclient.IsRetryable, codatclient.IsUnauthorized},
			wantMsg: "Data connection x not found", wantCorr: "corr-404"},
		{name: "unauthorized", status: 401, body: codatBody(401, "Unauthorized"),
			is: []check{codatclient.IsUnauthorized}, isNot: []check{codatclient.IsRetryable, codatclient.IsNotFound}, wantCorr: "corr-401"},
		{name: "forbidden", status: 403, body: codatBody(403, "Forbidden"),
			is: []check{codatclient.IsUnauthorized}, isNot: []check{codatclient.IsRetryable}},
		{name: "payment required", status: 402, body: codatBody(402, "Account limit"),
			is: []check{codatclient.IsPaymentRequired}, isNot: []check{codatclient.IsRetryable, codatclient.IsUnauthorized}},
		{name: "rate limited, Retry-After in seconds", status: 429, header: map[string]string{"Retry-After": "7"}, body: codatBody(429, "Too many"),
			is: []check{codatclient.IsRateLimited, codatclient.IsRetryable}, wantRetry: 7 * time.Second},
		{name: "rate limited, Retry-After as HTTP date", status: 429, header: map[string]string{"Retry-After": future}, body: codatBody(429, "Too many"),
			is: []check{codatclient.IsRateLimited, codatclient.IsRetryable}, wantRetry: 90 * time.Second, retryWithin: 3 * time.Second},
		{name: "rate limited, Retry-After in the past", status: 429, header: map[string]string{"Retry-After": "Mon, 02 Jan 2006 15:04:05 GMT"},
			body: codatBody(429, "Too many"), is: []check{codatclient.IsRateLimited}, wantRetry: 0},
		{name: "server error", status: 500, body: codatBody(500, "boom"),
			is: []check{codatclient.IsRetryable}, isNot: []check{codatclient.IsNotFound, codatclient.IsRateLimited}, wantMsg: "boom"},
		{name: "maintenance", status: 503, header: map[string]string{"Retry-After": "30"}, body: codatBody(503, "maintenance"),
			is: []check{codatclient.IsRetryable}, wantRetry: 30 * time.Second},
		{name: "bad request is terminal", status: 400, body: codatBody(400, "bad platform key"),
			isNot:   []check{codatclient.IsRetryable, codatclient.IsNotFound, codatclient.IsUnauthorized, codatclient.IsPaymentRequired, codatclient.IsRateLimited},
			wantMsg: "bad platform key"},
		{name: "non-JSON body", status: 502, body: "<html><body>Bad gateway\n from proxy</body></html>",
			is: []check{codatclient.IsRetryable}, wantMsg: "unexpected response body: <html><body>Bad gateway from proxy</body></html>"},
		{name: "empty body", status: 404, body: "", is: []check{codatclient.IsNotFound}, wantMsg: "empty response body"},
		{name: "malformed JSON", status: 500, body: `{"error": "trunc`, is: []check{codatclient.IsRetryable}, wantMsg: `unexpected response body: {"error": "trunc`},
		{name: "JSON without message", status: 409, body: `{"statusCode":409}`, isNot: []check{codatclient.IsRetryable}, wantMsg: "no error message in response body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			_, err := newClient(t, fastOptions(srv.URL)).GetConnection(context.Background(), testKey, companyA, "x")
			var cerr *codatclient.Error
			if !errors.As(err, &cerr) {
				t.Fatalf("error %T %v is not a *codatclient.Error", err, err)
			}
			if cerr.StatusCode != tt.status || cerr.Operation != codatapi.OpGetConnection || cerr.Err != nil {
				t.Fatalf("error = %#v", cerr)
			}
			for i, is := range tt.is {
				if !is(err) {
					t.Errorf("is-check %d false for %v", i, err)
				}
			}
			for i, is := range tt.isNot {
				if is(err) {
					t.Errorf("is-not-check %d true for %v", i, err)
				}
			}
			if tt.wantMsg != "" && cerr.Message != tt.wantMsg {
				t.Errorf("Message = %q, want %q", cerr.Message, tt.wantMsg)
			}
			if tt.wantCorr != "" && (cerr.CorrelationID != tt.wantCorr || cerr.Service != "PublicApi") {
				t.Errorf("correlation/service = %q/%q", cerr.CorrelationID, cerr.Service)
			}
			if !strings.Contains(err.Error(), fmt.Sprint(tt.status)) || !strings.Contains(err.Error(), codatapi.OpGetConnection) {
				t.Errorf("Error() = %q lacks status or operation", err.Error())
			}
			d, ok := codatclient.RetryAfter(err)
			_, hasHeader := tt.header["Retry-After"]
			if ok != hasHeader {
				t.Fatalf("RetryAfter ok = %v, want %v", ok, hasHeader)
			}
			if diff := d - tt.wantRetry; diff < -tt.retryWithin || diff > tt.retryWithin {
				t.Errorf("RetryAfter = %v, want %v ± %v", d, tt.wantRetry, tt.retryWithin)
			}
		})
	}
}

func TestHelpersOnForeignErrors(t *testing.T) {
	plain := errors.New("x")
	for name, f := range map[string]func(error) bool{
		"IsNotFound": codatclient.IsNotFound, "IsUnauthorized": codatclient.IsUnauthorized,
		"IsPaymentRequired": codatclient.IsPaymentRequired, "IsRateLimited": codatclient.IsRateLimited, "IsRetryable": codatclient.IsRetryable,
	} {
		if f(plain) || f(nil) {
			t.Errorf("%s true for a non-Codat error", name)
		}
	}
	wrapped := fmt.Errorf("reconcile: %w", &codatclient.Error{StatusCode: 429, RetryAfter: 5 * time.Second})
	if d, ok := codatclient.RetryAfter(wrapped); !ok || d != 5*time.Second || !codatclient.IsRateLimited(wrapped) {
		t.Fatalf("wrapped error: %v %v", d, ok)
	}
}

func TestTransportErrors(t *testing.T) {
	t.Run("connection refused is retryable", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL
		srv.Close()
		_, err := newClient(t, fastOptions(url)).GetConnection(context.Background(), testKey, companyA, "x")
		var cerr *codatclient.Error
		if !errors.As(err, &cerr) || cerr.StatusCode != 0 || cerr.Err == nil || !codatclient.IsRetryable(err) {
			t.Fatalf("err = %#v", err)
		}
	})
	t.Run("per-request timeout is retryable", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}))
		defer srv.Close()
		defer close(release)
		o := fastOptions(srv.URL)
		o.Timeout = 50 * time.Millisecond
		_, err := newClient(t, o).GetConnection(context.Background(), testKey, companyA, "x")
		if !codatclient.IsRetryable(err) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("caller cancellation is not retryable", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			cancel()
			<-r.Context().Done()
		}))
		defer srv.Close()
		_, err := newClient(t, fastOptions(srv.URL)).GetConnection(ctx, testKey, companyA, "x")
		if err == nil || codatclient.IsRetryable(err) || !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v", err)
		}
	})
}

// dropFirst closes the first connection of each request path without answering.
func dropFirst(t *testing.T) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Errorf("hijack: %v", err)
				return
			}
			_ = conn.Close()
			return
		}
		_, _ = io.WriteString(w, `{"id":"x","status":"Linked"}`)
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func TestOneImmediateRetryOnlyForIdempotentRequests(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name      string
		call      func(*codatclient.Client) error
		wantCalls int32
		wantErr   bool
	}{
		{"GET is retried once", func(c *codatclient.Client) error {
			_, err := c.GetConnection(ctx, testKey, companyA, "x")
			return err
		}, 2, false},
		{"PUT is retried once", func(c *codatclient.Client) error {
			_, err := c.UpdateAuthorization(ctx, testKey, companyA, "x", map[string]string{"a": "b"})
			return err
		}, 2, false},
		{"DELETE is retried once", func(c *codatclient.Client) error {
			return c.DeleteConnection(ctx, testKey, companyA, "x")
		}, 2, false},
		{"POST is never retried", func(c *codatclient.Client) error {
			_, err := c.CreateConnection(ctx, testKey, companyA, "mqjo")
			return err
		}, 1, true},
		{"PATCH is never retried", func(c *codatclient.Client) error {
			_, err := c.UnlinkConnection(ctx, testKey, companyA, "x")
			return err
		}, 1, true},
		{"replace-company (PUT) is retried once", func(c *codatclient.Client) error {
			_, err := c.ReplaceCompany(ctx, testKey, "x", codatclient.CompanyRequest{Name: "Acme"})
			return err
		}, 2, false},
		{"get-company is retried once", func(c *codatclient.Client) error {
			_, err := c.GetCompany(ctx, testKey, "x")
			return err
		}, 2, false},
		{"delete-company is retried once", func(c *codatclient.Client) error {
			return c.DeleteCompany(ctx, testKey, "x")
		}, 2, false},
		{"create-company (POST) is never retried", func(c *codatclient.Client) error {
			_, err := c.CreateCompany(ctx, testKey, codatclient.CompanyRequest{Name: "Acme"})
			return err
		}, 1, true},
		{"update-company (PATCH) is never retried", func(c *codatclient.Client) error {
			_, err := c.UpdateCompany(ctx, testKey, "x", codatclient.CompanyUpdate{})
			return err
		}, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, calls := dropFirst(t)
			err := tt.call(newClient(t, fastOptions(srv.URL)))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr && !codatclient.IsRetryable(err) {
				t.Errorf("lost response should be retryable by the caller: %v", err)
			}
			if got := calls.Load(); got != tt.wantCalls {
				t.Fatalf("server saw %d requests, want %d", got, tt.wantCalls)
			}
		})
	}
}

func TestRateLimiterHoldsItsRate(t *testing.T) {
	_, srv := startSim(t)
	const rps, n = 20.0, 11
	c := newClient(t, codatclient.Options{BaseURL: srv.URL, RequestsPerSecond: rps, Burst: 1})
	start := time.Now()
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = c.ListConnections(context.Background(), testKey, companyA)
		}()
	}
	wg.Wait()
	least := time.Duration(float64(n-1) / rps * float64(time.Second))
	if elapsed := time.Since(start); elapsed < least {
		t.Fatalf("%d requests at %v rps took %v, want at least %v", n, rps, elapsed, least)
	}
}

func TestPerCompanyInFlightCap(t *testing.T) {
	sim, srv := startSim(t)
	c := newClient(t, fastOptions(srv.URL))
	ctx := context.Background()
	conn, err := c.CreateConnection(ctx, testKey, companyA, "mqjo")
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.SetFaults(codatsim.Faults{Latency: 20 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	sim.ResetCounts()
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.GetConnection(ctx, testKey, companyA, conn.ID); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("get: %v", err)
	}
	if got := sim.MaxInFlight(companyA); got > codatclient.DefaultMaxInFlightPerCompany || got < 2 {
		t.Fatalf("max in flight for the company = %d, want 2..%d", got, codatclient.DefaultMaxInFlightPerCompany)
	}
	if n := sim.Count(codatapi.OpGetConnection); n != 50 {
		t.Fatalf("gets = %d, want 50", n)
	}
}

func TestMetrics(t *testing.T) {
	_, srv := startSim(t)
	reg := prometheus.NewRegistry()
	m, err := codatclient.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	// Several clients in one process share one set of metrics.
	o := fastOptions(srv.URL)
	o.Metrics = m
	c := newClient(t, o)
	_ = newClient(t, o)
	if _, err := c.GetConnection(context.Background(), testKey, companyA, unknownC); !codatclient.IsNotFound(err) {
		t.Fatalf("err = %v", err)
	}
	if _, err := c.ListConnections(context.Background(), otherKey, companyA); err != nil {
		t.Fatalf("list with the second key: %v", err)
	}
	if got := metricValue(t, reg, codatclient.MetricRequestsTotal, map[string]string{"operation": codatapi.OpGetConnection, "code": "404"}); got != 1 {
		t.Fatalf("requests_total{get-connection,404} = %v, want 1", got)
	}
	// The rate-limit gauges are kept per API key, by fingerprint: one key's quota never hides another's.
	for _, key := range []codatclient.APIKey{testKey, otherKey} {
		fp := map[string]string{"key": key.Fingerprint()}
		if got := metricValue(t, reg, codatclient.MetricRateLimitLimit, fp); got != float64(codatsim.DefaultDailyQuota) {
			t.Errorf("rate limit limit for key %s = %v, want %d", key.Fingerprint(), got, codatsim.DefaultDailyQuota)
		}
		if got := metricValue(t, reg, codatclient.MetricRateLimitRemaining, fp); got <= 0 || got >= float64(codatsim.DefaultDailyQuota) {
			t.Errorf("rate limit remaining for key %s = %v", key.Fingerprint(), got)
		}
	}
	if _, err := codatclient.NewMetrics(reg); err == nil {
		t.Error("registering the metrics twice with one registry succeeded")
	}
}

// A key no longer used (rotated away) drops out of the rate-limit gauges an hour after its last
// answer, so that an alert on its quota resolves; a key in use stays.
func TestRateLimitGaugesForgetUnusedKeys(t *testing.T) {
	_, srv := startSim(t)
	reg := prometheus.NewRegistry()
	m, err := codatclient.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	m.Now = func() time.Time { return now }
	o := fastOptions(srv.URL)
	o.Metrics = m
	c := newClient(t, o)
	get := func(key codatclient.APIKey) {
		t.Helper()
		if _, err := c.ListConnections(context.Background(), key, companyA); err != nil {
			t.Fatal(err)
		}
	}
	keys := func() map[string]bool {
		t.Helper()
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]bool{}
		for _, f := range families {
			if f.GetName() != codatclient.MetricRateLimitRemaining && f.GetName() != codatclient.MetricRateLimitLimit {
				continue
			}
			for _, series := range f.GetMetric() {
				out[f.GetName()+"/"+labels(series)["key"]] = true
			}
		}
		return out
	}
	old, rotated := testKey, otherKey
	get(old)
	if got := keys(); !got[codatclient.MetricRateLimitRemaining+"/"+old.Fingerprint()] || !got[codatclient.MetricRateLimitLimit+"/"+old.Fingerprint()] {
		t.Fatalf("gauges %v lack the key in use", got)
	}
	// The key is rotated: only the new one is used from now on.
	now = now.Add(codatclient.KeyMetricsTTL / 2)
	get(rotated)
	now = now.Add(codatclient.KeyMetricsTTL/2 + time.Second)
	get(rotated)
	want := map[string]bool{
		codatclient.MetricRateLimitRemaining + "/" + rotated.Fingerprint(): true,
		codatclient.MetricRateLimitLimit + "/" + rotated.Fingerprint():     true,
	}
	if diff := cmp.Diff(want, keys()); diff != "" {
		t.Errorf("rate-limit gauges an hour after the old key's last answer (-want +got):\n%s", diff)
	}
}

// metricValue is the value of the one series of the metric with the labels.
func metricValue(t *testing.T, g prometheus.Gatherer, name string, want map[string]string) float64 {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			got := labels(m)
			for k, v := range want {
				if got[k] != v {
					continue series
				}
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no series of %s with labels %v", name, want)
	return 0
}

func labels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

func TestEmptyArgumentsAreRejectedWithoutACall(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { calls.Add(1) }))
	defer srv.Close()
	c := newClient(t, fastOptions(srv.URL))
	ctx := context.Background()
	if _, err := c.GetConnection(ctx, testKey, "", "x"); err == nil {
		t.Error("empty company accepted")
	}
	if _, err := c.CreateConnection(ctx, testKey, companyA, ""); err == nil {
		t.Error("empty platform key accepted")
	}
	if err := c.DeleteConnection(ctx, testKey, companyA, ""); err == nil {
		t.Error("empty connection id accepted")
	}
	if calls.Load() != 0 {
		t.Fatalf("server called %d times", calls.Load())
	}
}
