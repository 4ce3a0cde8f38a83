package codatsim_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/codat-operator/codat-operator/internal/codatapi"
	"github.com/codat-operator/codat-operator/internal/codatsim"
)

func decode[T any](t *testing.T, body []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return v
}

func TestAdminAPI(t *testing.T) {
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

	expect("POST", "/_sim/companies", `{"id":"`+company+`"}`, http.StatusCreated)
	expect("POST", "/_sim/companies", `{"name":"x"}`, http.StatusBadRequest)
	if got := decode[map[string][]string](t, expect("GET", "/_sim/companies", "", 200)); len(got["companies"]) != 1 {
		t.Fatalf("companies %v", got)
	}
	expect("GET", "/_sim/companies/"+other+"/connections", "", http.StatusNotFound)

	c := f.create("mqjo")
	conns := decode[[]codatsim.Connection](t, expect("GET", "/_sim/companies/"+company+"/connections", "", 200))
	if len(conns) != 1 || conns[0].ID != c.ID {
		t.Fatalf("connections %+v", conns)
	}
	connPath := "/_sim/companies/" + company + "/connections/" + c.ID
	if got := decode[codatsim.Connection](t, expect("POST", connPath+"/link", "", 200)); got.Status != codatapi.StatusLinked {
		t.Fatalf("link: %+v", got)
	}
	if got := decode[codatsim.Connection](t, expect("POST", connPath+"/deauthorize", "", 200)); got.Status != codatapi.StatusDeauthorized {
		t.Fatalf("deauthorize: %+v", got)
	}
	if got := decode[codatsim.Connection](t, expect("GET", connPath, "", 200)); got.Status != codatapi.StatusDeauthorized {
		t.Fatalf("get: %+v", got)
	}
	expect("DELETE", connPath, "", http.StatusNoContent)
	expect("DELETE", connPath, "", http.StatusNotFound)
	expect("POST", connPath+"/link", "", http.StatusNotFound)

	// Faults as JSON, with durations as strings.
	faults := decode[codatsim.Faults](t, expect("PUT", "/_sim/faults",
		`{"latency":"1ms","errorRate":{"get-connection":0.5},"errorStatus":503,"rateLimitNext":1,"retryAfter":"2s","quota":100,"quotaWindow":"1h","quotaUsed":3,"loseCreateResponseNext":1}`, 200))
	want := codatsim.Faults{Latency: time.Millisecond, ErrorRate: map[string]float64{"get-connection": 0.5}, ErrorStatus: 503,
		RateLimitNext: 1, RetryAfter: 2 * time.Second, Quota: 100, QuotaWindow: time.Hour, QuotaUsed: 3, LoseCreateResponseNext: 1}
	if got, _ := json.Marshal(faults); !bytes.Equal(got, mustJSON(t, want)) {
		t.Fatalf("faults %s, want %s", got, mustJSON(t, want))
	}
	expect("PUT", "/_sim/faults", `{"latencyy":"1ms"}`, http.StatusBadRequest)
	expect("PUT", "/_sim/faults", `{"latency":"soon"}`, http.StatusBadRequest)
	expect("PUT", "/_sim/faults", `{"errorRate":{"nope":1}}`, http.StatusBadRequest)
	status, h, _ := f.do("GET", "/companies/"+company+"/connections", auth, "")
	if status != 429 || h.Get("Retry-After") != "2" {
		t.Fatalf("rateLimitNext via admin: %d %q", status, h.Get("Retry-After"))
	}
	expect("PUT", "/_sim/faults", `{}`, 200)
	expect("POST", "/_sim/quota/reset", "", http.StatusNoContent)

	counts := decode[codatsim.Counters](t, expect("GET", "/_sim/counts", "", 200))
	if counts.Operations[codatapi.OpCreateConnection] != 1 || counts.Operations[codatapi.OpListConnections] != 1 ||
		counts.Statuses[codatapi.OpListConnections]["429"] != 1 || counts.MaxInFlight[company] != 1 {
		t.Fatalf("counts %+v", counts)
	}
	reqs := decode[[]codatsim.Request](t, expect("GET", "/_sim/requests", "", 200))
	if len(reqs) != 2 || reqs[0].Operation != codatapi.OpCreateConnection || reqs[0].CompanyID != company || reqs[1].StatusCode != http.StatusTooManyRequests {
		t.Fatalf("requests %+v", reqs)
	}
	expect("POST", "/_sim/reset-counts", "", http.StatusNoContent)
	if counts := decode[codatsim.Counters](t, expect("GET", "/_sim/counts", "", 200)); len(counts.Operations) != 0 {
		t.Fatalf("counts after reset-counts %+v", counts)
	}

	expect("POST", "/_sim/platforms", `{"key":"abcd","name":"Test Books","sourceType":"Accounting"}`, http.StatusCreated)
	expect("POST", "/_sim/platforms", `{"key":"toolong","name":"x","sourceType":"Accounting"}`, http.StatusBadRequest)
	if ps := decode[[]codatsim.Platform](t, expect("GET", "/_sim/platforms", "", 200)); !containsPlatform(ps, "abcd") || !containsPlatform(ps, "mqjo") {
		t.Fatalf("platforms %+v", ps)
	}
	expect("POST", "/_sim/api-keys", `{"key":"k2"}`, http.StatusNoContent)

	expect("POST", "/_sim/reset", "", http.StatusNoContent)
	if got := decode[map[string][]string](t, expect("GET", "/_sim/companies", "", 200)); len(got["companies"]) != 0 {
		t.Fatalf("companies after reset %v", got)
	}
	if b := expect("GET", "/_sim/nope", "", http.StatusNotFound); !strings.Contains(string(b), "docs/simulator.md") {
		t.Fatalf("unknown admin path: %s", b)
	}
}

