package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

const manyObjects = 200

// TestCrashMidCreate applies 200 CodatConnections, kills the manager with SIGKILL while it is
// creating their connections, and starts it again: every object ends with exactly one connection,
// none is created twice, and deleting them all deletes every connection.
func TestCrashMidCreate(t *testing.T) {
	crashTest(t, "e2e-crash", "")
}

// TestCrashMidCreateWithFaults is TestCrashMidCreate with Codat losing 20% of create responses
// (the connection is made, the reply never arrives) and failing 20% of other requests with 500.
func TestCrashMidCreateWithFaults(t *testing.T) {
	crashTest(t, "e2e-crash-faults", `{
		"loseCreateResponseRate": 0.2,
		"errorRate": {"list-connections": 0.2, "get-connection": 0.2, "delete-connection": 0.2,
			"unlink-connection": 0.2, "update-connection-authorization": 0.2},
		"errorStatus": 500}`)
}

func crashTest(t *testing.T, base, faults string) {
	ns := newNamespace(t, base)
	// One company per object (distinct ids per namespace), so every create and list is checked.
	companies := make([]string, manyObjects)
	var yaml strings.Builder
	for i := range companies {
		companies[i] = fmt.Sprintf("%08x-0000-4000-8000-%012x", len(ns), i)
		fmt.Fprintf(&yaml, "---\napiVersion: codat.io/v1alpha1\nkind: CodatConnection\nmetadata:\n  name: conn-%03d\nspec:\n  companyId: %s\n  platformKey: %s\n",
			i, companies[i], []string{"gbol", "qhyg", "mqjo"}[i%3])
	}
	manifest := filepath.Join(t.TempDir(), "connections.yaml")
	if err := os.WriteFile(manifest, []byte(yaml.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startSim(t, "--company", strings.Join(companies, ","))
	// Latency keeps creates in flight when the manager dies: the simulator still commits them,
	// after the manager is gone, which is the window between the POST and the status write.
	if faults == "" {
		faults = "{}"
	}
	faults = strings.Replace(faults, "{", `{"latency": "100ms", `, 1)
	faults = strings.Replace(faults, `, }`, "}", 1)
	s.put(t, "faults", faults)
	// All 200 objects exist before the manager starts (kubectl takes seconds to apply them), so
	// that it is killed while it has many to create. Nobody authorizes them: poll PendingAuth rarely.
	kubectl(t, "apply", "-n", ns, "-f", manifest)
	mgr := startManager(t, "manager", ns, s.URL, "--pending-auth-poll-interval", "5m")
	for deadline := time.Now().Add(120 * time.Second); s.createCount(t) < 50; time.Sleep(5 * time.Millisecond) {
		if mgr.exited() {
			t.Fatalf("the manager exited:\n%s", mgr.tail(40))
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for the simulator to see 50 creates; it saw %d", s.createCount(t))
		}
	}
	seen := s.createCount(t)
	mgr.signal(syscall.SIGKILL)
	if !mgr.wait(10 * time.Second) {
		t.Fatal("the manager survived SIGKILL")
	}
	pending := kubectl(t, "get", "codatconnections", "-n", ns, "-o",
		`jsonpath={range .items[?(@.metadata.annotations.codat\.io/create-pending)]}{.metadata.name}={.status.connectionId}{"\n"}{end}`)
	inWindow := 0
	for _, line := range strings.Fields(pending) {
		if strings.HasSuffix(line, "=") {
			inWindow++
		}
	}
	time.Sleep(200 * time.Millisecond) // let the creates in flight land (latency): the count is for the log only
	t.Logf("killed the manager when the simulator had seen %d creates (%d with those in flight); %d objects had a create pending and no connection id", seen, s.createCount(t), inWindow)

	mgr2 := startManager(t, "manager-restarted", ns, s.URL, "--pending-auth-poll-interval", "5m")
	ids := map[string]string{} // object -> status.connectionId
	eventually(t, 180*time.Second, "every object to have a connection id", func() (bool, string) {
		if mgr2.exited() {
			t.Fatalf("the restarted manager exited:\n%s", mgr2.tail(40))
		}
		out := kubectl(t, "get", "codatconnections", "-n", ns, "-o",
			`jsonpath={range .items[*]}{.metadata.name}={.status.connectionId}{"\n"}{end}`)
		clear(ids)
		var without []string
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			name, id, _ := strings.Cut(line, "=")
			if id == "" {
				without = append(without, name)
			}
			ids[name] = id
		}
		return len(ids) == manyObjects && len(without) == 0,
			fmt.Sprintf("%d objects, %d without a connection id: %v", len(ids), len(without), first(without, 10))
	})

	// Exactly one connection per object in the simulator, the one in its status, created once.
	creates := s.committedCreates(t)
	var problems []string
	for i, company := range companies {
		name := fmt.Sprintf("conn-%03d", i)
		conns := s.connections(t, company)
		if len(conns) != 1 || conns[0].ID != ids[name] {
			problems = append(problems, fmt.Sprintf("%s: status.connectionId %s, the simulator has %+v", name, ids[name], conns))
		}
		if creates[company] != 1 {
			problems = append(problems, fmt.Sprintf("%s: %d committed creates", name, creates[company]))
		}
	}
	if len(problems) > 0 {
		t.Fatalf("%d problems, e.g.:\n%s", len(problems), strings.Join(first(problems, 20), "\n"))
	}

	// Delete them all (deletionPolicy Delete): the simulator keeps none.
	kubectl(t, "delete", "codatconnections", "--all", "-n", ns, "--wait=false")
	eventually(t, 180*time.Second, "every CodatConnection to be deleted", func() (bool, string) {
		if mgr2.exited() {
			t.Fatalf("the restarted manager exited:\n%s", mgr2.tail(40))
		}
		out := strings.TrimSpace(kubectl(t, "get", "codatconnections", "-n", ns, "-o", "name"))
		left := strings.Fields(out)
		return len(left) == 0, fmt.Sprintf("%d left: %v", len(left), first(left, 10))
	})
	var orphans []string
	for _, company := range companies {
		for _, c := range s.connections(t, company) {
			orphans = append(orphans, company+"/"+c.ID)
		}
	}
	if len(orphans) > 0 {
		t.Fatalf("%d connections left in the simulator after deleting every object: %v", len(orphans), first(orphans, 10))
	}
	total := 0
	for _, n := range s.committedCreates(t) {
		total += n
	}
	if total != manyObjects {
		t.Fatalf("%d committed creates in all, want %d", total, manyObjects)
	}
}

func first(s []string, n int) []string {
	sort.Strings(s)
	return s[:min(n, len(s))]
}
