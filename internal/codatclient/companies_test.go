package codatclient_test

import (
	"context"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/codat-operator/codat-operator/internal/codatapi"
	"github.com/codat-operator/codat-operator/internal/codatclient"
	"github.com/codat-operator/codat-operator/internal/codatsim"
)

// uidTag is a tag of the kind the operator puts on the companies it creates, to find them again.
const uidTag = "codat-operator-uid"

func TestAllCompanyOperationsAgainstSimulator(t *testing.T) {
	sim, srv := startSim(t)
	c := newClient(t, fastOptions(srv.URL))
	ctx := context.Background()

	made, err := c.CreateCompany(ctx, testKey, codatclient.CompanyRequest{Name: "Acme (UK)", Description: "From Git",
		Tags: map[string]string{"region": "uk", uidTag: "0c3e0b9c-0000-4000-8000-000000000001"}})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	// Codat keeps the name without the characters it forbids: the answer, not the request, is what it holds.
	if made.Name != "Acme UK" || made.Description != "From Git" || made.Tags["region"] != "uk" || made.Created == "" ||
		made.Redirect != srv.URL+"/link/company/"+made.ID || len(made.DataConnections) != 0 {
		t.Fatalf("created %+v", made)
	}
	if _, err := c.CreateCompany(ctx, testKey, codatclient.CompanyRequest{Name: "Beta", Tags: map[string]string{uidTag: "another"}}); err != nil {
		t.Fatal(err)
	}

	found, err := c.ListCompanies(ctx, testKey, codatclient.CompanyTagFilter(uidTag, "0c3e0b9c-0000-4000-8000-000000000001"))
	if err != nil || len(found) != 1 || found[0].ID != made.ID {
		t.Fatalf("list by tag = %+v, %v", found, err)
	}
	all, err := c.ListCompanies(ctx, testKey, codatclient.CompanyFilter{})
	if err != nil || len(all) != 4 { // companyA, companyB and the two made here
		t.Fatalf("list all = %d companies, %v", len(all), err)
	}
	byQuery, err := c.ListCompanies(ctx, testKey, codatclient.CompanyFilter{Query: "name=Beta"})
	if err != nil || len(byQuery) != 1 || byQuery[0].Name != "Beta" {
		t.Fatalf("list by query = %+v, %v", byQuery, err)
	}

	conn, err := c.CreateConnection(ctx, testKey, made.ID, "mqjo")
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Link(made.ID, conn.ID); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetCompany(ctx, testKey, made.ID)
	if err != nil || len(got.DataConnections) != 1 || got.DataConnections[0].ID != conn.ID ||
		got.DataConnections[0].Status != codatapi.StatusLinked || got.DataConnections[0].IntegrationKey != "mqjo" || got.LastSync == "" {
		t.Fatalf("get = %+v, %v", got, err)
	}

	desired := codatclient.CompanyRequest{Name: "Acme Ltd", Tags: map[string]string{uidTag: made.Tags[uidTag], "tier": "gold"}}
	replaced, err := c.ReplaceCompany(ctx, testKey, made.ID, desired)
	if err != nil || replaced.Name != "Acme Ltd" || replaced.Description != "" || !maps.Equal(replaced.Tags, desired.Tags) {
		t.Fatalf("replace = %+v, %v", replaced, err)
	}

	renamed := "Acme Group"
	updated, err := c.UpdateCompany(ctx, testKey, made.ID, codatclient.CompanyUpdate{Name: &renamed})
	if err != nil || updated.Name != renamed || !maps.Equal(updated.Tags, desired.Tags) {
		t.Fatalf("update of the name only = %+v, %v", updated, err)
	}
	updated, err = c.UpdateCompany(ctx, testKey, made.ID, codatclient.CompanyUpdate{Tags: map[string]string{}})
	if err != nil || len(updated.Tags) != 0 || updated.Name != renamed {
		t.Fatalf("update with empty tags = %+v, %v", updated, err)
	}

	if err := c.DeleteCompany(ctx, testKey, made.ID); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := c.GetCompany(ctx, testKey, made.ID); !codatclient.IsNotFound(err) {
		t.Fatalf("get after delete: %v, want not found", err)
	}
	if _, err := c.GetConnection(ctx, testKey, made.ID, conn.ID); !codatclient.IsNotFound(err) {
		t.Fatalf("the company's connection after delete: %v, want not found", err)
	}
	if err := c.DeleteCompany(ctx, testKey, made.ID); !codatclient.IsNotFound(err) {
		t.Fatalf("second delete: %v, want not found", err)
	}

	for op, want := range map[string]int{
		codatapi.OpCreateCompany: 2, codatapi.OpListCompanies: 3, codatapi.OpGetCompany: 2, codatapi.OpReplaceCompany: 1,
		codatapi.OpUpdateCompany: 2, codatapi.OpDeleteCompany: 2,
	} {
		if got := sim.Count(op); got != want {
			t.Errorf("simulator count %s = %d, want %d", op, got, want)
		}
	}
}

