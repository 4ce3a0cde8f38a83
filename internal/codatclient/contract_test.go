package codatclient_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	legacyrouter "github.com/getkin/kin-openapi/routers/legacy"

	"github.com/codat-operator/codat-operator/internal/codatclient"
	"github.com/codat-operator/codat-operator/internal/codatsim"
)

// contractSpec is the one transcription of Codat's connection API shared by the client's and the
// simulator's contract tests.
const contractSpec = "../codatsim/testdata/codat-connections.openapi.yaml"

// validatingTransport checks every request the client sends and every response the simulator
// returns against the transcribed spec.
type validatingTransport struct {
	router routers.Router
	base   http.RoundTripper

	mu       sync.Mutex
	failures []string
	seen     map[string]bool // "operationId status"
}

func newValidatingTransport(t *testing.T, serverURL string) *validatingTransport {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromFile(contractSpec)
	if err != nil {
		t.Fatalf("load %s: %v", contractSpec, err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("spec is not valid OpenAPI: %v", err)
	}
	doc.Servers = openapi3.Servers{{URL: serverURL}}
	router, err := legacyrouter.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &validatingTransport{router: router, base: http.DefaultTransport, seen: map[string]bool{}}
}

func (v *validatingTransport) fail(format string, args ...any) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.failures = append(v.failures, fmt.Sprintf(format, args...))
}

func validationOptions() *openapi3filter.Options {
	return &openapi3filter.Options{
		IncludeResponseStatus: true,
		MultiError:            true,
		AuthenticationFunc: func(_ context.Context, in *openapi3filter.AuthenticationInput) error {
			if !strings.HasPrefix(in.RequestValidationInput.Request.Header.Get("Authorization"), "Basic ") {
				return errors.New(`Authorization must be "Basic <base64>"`)
			}
			return nil
		},
		SchemaValidationOptions: []openapi3.SchemaValidationOption{
			openapi3.WithStringFormatValidator("uuid", openapi3.NewRegexpFormatValidator(openapi3.FormatOfStringForUUIDOfRFC4122)),
		},
	}
}

func (v *validatingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil {
		var err error
		if reqBody, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		_ = req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	route, params, err := v.router.FindRoute(req)
	if err != nil {
		v.fail("%s %s: no route in the spec: %v", req.Method, req.URL.Path, err)
		return v.base.RoundTrip(req)
	}
	check := req.Clone(req.Context())
	check.Body = io.NopCloser(bytes.NewReader(reqBody))
	in := &openapi3filter.RequestValidationInput{Request: check, PathParams: params, Route: route, Options: validationOptions()}
	if err := openapi3filter.ValidateRequest(req.Context(), in); err != nil {
		v.fail("request %s %s: %v", req.Method, req.URL.Path, err)
	}

	resp, err := v.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	respBody, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(respBody))
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Body: io.NopCloser(bytes.NewReader(respBody)), Options: validationOptions(),
	}
	if err := openapi3filter.ValidateResponse(req.Context(), out); err != nil {
		v.fail("response %d to %s %s: %v\nbody: %s", resp.StatusCode, req.Method, req.URL.Path, err, respBody)
	}
	v.mu.Lock()
	v.seen[fmt.Sprintf("%s %d", route.Operation.OperationID, resp.StatusCode)] = true
	v.mu.Unlock()
	return resp, nil
}

