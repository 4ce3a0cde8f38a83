package e2e

import (
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The companies of config/samples, and the connection that initech-sandbox adopts.
const (
	acmeCompany     = "8a210b68-6988-11ed-a1eb-0242ac120002"
	globexCompany   = "2f4e1c3a-5b6d-4e7f-8a9b-0c1d2e3f4a5b"
	initechCompany  = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
	initechAdopted  = "3f0c2a7e-9b1d-4c55-8e21-6a7d0b9c1e42"
	umbrellaCompany = "0b5d6e7f-8a9b-4c1d-9e2f-3a4b5c6d7e8f"
	hooliCompany    = "9b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e"
)

// TestSamples applies config/samples with kubectl, checks what `kubectl get` shows, authorizes a
// connection as the business would, unlinks it, and deletes objects under each deletion policy.
func TestSamples(t *testing.T) {
	ns := newNamespace(t, "e2e-samples")
	s := startSim(t,
		"--company", strings.Join([]string{acmeCompany, globexCompany, initechCompany, umbrellaCompany, hooliCompany}, ","),
		"--connection", initechCompany+":"+initechAdopted+":mqjo:Linked")
	metricsAddr := freeAddr(t)
	startManager(t, "manager", ns, s.URL, "--pending-auth-poll-interval", "1s", "--metrics-bind-address", metricsAddr, "--metrics-secure=false")

	kubectl(t, "apply", "-n", ns, "-k", root+"/config/samples")

	// What each sample settles to before anyone authorizes anything.
	want := map[string]struct{ status, ready string }{
		"acme-xero":         {"PendingAuth", "False"},
		"globex-quickbooks": {"PendingAuth", "True"}, // desired Unlinked: not linked is what was asked
		"hooli-stripe":      {"PendingAuth", "False"},
		"initech-sandbox":   {"Linked", "True"}, // adopted, already Linked in Codat
		"umbrella-xero":     {"Linked", "True"}, // authorized with the tokens of its Secret
		// In the company the CodatCompany of the same file created (spec.companyRef).
		"wayne-trading-xero":  {"PendingAuth", "False"},
		"wayne-trading-plaid": {"PendingAuth", "False"},
	}
	for name, w := range want {
		kubectl(t, "wait", "-n", ns, "--timeout=60s", "--for=jsonpath={.status.connectionStatus}="+w.status, "codatconnection/"+name)
		kubectl(t, "wait", "-n", ns, "--timeout=60s", "--for=condition=Ready="+w.ready, "codatconnection/"+name)
	}
	kubectl(t, "wait", "-n", ns, "--timeout=60s", "--for=condition=Ready", "codatcompany/wayne-trading")

	// The metrics count the objects by Codat's status and Ready's reason, and
	// every metric of the operator's own is in docs/operations.md. The gauges count
	// the manager's cache, which hears of the last status write a moment after kubectl.
	wantSeries := map[string]float64{
		`codat_connections{connection_status="Linked",namespace="` + ns + `",ready="True",ready_reason="Linked"}`:                      2,
		`codat_connections{connection_status="PendingAuth",namespace="` + ns + `",ready="False",ready_reason="AwaitingAuthorization"}`: 4,
		`codat_connections{connection_status="PendingAuth",namespace="` + ns + `",ready="True",ready_reason="Unlinked"}`:               1,
	}
	var metrics exported
	eventually(t, 10*time.Second, "the codat_connections gauges to count the samples", func() (bool, string) {
		metrics = scrapeMetrics(t, "http://"+metricsAddr+"/metrics")
		var wrong []string
		for series, want := range wantSeries {
			if got, ok := metrics.series[series]; !ok || got != want {
				wrong = append(wrong, fmt.Sprintf("%s = %v (exported: %v), want %v", series, got, ok, want))
			}
		}
		return len(wrong) == 0, strings.Join(wrong, "\n")
	})
	documented := documentedMetrics(t)
	for name := range metrics.families {
		if strings.HasPrefix(name, "codat_") && !documented[name] {
			t.Errorf("the manager exports %s, which docs/operations.md's metrics table does not list", name)
		}
	}
	for _, name := range []string{"codat_connections", "codat_client_requests_total", "codat_client_rate_limit_remaining", "codat_requests_budget_mode"} {
		if !metrics.families[name] {
			t.Errorf("the manager does not export %s", name)
		}
	}

	// The printer columns.
	rows := table(t, kubectl(t, "get", "codatconnections", "-n", ns))
	if got := strings.Join(rows[0], " "); got != "NAME PLATFORM DESIRED STATUS READY SYNCED REASON AGE" {
		t.Fatalf("header %q", got)
	}
	wantRows := map[string]string{
		"acme-xero":         "gbol Linked PendingAuth False True AwaitingAuthorization",
		"globex-quickbooks": "qhyg Unlinked PendingAuth True True Unlinked",
		"hooli-stripe":      "exgd Linked PendingAuth False True AwaitingAuthorization",
		"initech-sandbox":   "mqjo Linked Linked True True Linked",
		"umbrella-xero":     "gbol Linked Linked True True Linked",
		// The wayne-trading connections (spec.companyRef) of the company sample.
		"wayne-trading-xero":  "gbol Linked PendingAuth False True AwaitingAuthorization",
		"wayne-trading-plaid": "suuo Linked PendingAuth False True AwaitingAuthorization",
	}
	if len(rows) != 1+len(wantRows) {
		t.Fatalf("kubectl get shows %d rows: %v", len(rows)-1, rows)
	}
	for _, r := range rows[1:] {
		if got := strings.Join(r[1:7], " "); got != wantRows[r[0]] {
			t.Errorf("row %s: %q, want %q", r[0], got, wantRows[r[0]])
		}
	}

	// -o wide adds the company, the connection id (the one in Codat), what deleting the object does
	// in Codat (an adopted connection is left alone) and the CodatCompany a connection may name
	// instead of a company id.
	acme := s.connections(t, acmeCompany)
	if len(acme) != 1 || acme[0].Status != "PendingAuth" {
		t.Fatalf("acme's connections in the simulator: %+v", acme)
	}
	wide := table(t, kubectl(t, "get", "codatconnections", "-n", ns, "-o", "wide"))
	if got := strings.Join(wide[0], " "); got != "NAME PLATFORM DESIRED STATUS READY SYNCED REASON AGE COMPANY CONNECTION ON-DELETE COMPANY-REF" {
		t.Fatalf("wide header %q", got)
	}
	for _, r := range wide[1:] {
		switch r[0] {
		case "acme-xero":
			if got := strings.Join(r[8:], " "); got != acmeCompany+" "+acme[0].ID+" Delete" {
				t.Errorf("wide row of acme-xero: %q", got)
			}
		case "initech-sandbox":
			if r[9] != initechAdopted || r[10] != "Unlink" {
				t.Errorf("initech-sandbox did not adopt %s, to be unlinked on delete as its spec says: %v", initechAdopted, r)
			}
		}
	}

	// Play the business: open acme-xero's linkUrl.
	linkURL := kubectl(t, "get", "codatconnection", "acme-xero", "-n", ns, "-o", "jsonpath={.status.linkUrl}")
	if linkURL != acme[0].LinkURL {
		t.Fatalf("status.linkUrl %q, the simulator's %q", linkURL, acme[0].LinkURL)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, linkURL, http.NoBody)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET linkUrl: %s", resp.Status)
	}
	kubectl(t, "wait", "-n", ns, "--timeout=60s", "--for=condition=Ready", "codatconnection/acme-xero")
	if got := kubectl(t, "get", "codatconnection", "acme-xero", "-n", ns, "-o", "jsonpath={.status.connectionStatus}"); got != "Linked" {
		t.Fatalf("acme-xero is Ready with connectionStatus %q", got)
	}

	// state: Unlinked unlinks it in Codat.
	kubectl(t, "patch", "codatconnection", "acme-xero", "-n", ns, "--type=merge", "-p", `{"spec":{"state":"Unlinked"}}`)
	eventually(t, 60*time.Second, "acme-xero to be Unlinked in the simulator", func() (bool, string) {
		c := s.connections(t, acmeCompany)
		return len(c) == 1 && c[0].Status == "Unlinked", strings.TrimSpace(kubectl(t, "get", "codatconnection", "acme-xero", "-n", ns, "-o", "wide"))
	})
	kubectl(t, "wait", "-n", ns, "--timeout=60s", "--for=jsonpath={.status.connectionStatus}=Unlinked", "codatconnection/acme-xero")

	// Deleting: Delete (the default) deletes it in Codat, Orphan leaves it, Unlink unlinks it.
	kubectl(t, "delete", "-n", ns, "--timeout=60s", "codatconnection", "acme-xero", "hooli-stripe", "initech-sandbox")
	if c := s.connections(t, acmeCompany); len(c) != 0 {
		t.Errorf("deletionPolicy Delete: the simulator still has %+v", c)
	}
	if c := s.connections(t, hooliCompany); len(c) != 1 || c[0].Status != "PendingAuth" {
		t.Errorf("deletionPolicy Orphan: the simulator has %+v, want the PendingAuth connection", c)
	}
	if c := s.connections(t, initechCompany); len(c) != 1 || c[0].ID != initechAdopted || c[0].Status != "Unlinked" {
		t.Errorf("deletionPolicy Unlink: the simulator has %+v, want %s Unlinked", c, initechAdopted)
	}
}

