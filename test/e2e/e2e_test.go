// Package e2e runs the built binaries (bin/manager, bin/codat-simulator, and `make dev`) as their own
// processes against a real kube-apiserver, driven with the real kubectl. `make test` builds the
// binaries first; without them the tests fail, they are never skipped.
package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/codat-operator/codat-operator/internal/testenv"
)

const apiKey = "e2e-api-key"

var (
	env    *testenv.Env
	root   = testenv.ModuleRoot()
	binDir = filepath.Join(root, "bin")
)

// TestMain starts one control plane for the tests; each test works in its own namespace, with its
// own simulator and manager (watching only that namespace).
func TestMain(m *testing.M) {
	for _, name := range []string{"manager", "codat-simulator"} {
		if _, err := os.Stat(filepath.Join(binDir, name)); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: %s not found in %s: build the binaries with `make build` (make test does)\n", name, binDir)
			os.Exit(1)
		}
	}
	if _, err := exec.LookPath("kubectl"); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: kubectl is not on PATH")
		os.Exit(1)
	}
	var err error
	if env, err = testenv.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	code := m.Run()
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: stopping the control plane:", err)
	}
	os.Exit(code)
}

// process is a binary started by a test, in its own process group, with its output in a file.
type process struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// start runs a program; the test's cleanup kills its process group. On failure the end of its
// log is printed.
func start(t *testing.T, name, path string, args []string) *process {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path, args...)
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Env = cleanEnv()
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	p := &process{t: t, name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); _ = f.Close(); close(p.done) }()
	t.Cleanup(func() {
		p.signal(syscall.SIGKILL)
		<-p.done
		if t.Failed() {
			t.Logf("the end of %s's log:\n%s", name, p.tail(40))
		}
	})
	return p
}

// cleanEnv is this process's environment without what would point the binaries elsewhere.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "KUBECONFIG", "CODAT_API_KEY", "CODAT_BASE_URL", "CODAT_DEFAULT_CREDENTIALS_SECRET", "WATCH_NAMESPACES",
			"MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKE_TERMOUT", "MAKE_TERMERR":
			continue
		}
		out = append(out, kv)
	}
	return out
}

// signal signals the whole process group.
func (p *process) signal(sig syscall.Signal) { _ = syscall.Kill(-p.cmd.Process.Pid, sig) }

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *process) wait(timeout time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(timeout):
		return false
	}
}

func (p *process) tail(n int) string {
	raw, _ := os.ReadFile(p.log)
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// sim is a codat-simulator process.
type sim struct {
	*process
	URL string
}

var listening = regexp.MustCompile(`msg="codat simulator listening" addr=(\S+)`)

// startSim starts bin/codat-simulator on a free loopback port.
func startSim(t *testing.T, args ...string) *sim {
	t.Helper()
	p := start(t, "codat-simulator", filepath.Join(binDir, "codat-simulator"),
		append([]string{"--listen", "127.0.0.1:0", "--api-key", apiKey}, args...))
	s := &sim{process: p}
	eventually(t, 20*time.Second, "the simulator to listen", func() (bool, string) {
		raw, _ := os.ReadFile(p.log)
		if m := listening.FindSubmatch(raw); m != nil {
			s.URL = "http://" + string(m[1])
			return true, ""
		}
		return false, p.tail(5)
	})
	return s
}

// get decodes GET <sim>/_sim/<path> into v and returns the status code.
func (s *sim) get(t *testing.T, path string, v any) int {
	t.Helper()
	resp, err := http.Get(s.URL + "/_sim/" + path)
	if err != nil {
		t.Fatalf("simulator: %v", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode == http.StatusOK && v != nil {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("simulator %s: %v", path, err)
		}
	}
	return resp.StatusCode
}

func (s *sim) put(t *testing.T, path, body string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, s.URL+"/_sim/"+path, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("simulator: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("PUT /_sim/%s: %d %s", path, resp.StatusCode, b)
	}
}

type simConnection struct {
	ID, IntegrationKey, Status, LinkURL string
}

func (s *sim) connections(t *testing.T, company string) []simConnection {
	t.Helper()
	var conns []simConnection
	if code := s.get(t, "companies/"+company+"/connections", &conns); code != http.StatusOK {
		t.Fatalf("simulator: connections of %s: %d", company, code)
	}
	return conns
}

type simRequest struct {
	Operation, CompanyID, ConnectionID, Fault string
	StatusCode                                int
}

// committedCreates counts, per company, the creates that made a connection: answered 200, or
// committed with the response deliberately lost.
func (s *sim) committedCreates(t *testing.T) map[string]int {
	t.Helper()
	var reqs []simRequest
	s.get(t, "requests", &reqs)
	out := map[string]int{}
	for _, r := range reqs {
		if r.Operation == "create-connection" && (r.StatusCode == http.StatusOK || r.Fault == "lost-response") {
			out[r.CompanyID]++
		}
	}
	return out
}

func (s *sim) createCount(t *testing.T) int {
	var counts struct{ Operations map[string]int }
	s.get(t, "counts", &counts)
	return counts.Operations["create-connection"]
}

// manager is a bin/manager process.
type manager struct{ *process }

// startManager starts bin/manager watching one namespace, with the credentials Secret of that
// namespace, fast retries and generous rate limits; extra flags come last (and win).
func startManager(t *testing.T, name, namespace, codatURL string, extra ...string) *manager {
	t.Helper()
	args := []string{
		"--kubeconfig", env.Kubeconfig,
		"--codat-base-url", codatURL,
		"--default-credentials-secret", namespace + "/codat-credentials",
		"--default-credentials-namespaces", namespace,
		"--watch-namespaces", namespace,
		"--health-probe-bind-address", "0",
		"--metrics-bind-address", "0",
		"--leader-elect=false",
		"--codat-requests-per-second", "200",
		"--codat-burst", "100",
		"--max-concurrent-reconciles", "16",
		"--retry-backoff-base", "200ms",
		"--retry-backoff-max", "5s",
	}
	return &manager{start(t, name, filepath.Join(binDir, "manager"), append(args, extra...))}
}

// namespaceRuns counts the namespaces made from each base name: the control plane lives as long as
// the test binary and cannot finish deleting a namespace, so `go test -count=N` needs new names.
var namespaceRuns = struct {
	sync.Mutex
	n map[string]int
}{n: map[string]int{}}

// newNamespace creates a namespace with the credentials Secret for the simulator's key, and returns
// its name: base the first time, base-2 the second, and so on.
func newNamespace(t *testing.T, base string) string {
	t.Helper()
	namespaceRuns.Lock()
	namespaceRuns.n[base]++
	name := base
	if n := namespaceRuns.n[base]; n > 1 {
		name = fmt.Sprintf("%s-%d", base, n)
	}
	namespaceRuns.Unlock()
	kubectl(t, "create", "namespace", name)
	kubectl(t, "create", "secret", "generic", "codat-credentials", "-n", name, "--from-literal=apiKey="+apiKey)
	return name
}

// kubectl runs kubectl against the control plane and fails the test on error.
func kubectl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := env.Kubectl(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// eventually polls cond until it holds, failing the test with what was last seen after timeout.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, seen := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s; last seen:\n%s", timeout, what, seen)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
