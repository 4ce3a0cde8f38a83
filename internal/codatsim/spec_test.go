package codatsim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	legacyrouter "github.com/getkin/kin-openapi/routers/legacy"

	"github.com/codat-operator/codat-operator/internal/codatapi"
	"github.com/codat-operator/codat-operator/internal/codatsim"
)

// officialSpec is the part of Codat's own OpenAPI spec that the simulator stands in for, copied
// unchanged by hack/codatspec.
const officialSpec = "testdata/codat-platform-connections.yaml"

// beyondSpec lists the answers the simulator gives on purpose that Codat's spec does not
// document; docs/simulator.md lists them for users.
var beyondSpec = map[string]string{
	codatapi.OpCreateConnection + " 400":              "an unknown platform key, or a body that is not {platformKey}",
	codatapi.OpUnlinkConnection + " 400":              "unlinking a connection that is not Linked, or a body other than {status: Unlinked}",
	codatapi.OpUpdateConnectionAuthorization + " 400": "a body that is not an object of strings",
	codatapi.OpReplaceCompany + " 400":                "a body without a name, with tags beyond Codat's limits, or not a company body",
	codatapi.OpUpdateCompany + " 400":                 "an empty name, tags beyond Codat's limits, or not a company body",
}

// TestAnswersMatchCodatsOfficialSpec drives every operation through its success and every error
// the simulator can give, and validates each answer against Codat's official spec as OpenAPI 3.1
// reads it (JSON Schema 2020-12: `nullable` is no keyword, so a null must not appear where the
// schema says string or object).
func TestAnswersMatchCodatsOfficialSpec(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromFile(officialSpec)
	if err != nil {
		t.Fatalf("load %s: %v", officialSpec, err)
	}
	if !doc.IsOpenAPI31OrLater() {
		t.Fatalf("%s is OpenAPI %s; Codat's spec is 3.1", officialSpec, doc.OpenAPI)
	}
	f := newFixture(t, codatsim.Options{})
	doc.Servers = openapi3.Servers{{URL: f.srv.URL}}
	// Codat's schemas keep sub-schemas under a `definitions` key beside their properties.
	router, err := legacyrouter.NewRouter(doc, openapi3.AllowExtraSiblingFields("definitions"), openapi3.DisableExamplesValidation())
	if err != nil {
		t.Fatal(err)
	}
	opts := &openapi3filter.Options{
		IncludeResponseStatus: true,
		MultiError:            true,
		AuthenticationFunc:    func(context.Context, *openapi3filter.AuthenticationInput) error { return nil },
		SchemaValidationOptions: []openapi3.SchemaValidationOption{
			openapi3.EnableJSONSchema2020(),
		},
	}
	errorSchema := doc.Components.Schemas["ErrorMessage"]

	seen := map[string]bool{}
	check := func(method, path, authorization, body string) []byte {
		t.Helper()
		req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		route, params, err := router.FindRoute(req)
		if err != nil {
			t.Fatalf("%s %s is not in Codat's spec: %v", method, path, err)
		}
		status, header, got := f.do(method, path, authorization, body)
		key := fmt.Sprintf("%s %d", route.Operation.OperationID, status)
		seen[key] = true
		if route.Operation.Responses.Status(status) == nil {
			if _, ok := beyondSpec[key]; !ok {
				t.Errorf("%s %s answered %d, which Codat's spec does not document and beyondSpec does not list: %s", method, path, status, got)
			}
			var v any
			if err := json.Unmarshal(got, &v); err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			if err := errorSchema.Value.VisitJSON(v, openapi3.EnableJSONSchema2020()); err != nil {
				t.Errorf("%s: the error body is not Codat's ErrorMessage: %v\n%s", key, err, got)
			}
			return got
		}
		// Codat's Company schema cannot be compiled on its own (see checkCompany): its answers are
		// checked part by part.
		switch route.Operation.OperationID {
		case codatapi.OpGetCompany, codatapi.OpCreateCompany, codatapi.OpReplaceCompany, codatapi.OpUpdateCompany:
			if status == http.StatusOK {
				checkCompany(t, doc, key, got)
				return got
			}
		case codatapi.OpListCompanies:
			if status == http.StatusOK {
				checkCompanies(t, doc, got)
				return got
			}
		}
		in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
		out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status, Header: header,
			Body: io.NopCloser(bytes.NewReader(got)), Options: opts}
		if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
			t.Errorf("%s %s -> %d does not match Codat's spec: %v\nbody: %s", method, path, status, err, got)
		}
		return got
	}
	setFaults := func(faults codatsim.Faults) {
		t.Helper()
		if err := f.sim.SetFaults(faults); err != nil {
			t.Fatal(err)
		}
	}
	conns := "/companies/" + company + "/connections"
	var created codatsim.Connection
	if err := json.Unmarshal(check("POST", conns, auth, `{"platformKey":"gbol"}`), &created); err != nil {
		t.Fatal(err)
	}
	one := conns + "/" + created.ID
	check("GET", one, auth, "")
	check("GET", conns+"?page=1&pageSize=10", auth, "")
	check("GET", conns+"?page=0", auth, "")
	check("GET", conns+"?query="+`id%3D`+created.ID, auth, "")
	check("POST", conns, auth, `{"platformKey":"zzzz"}`)
	check("PATCH", one, auth, `{"status":"Unlinked"}`) // not Linked yet: 400
	check("GET", "/companies/"+unknownC+"/connections", auth, "")
	check("GET", conns+"/"+unknownC, auth, "")
	check("GET", one, "Basic d3Jvbmc=", "")
	f.sim.SetCompanyTags(company, map[string]string{"tenant": "acme"})
	var got struct {
		ID   string            `json:"id"`
		Tags map[string]string `json:"tags"`
	}
	if err := json.Unmarshal(check("GET", "/companies/"+company, auth, ""), &got); err != nil || got.ID != company || got.Tags["tenant"] != "acme" {
		t.Errorf("get-company: %+v, %v", got, err)
	}
	check("GET", "/companies/"+unknownC, auth, "")
	check("GET", "/companies/"+company, "Basic d3Jvbmc=", "")

	// The company operations, on a company made through the API and on one seeded by id.
	var made codatsim.Company
	if err := json.Unmarshal(check("POST", "/companies", auth, `{"name":"Acme (UK)","description":"d","tags":{"region":"uk"}}`), &made); err != nil {
		t.Fatal(err)
	}
	mine := "/companies/" + made.ID
	check("POST", "/companies", auth, `{"description":"no name"}`)
	check("POST", "/companies", "Basic d3Jvbmc=", `{"name":"Acme"}`)
	check("GET", "/companies?page=1&pageSize=1", auth, "")
	check("GET", "/companies?query="+url.QueryEscape("tags.region=uk"), auth, "")
	check("GET", "/companies?tags="+url.QueryEscape("region=uk"), auth, "")
	check("GET", "/companies?query="+url.QueryEscape("region=uk||id=x"), auth, "")
	check("GET", mine, auth, "")
	check("PUT", mine, auth, `{"name":"Acme Ltd","tags":{"region":"uk","tier":"gold"}}`)
	check("PUT", mine, auth, `{"description":"no name"}`)
	check("PUT", "/companies/"+unknownC, auth, `{"name":"x"}`)
	check("PATCH", mine, auth, `{"description":"changed"}`)
	check("PATCH", mine, auth, `{"name":"(())"}`)
	check("PATCH", "/companies/"+unknownC, auth, `{"name":"x"}`)
	check("POST", conns, auth, `{"platformKey":"gbol"}`) // dataConnections in list-companies below
	check("GET", "/companies", auth, "")
	for _, status := range []int{402, 403, 503} {
		f.sim.FailCompany(made.ID, status)
		check("GET", mine, auth, "")
		check("PATCH", mine, auth, `{"name":"x"}`)
		check("DELETE", mine, auth, "")
	}
	f.sim.FailCompany(made.ID, 0)
	setFaults(codatsim.Faults{ErrorRate: map[string]float64{codatapi.OpCreateCompany: 1}, ErrorStatus: 402})
	check("POST", "/companies", auth, `{"name":"Acme"}`)
	setFaults(codatsim.Faults{RateLimitNext: 2})
	check("GET", "/companies", auth, "")
	check("PUT", mine, auth, `{"name":"Acme"}`)
	setFaults(codatsim.Faults{ErrorRate: map[string]float64{"*": 1}})
	check("POST", "/companies", auth, `{"name":"Acme"}`)
	check("DELETE", mine, auth, "")
	setFaults(codatsim.Faults{})
	check("DELETE", mine, auth, "")
	check("DELETE", mine, auth, "")
	check("GET", mine, auth, "")

	// Deauthorized: an active error without resolvedOnUtc; linked again: a resolved one.
	if err := f.sim.Deauthorize(company, created.ID); err != nil {
		t.Fatal(err)
	}
	check("GET", one, auth, "")
	check("PUT", one+"/authorization", auth, `{"accessToken":"tok"}`)
	check("PUT", one+"/authorization", auth, `["not an object"]`)
	check("GET", conns, auth, "")
	check("PATCH", one, auth, `{"status":"Unlinked"}`)

	// Every failure the simulator injects.
	for _, status := range []int{402, 403, 429, 503} {
		f.sim.FailCompany(company, status)
		check("GET", one, auth, "")
		check("POST", conns, auth, `{"platformKey":"gbol"}`)
	}
	f.sim.FailCompany(company, 0)
	setFaults(codatsim.Faults{RateLimitNext: 1})
	check("DELETE", one, auth, "")
	setFaults(codatsim.Faults{ErrorRate: map[string]float64{"*": 1}})
	check("GET", conns, auth, "")
	setFaults(codatsim.Faults{ErrorRate: map[string]float64{"*": 1}, ErrorStatus: 503})
	check("PATCH", one, auth, `{"status":"Unlinked"}`)
	setFaults(codatsim.Faults{Quota: 1})
	check("GET", one, auth, "")
	check("GET", one, auth, "") // over the quota
	setFaults(codatsim.Faults{})

	check("DELETE", one, auth, "")
	check("DELETE", one, auth, "")

	for _, want := range []string{
		"list-connections 200", "list-connections 400", "list-connections 404", "list-connections 500",
		"create-connection 200", "create-connection 402", "create-connection 403", "create-connection 429", "create-connection 503",
		"get-connection 200", "get-connection 401", "get-connection 404", "get-connection 429",
		"delete-connection 200", "delete-connection 404", "delete-connection 429",
		"unlink-connection 200", "unlink-connection 503", "update-connection-authorization 200",
		"get-company 200", "get-company 401", "get-company 402", "get-company 403", "get-company 404", "get-company 503",
		"list-companies 200", "list-companies 400", "list-companies 429",
		"create-company 200", "create-company 400", "create-company 401", "create-company 402", "create-company 500",
		"replace-company 200", "replace-company 400", "replace-company 404", "replace-company 429",
		"update-company 200", "update-company 400", "update-company 402", "update-company 404",
		"delete-company 204", "delete-company 403", "delete-company 404", "delete-company 500",
	} {
		if !seen[want] {
			t.Errorf("the test never saw %s: it proves less than it claims", want)
		}
	}
	for key := range beyondSpec {
		if !seen[key] {
			t.Errorf("beyondSpec lists %s, which the test never saw", key)
		}
	}
}