// A create whose answer is lost made the company all the same; listing by the tag the request
// carried finds it, so that a caller never makes a second one.
func TestLostCreateCompanyIsFoundByItsTag(t *testing.T) {
	sim, srv := startSim(t)
	c := newClient(t, fastOptions(srv.URL))
	ctx := context.Background()
	if err := sim.SetFaults(codatsim.Faults{LoseCreateCompanyResponseNext: 1}); err != nil {
		t.Fatal(err)
	}
	req := codatclient.CompanyRequest{Name: "Acme", Tags: map[string]string{uidTag: "5f0c7d2e-1b9a-4c3d-8e7f-a1b2c3d4e5f6"}}
	_, err := c.CreateCompany(ctx, testKey, req)
	if !codatclient.IsRetryable(err) {
		t.Fatalf("a lost answer: %v, want a transient error", err)
	}
	found, err := c.ListCompanies(ctx, testKey, codatclient.CompanyTagFilter(uidTag, req.Tags[uidTag]))
	if err != nil || len(found) != 1 || found[0].Tags[uidTag] != req.Tags[uidTag] {
		t.Fatalf("list by tag = %+v, %v", found, err)
	}
	if n := sim.Count(codatapi.OpCreateCompany); n != 1 {
		t.Fatalf("create-company sent %d times, want 1 (never retried)", n)
	}
}

func TestListCompaniesFollowsPages(t *testing.T) {
	sim, srv := startSim(t)
	o := fastOptions(srv.URL)
	o.PageSize = 2
	c := newClient(t, o)
	ctx := context.Background()
	for range 5 {
		if _, err := c.CreateCompany(ctx, testKey, codatclient.CompanyRequest{Name: "Acme", Tags: map[string]string{"team": "lending"}}); err != nil {
			t.Fatal(err)
		}
	}
	sim.ResetCounts()
	// companyA and companyB have no team tag: a page read without the filter would bring them in.
	list, err := c.ListCompanies(ctx, testKey, codatclient.CompanyFilter{Tags: "team=lending"})
	if err != nil || len(list) != 5 {
		t.Fatalf("list = %d, %v", len(list), err)
	}
	if n := sim.Count(codatapi.OpListCompanies); n != 3 {
		t.Fatalf("list requests = %d, want 3", n)
	}
	if _, err := c.ListCompanies(ctx, testKey, codatclient.CompanyFilter{Query: strings.Repeat("x", 2048)}); err == nil {
		t.Error("a query of 2048 characters was sent")
	}
}

// The bodies the client sends: nothing it was not given, and for update-company only what is set
// (an empty tag map is sent: it removes the tags).
func TestCompanyRequestBodies(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = append(got, r.Method+" "+r.URL.Path+" "+string(b))
		_, _ = io.WriteString(w, `{"id":"`+companyA+`","name":"x","redirect":"https://link.codat.io/company/x"}`)
	}))
	defer srv.Close()
	c := newClient(t, fastOptions(srv.URL))
	ctx := context.Background()
	name, empty := "Acme", ""
	tests := []struct {
		name string
		call func() error
		want string
	}{
		{"create with a name only", func() error {
			_, err := c.CreateCompany(ctx, testKey, codatclient.CompanyRequest{Name: "Acme"})
			return err
		}, `POST /companies {"name":"Acme"}`},
		{"create with everything", func() error {
			_, err := c.CreateCompany(ctx, testKey, codatclient.CompanyRequest{Name: "Acme", Description: "d", Tags: map[string]string{"a": "1"}})
			return err
		}, `POST /companies {"name":"Acme","description":"d","tags":{"a":"1"}}`},
		{"replace", func() error {
			_, err := c.ReplaceCompany(ctx, testKey, companyA, codatclient.CompanyRequest{Name: "Acme"})
			return err
		}, `PUT /companies/` + companyA + ` {"name":"Acme"}`},
		{"update nothing", func() error {
			_, err := c.UpdateCompany(ctx, testKey, companyA, codatclient.CompanyUpdate{})
			return err
		}, `PATCH /companies/` + companyA + ` {}`},
		{"update the name, empty the description, remove the tags", func() error {
			_, err := c.UpdateCompany(ctx, testKey, companyA, codatclient.CompanyUpdate{Name: &name, Description: &empty, Tags: map[string]string{}})
			return err
		}, `PATCH /companies/` + companyA + ` {"description":"","name":"Acme","tags":{}}`},
		{"delete", func() error { return c.DeleteCompany(ctx, testKey, companyA) }, `DELETE /companies/` + companyA + ` `},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got = nil
			if err := tt.call(); err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0] != tt.want {
				t.Fatalf("sent %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCompanyAnswersThatAreNotTheCompany(t *testing.T) {
	tests := []struct {
		name, body string
	}{
		{"no id", `{"name":"Acme"}`},
		{"another company", `{"id":"` + companyB + `","name":"Acme"}`},
		{"JSON null", `null`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, tt.body) }))
			defer srv.Close()
			_, err := newClient(t, fastOptions(srv.URL)).GetCompany(context.Background(), testKey, companyA)
			var cerr *codatclient.Error
			if !errors.As(err, &cerr) || cerr.Kind != codatclient.KindBadResponse || !codatclient.IsRetryable(err) {
				t.Fatalf("err = %v, want a retryable bad response", err)
			}
		})
	}
}