// table splits kubectl's table output into rows of fields.
func table(t *testing.T, out string) [][]string {
	t.Helper()
	var rows [][]string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		rows = append(rows, strings.Fields(line))
	}
	if len(rows) < 2 {
		t.Fatalf("kubectl get printed no rows:\n%s", out)
	}
	return rows
}

// exported is what a Prometheus scrape of the manager returned.
type exported struct {
	families map[string]bool    // metric names with a HELP line
	series   map[string]float64 // `name{labels}` as exposed, to the value
}

func scrapeMetrics(t *testing.T, url string) exported {
	t.Helper()
	out := exported{families: map[string]bool{}, series: map[string]float64{}}
	for _, line := range strings.Split(httpGet(t, url), "\n") {
		if rest, ok := strings.CutPrefix(line, "# HELP "); ok {
			name, _, _ := strings.Cut(rest, " ")
			out.families[name] = true
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out.series[line[:i]] = v
	}
	return out
}

// documentedMetrics are the names in the first column of docs/operations.md's
// metrics table.
func documentedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	_, section, ok := strings.Cut(readFile(filepath.Join(root, "docs", "operations.md")), "\n## Metrics\n")
	if !ok {
		t.Fatal("docs/operations.md has no Metrics section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	names := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `(codat_[a-z_]+)`").FindAllStringSubmatch(section, -1) {
		names[m[1]] = true
	}
	if len(names) == 0 {
		t.Fatal("docs/operations.md's Metrics section has no table of codat_ metrics")
	}
	return names
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().String()
}