// checkCompany validates an answer that is one Company property by property. Codat's Company
// schema refers into a path of the spec (the sync settings' companyId), which the JSON Schema 2020
// compiler cannot resolve in a schema taken on its own; kin-openapi's own validator, which works on
// the loaded (resolved) spec, checks each property against the schema of its allOf part, and each
// data connection against Connection. As OpenAPI 3.1 reads the spec, no null may appear, and the
// required properties must be there.
func checkCompany(t *testing.T, doc *openapi3.T, what string, body []byte) {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	checkCompanyValue(t, doc, what, v)
}

// checkCompanies validates a list-companies answer: the paging part against PagingInfo, and each
// result as checkCompany does.
func checkCompanies(t *testing.T, doc *openapi3.T, body []byte) {
	t.Helper()
	var page map[string]any
	if err := json.Unmarshal(body, &page); err != nil {
		t.Fatalf("list-companies: %v", err)
	}
	results, ok := page["results"].([]any)
	if !ok {
		t.Fatalf("list-companies: results is not an array: %s", body)
	}
	if err := doc.Components.Schemas["PagingInfo"].Value.VisitJSON(page); err != nil {
		t.Errorf("list-companies: the paging does not match Codat's PagingInfo: %v", err)
	}
	for i, r := range results {
		checkCompanyValue(t, doc, fmt.Sprintf("list-companies result %d", i), r)
	}
}

