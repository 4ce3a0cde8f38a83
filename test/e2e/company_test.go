package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// companySample is one file with a CodatCompany and two CodatConnections that name it.
var companySample = filepath.Join(root, "config", "samples", "codat_v1alpha1_codatcompany.yaml")

type simCompany struct {
	ID, Name, Description, Redirect string
	Tags                            map[string]string
}

// companies lists the simulator's companies, whole.
func (s *sim) companies(t *testing.T) []simCompany {
	t.Helper()
	var ids struct{ Companies []string }
	s.get(t, "companies", &ids)
	var out []simCompany
	for _, id := range ids.Companies {
		var c simCompany
		if s.get(t, "companies/"+id, &c) == http.StatusOK {
			out = append(out, c)
		}
	}
	return out
}

// company returns the simulator's company, or nil once it is gone.
func (s *sim) company(t *testing.T, id string) *simCompany {
	t.Helper()
	var c simCompany
	if s.get(t, "companies/"+id, &c) != http.StatusOK {
		return nil
	}
	return &c
}

// Onboarding a business in one kubectl apply: the company and its two connections, in one file,
// give a company in Codat with the spec's name and tags, and two connections in it whose link
// URLs wait for the business. Deleted in the documented order (the connections, then the company
// with deletionPolicy Delete), nothing is left in Codat; with Orphan, everything is.
func TestCompanyOnboarding(t *testing.T) {
	for _, tc := range []struct {
		ns     string
		orphan bool
	}{{"e2e-onboard", false}, {"e2e-onboard-orphan", true}} {
		t.Run(tc.ns, func(t *testing.T) {
			s := startSim(t)
			ns := newNamespace(t, tc.ns)
			if tc.orphan {
				// The platform team's default for the namespace's connections; a company is Orphan
				// unless it says Delete.
				kubectl(t, "annotate", "namespace", ns, "codat.io/default-deletion-policy=Orphan")
			}
			startManager(t, "manager", ns, s.URL)
			kubectl(t, "apply", "-n", ns, "-f", companySample)
			kubectl(t, "wait", "-n", ns, "--timeout=60s", "--for=condition=Ready", "codatcompany/wayne-trading")
			id := kubectl(t, "get", "codatcompany", "wayne-trading", "-n", ns, "-o", "jsonpath={.status.companyId}")
			c := s.company(t, id)
			if c == nil || c.Name != "Wayne Trading Ltd" || c.Tags["region"] != "uk" || c.Tags["crm-id"] != "4711" {
				t.Fatalf("the company in the simulator: %+v", c)
			}
			if redirect := kubectl(t, "get", "codatcompany", "wayne-trading", "-n", ns, "-o", "jsonpath={.status.redirect}"); redirect == "" || redirect != c.Redirect {
				t.Fatalf("status.redirect %q, the simulator's %q", redirect, c.Redirect)
			}
			for _, conn := range []string{"wayne-trading-xero", "wayne-trading-plaid"} {
				kubectl(t, "wait", "-n", ns, "--timeout=60s", "--for=jsonpath={.status.connectionStatus}=PendingAuth", "codatconnection/"+conn)
				if link := kubectl(t, "get", "codatconnection", conn, "-n", ns, "-o", "jsonpath={.status.linkUrl}"); link == "" {
					t.Fatalf("%s has no link URL", conn)
				}
				if got := kubectl(t, "get", "codatconnection", conn, "-n", ns, "-o", "jsonpath={.status.companyId}"); got != id {
					t.Fatalf("%s belongs to company %q, want %s", conn, got, id)
				}
			}
			if conns := s.connections(t, id); len(conns) != 2 {
				t.Fatalf("the company has %d connections in the simulator, want 2: %+v", len(conns), conns)
			}

			if !tc.orphan {
				kubectl(t, "patch", "codatcompany", "wayne-trading", "-n", ns, "--type=merge", "-p", `{"spec":{"deletionPolicy":"Delete"}}`)
				kubectl(t, "wait", "-n", ns, "--timeout=60s", "--for=jsonpath={.status.deletionPolicy}=Delete", "codatcompany/wayne-trading")
			}
			// The documented order: the connections first, then the company.
			kubectl(t, "delete", "-n", ns, "--timeout=60s", "codatconnection", "wayne-trading-xero", "wayne-trading-plaid")
			kubectl(t, "delete", "-n", ns, "--timeout=60s", "codatcompany", "wayne-trading")
			switch c := s.company(t, id); {
			case tc.orphan && (c == nil || len(s.connections(t, id)) != 2):
				t.Fatalf("with Orphan the company and its two connections stay in Codat; the simulator has %+v", c)
			case !tc.orphan && c != nil:
				t.Fatalf("with Delete the company is deleted in Codat; the simulator still has %+v", c)
			}
		})
	}
}