func containsPlatform(ps []codatsim.Platform, key string) bool {
	for _, p := range ps {
		if p.Key == key {
			return true
		}
	}
	return false
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOnRequestSeesEveryRequest(t *testing.T) {
	var ops []string
	f := newFixture(t, codatsim.Options{OnRequest: func(r codatsim.Request) { ops = append(ops, r.Operation) }})
	f.do("GET", "/companies/"+company+"/connections", auth, "")
	f.do("GET", "/_sim/counts", "", "")
	if strings.Join(ops, ",") != "list-connections,admin" {
		t.Fatalf("OnRequest saw %v", ops)
	}
}

// The admin API's routing: each route's methods (some take PUT or POST), a 404 with the same body
// for an unknown path and for a known path with another method (HEAD included), slashes at either
// end ignored, the decoded path matched segment by segment, and never a redirect.
func TestAdminRouting(t *testing.T) {
	sim := codatsim.New(codatsim.Options{Companies: []string{company}, Seed: 1})
	const noSuchEndpoint = `{"error":"no such admin endpoint; see docs/simulator.md"}`
	companyPath := "/_sim/companies/" + company
	tests := []struct {
		method, target, body string
		want                 int
		wantBody             string // the whole body as compact JSON; "" checks the status only
	}{
		{"GET", "/_sim/counts", "", http.StatusOK, ""},
		{"GET", "/_sim/counts/", "", http.StatusOK, ""},
		{"GET", "/_sim//counts//", "", http.StatusOK, ""},
		{"DELETE", "/_sim/counts", "", http.StatusNotFound, noSuchEndpoint},
		{"HEAD", "/_sim/counts", "", http.StatusNotFound, ""},
		{"PUT", "/_sim/companies", "", http.StatusNotFound, noSuchEndpoint},
		{"GET", "/_sim/reset", "", http.StatusNotFound, noSuchEndpoint},
		{"GET", "/_sim/nope", "", http.StatusNotFound, noSuchEndpoint},
		{"GET", "/_sim", "", http.StatusNotFound, noSuchEndpoint},
		{"GET", "/_sim/", "", http.StatusNotFound, noSuchEndpoint},
		{"GET", "/_sim/companies//connections", "", http.StatusNotFound, noSuchEndpoint},
		{"GET", companyPath + "%2Fconnections", "", http.StatusOK, "[]"},
		{"GET", "/_sim/companies/./connections", "", http.StatusNotFound, `{"error":"company not found"}`},
		{"GET", "/_sim/webhooks/rate-limit", "", http.StatusNotFound, noSuchEndpoint},
		{"DELETE", "/_sim/webhooks/deliveries", "", http.StatusNoContent, ""},
		{"PUT", companyPath + "/fail", `{"status":0}`, http.StatusNoContent, ""},
		{"POST", companyPath + "/fail", `{"status":0}`, http.StatusNoContent, ""},
		{"PATCH", companyPath + "/fail", `{"status":0}`, http.StatusNotFound, noSuchEndpoint},
		{"PUT", companyPath + "/garble", `{"body":""}`, http.StatusNoContent, ""},
		{"POST", companyPath + "/garble", `{"body":""}`, http.StatusNoContent, ""},
		{"PUT", companyPath + "/tags", `{"tags":{}}`, http.StatusNoContent, ""},
		{"POST", companyPath + "/tags", `{"tags":{}}`, http.StatusNoContent, ""},
		{"PUT", "/_sim/faults", `{}`, http.StatusOK, ""},
		{"POST", "/_sim/faults", `{}`, http.StatusOK, ""},
		{"PUT", "/_sim/companies/" + company + "/connections/x/link", "", http.StatusNotFound, noSuchEndpoint},
	}
	for _, tt := range tests {
		w := httptest.NewRecorder()
		sim.ServeHTTP(w, httptest.NewRequest(tt.method, tt.target, strings.NewReader(tt.body)))
		var got bytes.Buffer
		_ = json.Compact(&got, w.Body.Bytes())
		if w.Code != tt.want || (tt.wantBody != "" && got.String() != tt.wantBody) {
			t.Errorf("%s %s: %d %s, want %d %s", tt.method, tt.target, w.Code, w.Body, tt.want, tt.wantBody)
		}
	}
}