// TestContract runs every operation, success and error paths, between the real client and the
// simulator, validating both sides against the transcribed spec.
func TestContract(t *testing.T) {
	sim, srv := startSim(t)
	vt := newValidatingTransport(t, srv.URL)
	o := fastOptions(srv.URL)
	o.HTTPClient = &http.Client{Transport: vt}
	o.PageSize = 2
	c := newClient(t, o)
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	conn, err := c.CreateConnection(ctx, testKey, companyA, "gbol")
	must(err)
	for range 4 {
		_, err := c.CreateConnection(ctx, testKey, companyA, "suuo")
		must(err)
	}
	_, err = c.ListConnections(ctx, testKey, companyA) // 3 pages: next and previous links
	must(err)
	_, err = c.GetConnection(ctx, testKey, companyA, conn.ID)
	must(err)
	_, err = c.UnlinkConnection(ctx, testKey, companyA, conn.ID) // PendingAuth: 400
	if err == nil {
		t.Fatal("unlinking a PendingAuth connection succeeded")
	}
	must(sim.Link(companyA, conn.ID))
	must(sim.Deauthorize(companyA, conn.ID)) // dataConnectionErrors with nulls
	_, err = c.GetConnection(ctx, testKey, companyA, conn.ID)
	must(err)
	_, err = c.UpdateAuthorization(ctx, testKey, companyA, conn.ID, map[string]string{"accessToken": "t", "businessId": "b"})
	must(err) // resolved error entry, connectionInfo
	_, err = c.UnlinkConnection(ctx, testKey, companyA, conn.ID)
	must(err)
	must(c.DeleteConnection(ctx, testKey, companyA, conn.ID))

	// Error paths.
	_, _ = c.GetConnection(ctx, testKey, companyA, conn.ID)     // 404 connection
	_, _ = c.ListConnections(ctx, testKey, unknownC)            // 404 company
	_, _ = c.CreateConnection(ctx, testKey, companyA, "zzzz")   // 400 unknown platform
	_, _ = c.GetConnection(ctx, "wrong-key", companyA, conn.ID) // 401
	must(sim.SetFaults(codatsim.Faults{RateLimitNext: 1, RetryAfter: 3 * time.Second}))
	_, _ = c.ListConnections(ctx, testKey, companyA) // 429
	must(sim.SetFaults(codatsim.Faults{ErrorRate: map[string]float64{"*": 1}, ErrorStatus: 503}))
	_ = c.DeleteConnection(ctx, testKey, companyA, conn.ID) // 503
	must(sim.SetFaults(codatsim.Faults{ErrorRate: map[string]float64{"*": 1}}))
	_, _ = c.UpdateAuthorization(ctx, testKey, companyA, conn.ID, nil) // 500
	must(sim.SetFaults(codatsim.Faults{}))

	// The company operations.
	var made []*codatclient.Company
	for _, name := range []string{"Acme", "Beta", "Gamma"} {
		co, err := c.CreateCompany(ctx, testKey, codatclient.CompanyRequest{Name: name, Description: "d", Tags: map[string]string{"region": "uk"}})
		must(err)
		made = append(made, co)
	}
	_, err = c.ListCompanies(ctx, testKey, codatclient.CompanyFilter{}) // 3 pages of 2: next and previous links
	must(err)
	_, err = c.ListCompanies(ctx, testKey, codatclient.CompanyFilter{Query: "tags.region=uk", Tags: "region=uk"})
	must(err)
	_, err = c.GetCompany(ctx, testKey, made[0].ID)
	must(err)
	_, err = c.ReplaceCompany(ctx, testKey, made[0].ID, codatclient.CompanyRequest{Name: "Acme Ltd", Tags: map[string]string{"tier": "gold"}})
	must(err)
	description := ""
	_, err = c.UpdateCompany(ctx, testKey, made[0].ID, codatclient.CompanyUpdate{Description: &description, Tags: map[string]string{}})
	must(err)
	_, err = c.GetCompany(ctx, testKey, companyA) // a company with a connection
	must(err)
	must(c.DeleteCompany(ctx, testKey, made[1].ID))
	tooLong := map[string]string{strings.Repeat("k", 28): "v"}                                                 // a tag key the transcription cannot check: the simulator refuses it
	_, _ = c.CreateCompany(ctx, testKey, codatclient.CompanyRequest{Name: "Acme", Tags: tooLong})              // 400
	_, _ = c.ReplaceCompany(ctx, testKey, made[0].ID, codatclient.CompanyRequest{Name: "Acme", Tags: tooLong}) // 400
	_, _ = c.UpdateCompany(ctx, testKey, made[0].ID, codatclient.CompanyUpdate{Tags: tooLong})                 // 400
	_, _ = c.GetCompany(ctx, testKey, made[1].ID)                                                              // 404
	_ = c.DeleteCompany(ctx, testKey, made[1].ID)                                                              // 404
	_, _ = c.ReplaceCompany(ctx, testKey, made[1].ID, codatclient.CompanyRequest{Name: "Acme"})                // 404
	_, _ = c.ListCompanies(ctx, "wrong-key", codatclient.CompanyFilter{})                                      // 401
	must(sim.SetFaults(codatsim.Faults{RateLimitNext: 1}))
	_, _ = c.ListCompanies(ctx, testKey, codatclient.CompanyFilter{}) // 429
	must(sim.SetFaults(codatsim.Faults{ErrorRate: map[string]float64{"*": 1}, ErrorStatus: 503}))
	_, _ = c.UpdateCompany(ctx, testKey, made[0].ID, codatclient.CompanyUpdate{Tags: map[string]string{}}) // 503
	_, _ = c.CreateCompany(ctx, testKey, codatclient.CompanyRequest{Name: "Acme"})                         // 503
	must(sim.SetFaults(codatsim.Faults{}))

	for _, f := range vt.failures {
		t.Error(f)
	}
	for _, want := range []string{
		"create-connection 200", "create-connection 400", "list-connections 200", "list-connections 404", "list-connections 429",
		"get-connection 200", "get-connection 401", "get-connection 404", "unlink-connection 200", "unlink-connection 400",
		"update-connection-authorization 200", "update-connection-authorization 500", "delete-connection 200", "delete-connection 503",
		"create-company 200", "create-company 400", "create-company 503", "list-companies 200", "list-companies 401", "list-companies 429",
		"get-company 200", "get-company 404", "replace-company 200", "replace-company 400", "replace-company 404",
		"update-company 200", "update-company 400", "update-company 503", "delete-company 204", "delete-company 404",
	} {
		if !vt.seen[want] {
			t.Errorf("contract test did not exercise %q", want)
		}
	}
}

