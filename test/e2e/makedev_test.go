package e2e

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMakeDev runs `make dev` as a user would: it comes up with the samples; killed with SIGKILL,
// it leaves processes behind that the next `make dev` stops; SIGTERM then stops everything it
// started and closes its ports.
func TestMakeDev(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatal("make is not on PATH")
	}
	dir := filepath.Join(t.TempDir(), "dev")
	var seen []int // every pid make dev recorded, killed at the end whatever happens
	t.Cleanup(func() {
		for _, pid := range seen {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})

	// First run, then SIGKILL of the dev program itself: what it started keeps running.
	first := startMakeDev(t, "make-dev-1", dir)
	firstPids := devPids(t, dir)
	seen = append(seen, pidsOf(firstPids)...)
	for name, pids := range firstPids {
		if name == "dev" {
			for _, pid := range pids {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	if !first.wait(30 * time.Second) {
		t.Fatal("make did not exit after its dev program was killed")
	}

	// Second run in the same folder: it stops the leftovers and comes up again.
	second := startMakeDev(t, "make-dev-2", dir)
	secondPids := devPids(t, dir)
	seen = append(seen, pidsOf(secondPids)...)
	for _, pid := range pidsOf(firstPids) {
		if alive(pid) {
			t.Errorf("pid %d of the killed run is still running", pid)
		}
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	apiserver := serverOf(t, kubeconfig)
	simURL := regexp.MustCompile(`simulator at (http://\S+),`).FindStringSubmatch(readFile(second.log))
	if simURL == nil {
		t.Fatalf("make dev did not print the simulator's address:\n%s", second.tail(30))
	}
	simAddr := strings.TrimPrefix(simURL[1], "http://")

	// The samples, as the printed next steps show them.
	eventually(t, 60*time.Second, "kubectl get codatconnections -A to list the samples", func() (bool, string) {
		out, _ := exec.Command("kubectl", "--kubeconfig", kubeconfig, "get", "codatconnections", "-A").CombinedOutput()
		for _, name := range []string{"acme-xero", "globex-quickbooks", "hooli-stripe", "initech-sandbox", "umbrella-xero"} {
			if !strings.Contains(string(out), name) {
				return false, string(out)
			}
		}
		return true, ""
	})

	// Play the business as the next steps say: the simulator's webhook turns acme-xero Ready at
	// the default poll intervals.
	receiverURL := regexp.MustCompile(`receiver at (http://\S+);`).FindStringSubmatch(readFile(second.log))
	if receiverURL == nil {
		t.Fatalf("make dev did not print the webhook receiver's address:\n%s", second.tail(30))
	}
	eventually(t, 60*time.Second, "acme-xero to have a linkUrl", func() (bool, string) {
		out, _ := exec.Command("kubectl", "--kubeconfig", kubeconfig, "get", "codatconnection", "acme-xero", "-o", "jsonpath={.status.linkUrl}").Output()
		return strings.HasPrefix(string(out), "http://"), string(out)
	})
	link, _ := exec.Command("kubectl", "--kubeconfig", kubeconfig, "get", "codatconnection", "acme-xero", "-o", "jsonpath={.status.linkUrl}").Output()
	if resp, err := http.Get(string(link)); err != nil {
		t.Fatalf("opening the linkUrl: %v", err)
	} else {
		_ = resp.Body.Close()
	}
	if out, err := exec.Command("kubectl", "--kubeconfig", kubeconfig, "wait", "--for=condition=Ready", "codatconnection/acme-xero", "--timeout=30s").CombinedOutput(); err != nil {
		t.Fatalf("acme-xero did not turn Ready after the business linked it: %v\n%s", err, out)
	}
	deliveries := httpGet(t, simURL[1]+"/_sim/webhooks/deliveries")
	if !regexp.MustCompile(`"eventType": "connection.connected",[^}]*"statusCode": 200`).MatchString(deliveries) {
		t.Fatalf("the operator never accepted the simulator's connection.connected webhook:\n%s", deliveries)
	}
	receiverAddr := strings.TrimPrefix(strings.TrimSuffix(receiverURL[1], "/webhooks/codat"), "http://")

	// SIGTERM to make (as `kill` would): nothing it started is left, its ports are closed.
	_ = syscall.Kill(second.cmd.Process.Pid, syscall.SIGTERM)
	if !second.wait(90 * time.Second) {
		t.Fatalf("make dev did not stop within 90s of SIGTERM:\n%s", second.tail(20))
	}
	for _, pid := range pidsOf(secondPids) {
		if alive(pid) {
			t.Errorf("pid %d is still running after make dev stopped", pid)
		}
	}
	for _, addr := range []string{apiserver, simAddr, receiverAddr} {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			_ = c.Close()
			t.Errorf("%s still accepts connections after make dev stopped", addr)
		}
	}
	if !strings.Contains(second.tail(5), "dev: stopped") {
		t.Errorf("make dev's last words:\n%s", second.tail(5))
	}
	if _, err := os.Stat(filepath.Join(dir, "etcd")); !os.IsNotExist(err) {
		t.Errorf("etcd's data is still in %s: %v", dir, err)
	}
}

// startMakeDev starts `make dev` with its state in dir and a free simulator port, and waits until
// it prints its next steps.
func startMakeDev(t *testing.T, name, dir string) *process {
	t.Helper()
	p := start(t, name, "make", []string{"dev", "DEV_ARGS=--dir " + dir + " --sim-listen 127.0.0.1:0"})
	eventually(t, 4*time.Minute, "make dev to print its next steps", func() (bool, string) {
		if p.exited() {
			t.Fatalf("make dev exited:\n%s", p.tail(40))
		}
		return strings.Contains(readFile(p.log), "kubectl get codatconnections -A"), p.tail(10)
	})
	return p
}

// devPids reads <dir>/pids: program name -> pids.
func devPids(t *testing.T, dir string) map[string][]int {
	t.Helper()
	out := map[string][]int{}
	for _, line := range strings.Split(strings.TrimSpace(readFile(filepath.Join(dir, "pids"))), "\n") {
		name, p, _ := strings.Cut(line, " ")
		if pid, err := strconv.Atoi(p); err == nil {
			out[name] = append(out[name], pid)
		}
	}
	for _, name := range []string{"dev", "control-plane", "codat-simulator", "manager"} {
		if len(out[name]) == 0 {
			t.Fatalf("%s/pids has no %s: %v", dir, name, out)
		}
	}
	return out
}

func pidsOf(m map[string][]int) []int {
	var out []int
	for _, pids := range m {
		out = append(out, pids...)
	}
	return out
}

// alive says whether pid runs and is not a zombie.
func alive(pid int) bool {
	out, err := exec.Command("ps", "-o", "stat=", "-p", strconv.Itoa(pid)).Output()
	return err == nil && len(out) > 0 && !strings.HasPrefix(strings.TrimSpace(string(out)), "Z")
}

// serverOf is host:port of the kubeconfig's server.
func serverOf(t *testing.T, kubeconfig string) string {
	t.Helper()
	m := regexp.MustCompile(`server: (\S+)`).FindStringSubmatch(readFile(kubeconfig))
	if m == nil {
		t.Fatalf("no server in %s", kubeconfig)
	}
	u, err := url.Parse(m[1])
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

func readFile(path string) string {
	raw, _ := os.ReadFile(path)
	return string(raw)
}

func httpGet(t *testing.T, address string) string {
	t.Helper()
	resp, err := http.Get(address) //nolint:gosec // the simulator's address, printed by make dev
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