func TestCompanyArgumentsRefusedWithoutACall(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { calls.Add(1) }))
	defer srv.Close()
	c := newClient(t, fastOptions(srv.URL))
	ctx := context.Background()
	blank := "  "
	for name, call := range map[string]func() error{
		"create without a name": func() error {
			_, err := c.CreateCompany(ctx, testKey, codatclient.CompanyRequest{Name: " "})
			return err
		},
		"replace without a name": func() error {
			_, err := c.ReplaceCompany(ctx, testKey, companyA, codatclient.CompanyRequest{})
			return err
		},
		"replace without an id": func() error {
			_, err := c.ReplaceCompany(ctx, testKey, "", codatclient.CompanyRequest{Name: "x"})
			return err
		},
		"update to a blank name": func() error {
			_, err := c.UpdateCompany(ctx, testKey, companyA, codatclient.CompanyUpdate{Name: &blank})
			return err
		},
		"get without an id":    func() error { _, err := c.GetCompany(ctx, testKey, ""); return err },
		"delete without an id": func() error { return c.DeleteCompany(ctx, testKey, "") },
	} {
		var cerr *codatclient.Error
		if err := call(); !errors.As(err, &cerr) || cerr.Kind != codatclient.KindInvalidRequest {
			t.Errorf("%s: %v, want an invalid request", name, err)
		}
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("server called %d times", n)
	}
}

// list-companies and create-company name no company: they do not queue behind each other in one
// shared per-company slot.
func TestCompanyWideCallsTakeNoCompanySlot(t *testing.T) {
	release, started := make(chan struct{}), make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			started <- struct{}{}
			<-release
		}
		_, _ = io.WriteString(w, `{"id":"`+companyA+`","name":"x","results":[],"pageNumber":1,"pageSize":100,"totalResults":0,"_links":{"self":{"href":"/companies"},"current":{"href":"/companies"}}}`)
	}))
	defer srv.Close()
	defer close(release)
	o := fastOptions(srv.URL)
	o.MaxInFlightPerCompany = 1
	o.Timeout = time.Minute // the create holds its request until the test ends
	c := newClient(t, o)
	go func() {
		_, _ = c.CreateCompany(context.Background(), testKey, codatclient.CompanyRequest{Name: "Acme"})
	}()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.ListCompanies(ctx, testKey, codatclient.CompanyFilter{}); err != nil {
		t.Fatalf("list-companies while a create-company is in flight: %v", err)
	}
}

func TestCompanyMetrics(t *testing.T) {
	_, srv := startSim(t)
	reg := prometheus.NewRegistry()
	m, err := codatclient.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	o := fastOptions(srv.URL)
	o.Metrics = m
	c := newClient(t, o)
	ctx := context.Background()
	if _, err := c.CreateCompany(ctx, testKey, codatclient.CompanyRequest{Name: "Acme"}); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteCompany(ctx, testKey, unknownC); !codatclient.IsNotFound(err) {
		t.Fatalf("delete unknown: %v", err)
	}
	for _, tc := range []struct{ op, code string }{{codatapi.OpCreateCompany, "200"}, {codatapi.OpDeleteCompany, "404"}} {
		if got := metricValue(t, reg, codatclient.MetricRequestsTotal, map[string]string{"operation": tc.op, "code": tc.code}); got != 1 {
			t.Errorf("requests_total{%s,%s} = %v, want 1", tc.op, tc.code, got)
		}
	}
	if got := metricValue(t, reg, codatclient.MetricRateLimitLimit, map[string]string{"key": testKey.Fingerprint()}); got != float64(codatsim.DefaultDailyQuota) {
		t.Errorf("rate limit seen on company calls = %v", got)
	}
}