// TestContractCatchesDrift proves the validation is not vacuous: a renamed field fails it.
func TestContractCatchesDrift(t *testing.T) {
	getConnection := func(c *codatclient.Client) {
		_, _ = c.GetConnection(context.Background(), testKey, companyA, "3f0c2a7e-9b1d-4c55-8e21-6a7d0b9c1e42")
	}
	getCompany := func(c *codatclient.Client) { _, _ = c.GetCompany(context.Background(), testKey, companyA) }
	tests := []struct {
		name string
		call func(*codatclient.Client)
		body string
	}{
		{"renamed field", getConnection, `{"id":"3f0c2a7e-9b1d-4c55-8e21-6a7d0b9c1e42","integrationId":"6b1f4f0a-2c3d-4e5f-8a9b-0c1d2e3f4a5b","sourceId":"9d8c7b6a-5f4e-4d3c-2b1a-0f9e8d7c6b5a","sourceType":"Banking","platformName":"Plaid","linkURL":"http://x/y","status":"Linked","created":"2024-01-01T00:00:00Z"}`},
		{"missing required field", getConnection, `{"id":"3f0c2a7e-9b1d-4c55-8e21-6a7d0b9c1e42","integrationId":"6b1f4f0a-2c3d-4e5f-8a9b-0c1d2e3f4a5b","sourceId":"9d8c7b6a-5f4e-4d3c-2b1a-0f9e8d7c6b5a","sourceType":"Banking","platformName":"Plaid","linkUrl":"http://x/y","status":"Linked"}`},
		{"renamed company field", getCompany, `{"id":"` + companyA + `","name":"Acme","redirectUrl":"https://link.codat.io/company/x"}`},
		{"company without its redirect", getCompany, `{"id":"` + companyA + `","name":"Acme"}`},
		{"eleven tags", getCompany, `{"id":"` + companyA + `","name":"Acme","redirect":"https://link.codat.io/company/x","tags":{"a":"1","b":"1","c":"1","d":"1","e":"1","f":"1","g":"1","h":"1","i":"1","j":"1","k":"1"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for _, h := range []string{"X-Rate-Limit-Limit", "X-Rate-Limit-Remaining"} {
					w.Header().Set(h, "1")
				}
				w.Header().Set("X-Rate-Limit-Reset", "x")
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			vt := newValidatingTransport(t, srv.URL)
			o := fastOptions(srv.URL)
			o.HTTPClient = &http.Client{Transport: vt}
			tt.call(newClient(t, o))
			if len(vt.failures) == 0 {
				t.Fatal("validation accepted a drifted answer")
			}
		})
	}
}