// A CodatCompany whose deletion waits for the connections that use it says which, and goes once
// they are gone, whatever the order they are deleted in.
func TestCompanyWaitsForItsConnections(t *testing.T) {
	s := startSim(t)
	ns := newNamespace(t, "e2e-company-in-use")
	startManager(t, "manager", ns, s.URL)
	kubectl(t, "apply", "-n", ns, "-f", companySample)
	kubectl(t, "wait", "-n", ns, "--timeout=60s", "--for=jsonpath={.status.connectionStatus}=PendingAuth", "codatconnection/wayne-trading-xero", "codatconnection/wayne-trading-plaid")
	kubectl(t, "patch", "codatcompany", "wayne-trading", "-n", ns, "--type=merge", "-p", `{"spec":{"deletionPolicy":"Delete"}}`)
	kubectl(t, "wait", "-n", ns, "--timeout=60s", "--for=jsonpath={.status.deletionPolicy}=Delete", "codatcompany/wayne-trading")
	id := kubectl(t, "get", "codatcompany", "wayne-trading", "-n", ns, "-o", "jsonpath={.status.companyId}")

	// The company first: it waits, and says for which connections.
	kubectl(t, "delete", "-n", ns, "codatcompany", "wayne-trading", "--wait=false")
	kubectl(t, "wait", "-n", ns, "--timeout=60s", "--for=jsonpath={.status.conditions[?(@.type==\"Ready\")].reason}=CompanyInUse", "codatcompany/wayne-trading")
	message := kubectl(t, "get", "codatcompany", "wayne-trading", "-n", ns, "-o", "jsonpath={.status.conditions[?(@.type==\"Ready\")].message}")
	for _, conn := range []string{"wayne-trading-xero", "wayne-trading-plaid"} {
		if !strings.Contains(message, ns+"/"+conn) {
			t.Fatalf("the CompanyInUse message does not name %s: %q", conn, message)
		}
	}
	if s.company(t, id) == nil {
		t.Fatal("the company was deleted in Codat while connections used it")
	}
	kubectl(t, "delete", "-n", ns, "--timeout=60s", "codatconnection", "wayne-trading-xero", "wayne-trading-plaid")
	kubectl(t, "wait", "-n", ns, "--timeout=60s", "--for=delete", "codatcompany/wayne-trading")
	if c := s.company(t, id); c != nil {
		t.Fatalf("the simulator still has the company: %+v", c)
	}
}

// TestCompanyCrashMidCreate applies 40 CodatCompanies, kills the manager with SIGKILL while it is
// creating them (Codat answering slowly, so that creates land after the manager died), and starts
// it again: every object ends with exactly one company in Codat, the one carrying its UID.
func TestCompanyCrashMidCreate(t *testing.T) {
	const n = 40
	ns := newNamespace(t, "e2e-company-crash")
	var yaml strings.Builder
	for i := range n {
		fmt.Fprintf(&yaml, "---\napiVersion: codat.io/v1alpha1\nkind: CodatCompany\nmetadata:\n  name: company-%02d\nspec:\n  name: Company %02d\n", i, i)
	}
	manifest := filepath.Join(t.TempDir(), "companies.yaml")
	if err := os.WriteFile(manifest, []byte(yaml.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startSim(t)
	s.put(t, "faults", `{"latency": "100ms"}`)
	kubectl(t, "apply", "-n", ns, "-f", manifest)
	mgr := startManager(t, "manager", ns, s.URL)
	creates := func() int {
		var counts struct{ Operations map[string]int }
		s.get(t, "counts", &counts)
		return counts.Operations["create-company"]
	}
	for deadline := time.Now().Add(60 * time.Second); creates() < 10; time.Sleep(5 * time.Millisecond) {
		if mgr.exited() || time.Now().After(deadline) {
			t.Fatalf("the simulator saw %d creates; the manager:\n%s", creates(), mgr.tail(40))
		}
	}
	mgr.signal(syscall.SIGKILL)
	if !mgr.wait(10 * time.Second) {
		t.Fatal("the manager survived SIGKILL")
	}
	time.Sleep(200 * time.Millisecond) // the creates in flight land
	startManager(t, "manager-restarted", ns, s.URL)
	uids := map[string]string{} // object -> UID
	eventually(t, 120*time.Second, "every CodatCompany to be Ready", func() (bool, string) {
		out := kubectl(t, "get", "codatcompanies", "-n", ns, "-o",
			`jsonpath={range .items[*]}{.metadata.name}={.metadata.uid}={.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}`)
		clear(uids)
		var notReady []string
		for _, line := range strings.Fields(out) {
			parts := strings.Split(line, "=")
			uids[parts[0]] = parts[1]
			if parts[2] != "True" {
				notReady = append(notReady, parts[0])
			}
		}
		return len(uids) == n && len(notReady) == 0, fmt.Sprintf("%d objects, not Ready: %v", len(uids), first(notReady, 10))
	})
	byUID := map[string]int{}
	for _, c := range s.companies(t) {
		byUID[c.Tags["codat-operator-uid"]]++
	}
	var problems []string
	for name, uid := range uids {
		if byUID[uid] != 1 {
			problems = append(problems, fmt.Sprintf("%s: %d companies carry its UID", name, byUID[uid]))
		}
	}
	if len(problems) > 0 || len(s.companies(t)) != n {
		t.Fatalf("%d companies in the simulator for %d objects; %v", len(s.companies(t)), n, first(problems, 10))
	}
}