func checkCompanyValue(t *testing.T, doc *openapi3.T, what string, v any) {
	t.Helper()
	props := openapi3.Schemas{}
	for _, part := range doc.Components.Schemas["Company"].Value.AllOf {
		for name, prop := range part.Value.Properties {
			props[name] = prop
		}
	}
	if len(props) < 5 {
		t.Fatalf("Codat's Company has only %d properties here: the spec did not load as expected", len(props))
	}
	company, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%s: not a JSON object: %v", what, v)
	}
	for name, v := range company {
		prop := props[name]
		if prop == nil {
			t.Errorf("%s: %s is not a property of Codat's Company", what, name)
			continue
		}
		if err := prop.Value.VisitJSON(v); err != nil {
			t.Errorf("%s: %s does not match Codat's Company: %v", what, name, err)
		}
	}
	for _, part := range doc.Components.Schemas["Company"].Value.AllOf {
		for _, name := range part.Value.Required {
			if _, ok := company[name]; !ok {
				t.Errorf("%s: Codat's Company requires %s", what, name)
			}
		}
	}
	if path := nullAt(v, "$"); path != "" {
		t.Errorf("%s: a null at %s, which OpenAPI 3.1 does not allow there", what, path)
	}
}

// TestOperationsTableMatchesCodatsSpec checks every row of codatapi.Operations against Codat's
// official spec: the operation exists, a write is any method but GET, and an operation is company
// level exactly when its path names a company and no connection (its 404 then means the company is
// gone). Every operation of the spec's company and connection paths has a row.
func TestOperationsTableMatchesCodatsSpec(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromFile(officialSpec)
	if err != nil {
		t.Fatalf("load %s: %v", officialSpec, err)
	}
	type found struct{ method, path string }
	byID := map[string]found{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			byID[op.OperationID] = found{method, path}
		}
	}
	names := map[string]bool{}
	for _, op := range codatapi.Operations {
		if names[op.Name] {
			t.Errorf("%s is listed twice", op.Name)
		}
		names[op.Name] = true
		spec, ok := byID[op.Name]
		if !ok {
			t.Errorf("%s is not an operationId of Codat's spec", op.Name)
			continue
		}
		if op.Verb == "" {
			t.Errorf("%s has no verb for messages", op.Name)
		}
		if write := spec.method != http.MethodGet; op.Write != write {
			t.Errorf("%s (%s %s): Write is %t, want %t", op.Name, spec.method, spec.path, op.Write, write)
		}
		companyLevel := strings.Contains(spec.path, "{companyId}") && !strings.Contains(spec.path, "{connectionId}")
		if op.CompanyLevel != companyLevel {
			t.Errorf("%s (%s %s): CompanyLevel is %t, want %t", op.Name, spec.method, spec.path, op.CompanyLevel, companyLevel)
		}
		if got, ok := codatapi.OperationNamed(op.Name); !ok || got != op {
			t.Errorf("OperationNamed(%s) = %+v, %t", op.Name, got, ok)
		}
	}
	for id, spec := range byID {
		if (spec.path == "/companies" || strings.HasPrefix(spec.path, "/companies/{companyId}/connections") ||
			spec.path == "/companies/{companyId}") && !names[id] {
			t.Errorf("%s (%s %s) has no row in codatapi.Operations", id, spec.method, spec.path)
		}
	}
	if _, ok := codatapi.OperationNamed("not-an-operation"); ok {
		t.Error("OperationNamed found an operation that is not in the table")
	}
}
