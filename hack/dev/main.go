// Command dev runs codat-operator on this machine, for `make dev`: a control plane (etcd and
// kube-apiserver, from the envtest binaries), the CodatConnection CRD, the Codat simulator (or
// the real Codat when CODAT_API_KEY is set), the credentials Secret, the manager as its own
// process, and the samples. It prints what to try next and runs until Ctrl-C or SIGTERM, then
// stops everything it started.
//
// Its state lives in --dir (.dev): the admin kubeconfig, the logs, etcd's data, and the pids of
// what it started, so that a run killed with SIGKILL is cleaned up by the next one.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/codat-operator/codat-operator/internal/access"
	"github.com/codat-operator/codat-operator/internal/testenv"
	"github.com/codat-operator/codat-operator/internal/webhook"
)

const (
	simAPIKey        = "dev-api-key" // the key the simulator accepts; it goes into the Secret
	credentialsNS    = "codat-system"
	credentialsName  = "codat-credentials"
	webhooksName     = "codat-webhooks" // the Secret with the webhooks' signing secret
	samplesNamespace = "default"
)

type options struct {
	dir, assets, bin, samples, simListen string
	managerFlags                         listFlag
	realKey, realURL                     string
}

// listFlag is a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	var o options
	flag.StringVar(&o.dir, "dir", ".dev", "folder for the kubeconfig, logs, etcd data and pids")
	flag.StringVar(&o.assets, "envtest-assets", os.Getenv("ENVTEST_ASSETS"), "folder with etcd and kube-apiserver (make envtest)")
	flag.StringVar(&o.bin, "bin", "bin", "folder with manager and codat-simulator (make build)")
	flag.StringVar(&o.samples, "samples", "config/samples", "kustomization applied to namespace default (simulator only)")
	flag.StringVar(&o.simListen, "sim-listen", "127.0.0.1:8089", "address of the simulator; another free loopback port when it is taken")
	flag.Var(&o.managerFlags, "manager-flag", "extra flag for bin/manager, e.g. --manager-flag=--zap-log-level=debug; repeatable")
	flag.Parse()
	o.realKey = os.Getenv("CODAT_API_KEY")
	o.realURL = envOr("CODAT_BASE_URL", "https://api.codat.io")

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	d := &dev{options: o}
	err := d.run(ctx)
	interrupted := ctx.Err() != nil
	stop() // a second Ctrl-C now kills the default way; shutdown is bounded anyway
	d.shutdown()
	if err != nil && !interrupted {
		fmt.Fprintln(os.Stderr, "dev:", err)
		os.Exit(1)
	}
}

// dev is one session: what it started, to stop it all at the end.
type dev struct {
	options
	env      *envtest.Environment
	procs    []*proc // in start order; stopped in reverse
	pids     []string
	logFiles []*os.File
}

type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	log  string
}

func logf(format string, args ...any) { fmt.Fprintf(os.Stderr, "dev: "+format+"\n", args...) }

func (d *dev) run(ctx context.Context) error {
	if err := d.prepare(); err != nil {
		return err
	}
	// What the samples need from the simulator: their companies, and the connections they adopt.
	var companies, seeds []string
	if d.realKey == "" {
		var err error
		if companies, seeds, err = sampleCompanies(ctx, d.samples); err != nil {
			return err
		}
	}

	logf("starting etcd and kube-apiserver (logs in %s)", rel(filepath.Join(d.dir, "apiserver.log")))
	if err := d.startControlPlane(); err != nil {
		return err
	}
	kubeconfig := filepath.Join(d.dir, "kubeconfig")
	c, err := client.New(d.env.Config, client.Options{Scheme: testenv.Scheme})
	if err != nil {
		return err
	}
	codat := codatEndpoint{url: d.realURL, apiKey: d.realKey}
	if d.realKey == "" {
		if codat, err = d.startSimulator(ctx, companies, seeds); err != nil {
			return err
		}
	}

	logf("creating Secret %s/%s (key apiKey)", credentialsNS, credentialsName)
	if err := createCredentials(ctx, c, codat.apiKey, codat.signingSecret); err != nil {
		return err
	}
	logf("granting namespace %s the default credentials: kubectl label namespace %s %s", samplesNamespace, samplesNamespace, access.GrantedSelector)
	if err := grantDefaultCredentials(ctx, c, samplesNamespace); err != nil {
		return err
	}
	if err := d.startManager(ctx, kubeconfig, codat); err != nil {
		return err
	}
	if d.realKey == "" {
		logf("applying %s to namespace %s", d.samples, samplesNamespace)
		out, err := exec.CommandContext(ctx, "kubectl", "--kubeconfig", kubeconfig, "apply", "-n", samplesNamespace, "-k", d.samples).CombinedOutput()
		if err != nil {
			return fmt.Errorf("kubectl apply -k %s: %w\n%s", d.samples, err, out)
		}
		waitSamples(ctx, c)
	}
	d.printNextSteps(kubeconfig, codat.url, codat.receiver)
	return d.wait(ctx)
}

// prepare checks what make dev needs and makes its state folder, clearing a stale run's.
func (d *dev) prepare() error {
	var err error
	if d.dir, err = filepath.Abs(d.dir); err != nil {
		return err
	}
	for _, name := range []string{"manager", "codat-simulator"} {
		if _, err := os.Stat(filepath.Join(d.bin, name)); err != nil {
			return fmt.Errorf("%s not found in %s: run `make build` (make dev does)", name, d.bin)
		}
	}
	if _, err := exec.LookPath("kubectl"); err != nil {
		return errors.New("kubectl is not on PATH")
	}
	cleanStale(d.dir)
	if err := os.MkdirAll(d.dir, 0o750); err != nil {
		return err
	}
	d.record("dev", os.Getpid())
	return nil
}

// codatEndpoint is the Codat the operator talks to: the real one, or the simulator, which also sends
// webhooks to the operator's receiver, signed with signingSecret.
type codatEndpoint struct {
	url, apiKey             string
	receiver, signingSecret string
}

// startSimulator starts the simulator with the samples' companies and connections. It sends Codat's
// signed webhooks to the operator's receiver, retrying quickly until the receiver listens.
func (d *dev) startSimulator(ctx context.Context, companies, seeds []string) (codatEndpoint, error) {
	addr := freeAddr(ctx, d.simListen)
	e := codatEndpoint{url: "http://" + addr, apiKey: simAPIKey,
		receiver: freeAddr(ctx, "127.0.0.1:9443"), signingSecret: newSigningSecret()}
	args := []string{"--listen", addr, "--api-key", simAPIKey,
		"--webhook-url", "http://" + e.receiver + webhook.Path, "--webhook-secret", e.signingSecret, "--webhook-retry-scale", "0.01"}
	for _, id := range companies {
		args = append(args, "--company", id)
	}
	for _, s := range seeds {
		args = append(args, "--connection", s)
	}
	if err := d.start(ctx, "codat-simulator", args, nil); err != nil {
		return e, err
	}
	if err := waitHTTP(ctx, e.url+"/_sim/companies", 20*time.Second); err != nil {
		return e, fmt.Errorf("the simulator did not come up: %w (see %s)", err, rel(filepath.Join(d.dir, "codat-simulator.log")))
	}
	return e, nil
}

// startManager starts the operator against the control plane and Codat.
func (d *dev) startManager(ctx context.Context, kubeconfig string, codat codatEndpoint) error {
	args := []string{
		"--kubeconfig", kubeconfig,
		"--codat-base-url", codat.url,
		"--default-credentials-secret", credentialsNS + "/" + credentialsName,
		// As the shipped manifests do: namespaces labelled so may use the default credentials.
		"--default-credentials-namespace-selector", access.GrantedSelector,
		"--health-probe-bind-address", "0",
	}
	if codat.receiver != "" {
		// Changes reach the operator as the simulator's webhooks, within a second, whatever the
		// (default) poll intervals say.
		args = append(args, "--webhook-bind-address", codat.receiver, "--webhook-secret", credentialsNS+"/"+webhooksName)
	}
	args = append(args, d.managerFlags...)
	return d.start(ctx, "manager", args, []string{"CODAT_API_KEY", "CODAT_BASE_URL", "CODAT_DEFAULT_CREDENTIALS_SECRET", "WATCH_NAMESPACES", "KUBECONFIG"})
}

// wait runs until Ctrl-C / SIGTERM, or until one of the processes exits on its own.
func (d *dev) wait(ctx context.Context) error {
	cases := make(chan *proc, len(d.procs))
	for _, p := range d.procs {
		go func() { <-p.done; cases <- p }()
	}
	select {
	case <-ctx.Done():
		logf("stopping")
		return nil
	case p := <-cases:
		return fmt.Errorf("%s exited (%v); the end of %s:\n%s", p.name, p.cmd.ProcessState, rel(p.log), tail(p.log, 20))
	}
}

func (d *dev) startControlPlane() error {
	apiLog, err := d.openLog("apiserver.log")
	if err != nil {
		return err
	}
	etcdLog, err := d.openLog("etcd.log")
	if err != nil {
		return err
	}
	d.env = &envtest.Environment{
		BinaryAssetsDirectory: d.assets,
		CRDDirectoryPaths:     []string{filepath.Join(testenv.ModuleRoot(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		Scheme:                testenv.Scheme,
	}
	for _, sub := range []string{"etcd", "certs"} {
		if err := os.MkdirAll(filepath.Join(d.dir, sub), 0o700); err != nil {
			return err
		}
	}
	d.env.ControlPlane.Etcd = &envtest.Etcd{DataDir: filepath.Join(d.dir, "etcd"), Out: etcdLog, Err: etcdLog,
		StartTimeout: time.Minute}
	d.env.ControlPlane.APIServer = &envtest.APIServer{CertDir: filepath.Join(d.dir, "certs"), Out: apiLog, Err: apiLog,
		StartTimeout: time.Minute}
	for _, bin := range []string{"etcd", "kube-apiserver"} {
		if _, err := os.Stat(filepath.Join(d.assets, bin)); err != nil {
			return fmt.Errorf("%s not found in --envtest-assets %q: run `make envtest` (make dev does)", bin, d.assets)
		}
	}
	_, startErr := d.env.Start()
	// envtest starts etcd and kube-apiserver in their own process groups; record their pids.
	for _, pid := range childPids("etcd", "kube-apiserver") {
		d.record("control-plane", pid)
	}
	if startErr != nil {
		return fmt.Errorf("starting the control plane: %w", startErr)
	}
	user, err := d.env.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return err
	}
	raw, err := user.KubeConfig()
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(d.dir, "kubeconfig"), raw, 0o600)
}

// start runs bin/<name> in its own process group (so that Ctrl-C reaches only this program, which
// stops it in order), with its output in <dir>/<name>.log and without the variables in unset.
func (d *dev) start(ctx context.Context, name string, args, unset []string) error {
	f, err := d.openLog(name + ".log")
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(d.bin, name), args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		return slices.Contains(unset, k)
	})
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{}), log: f.Name()}
	go func() { _ = cmd.Wait(); close(p.done) }()
	d.procs = append(d.procs, p)
	d.record(name, cmd.Process.Pid)
	logf("started %s (pid %d, log %s)", name, cmd.Process.Pid, rel(f.Name()))
	return nil
}

// shutdown stops what run started, newest first, and removes the control plane's state.
func (d *dev) shutdown() {
	for _, p := range slices.Backward(d.procs) {
		stopGroup(p.cmd.Process.Pid, p.done, 10*time.Second)
	}
	if d.env != nil {
		if err := d.env.Stop(); err != nil {
			logf("stopping the control plane: %v", err)
		}
		// Whatever envtest could not stop.
		for _, pid := range d.pidsNamed("control-plane") {
			killStale(pid)
		}
	}
	for _, f := range d.logFiles {
		_ = f.Close()
	}
	if d.dir != "" {
		for _, name := range []string{"etcd", "certs", "kubeconfig", "pids"} {
			_ = os.RemoveAll(filepath.Join(d.dir, name))
		}
	}
	if len(d.procs) > 0 || d.env != nil {
		logf("stopped; the logs stay in %s", rel(d.dir))
	}
}

// stopGroup sends SIGTERM to a process group and SIGKILL if it is still there after grace.
func stopGroup(pid int, done <-chan struct{}, grace time.Duration) {
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(grace):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-done
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL) // anything left in its group
}

// record appends "name pid" to <dir>/pids.
func (d *dev) record(name string, pid int) {
	d.pids = append(d.pids, name+" "+strconv.Itoa(pid))
	_ = os.WriteFile(filepath.Join(d.dir, "pids"), []byte(strings.Join(d.pids, "\n")+"\n"), 0o600)
}

func (d *dev) pidsNamed(name string) []int {
	var out []int
	for _, line := range d.pids {
		n, pid, _ := strings.Cut(line, " ")
		if p, err := strconv.Atoi(pid); err == nil && n == name {
			out = append(out, p)
		}
	}
	return out
}

func (d *dev) openLog(name string) (*os.File, error) {
	f, err := os.Create(filepath.Join(d.dir, name))
	if err == nil {
		d.logFiles = append(d.logFiles, f)
	}
	return f, err
}

// cleanStale stops what a previous run left behind (it was killed, or is still running in
// another terminal) and removes its control plane's state.
func cleanStale(dir string) {
	raw, _ := os.ReadFile(filepath.Join(dir, "pids"))
	var pids []int
	var devPid int
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		name, p, _ := strings.Cut(line, " ")
		pid, err := strconv.Atoi(p)
		if err != nil || pid <= 1 || pid == os.Getpid() {
			continue
		}
		if name == "dev" {
			devPid = pid
		} else {
			pids = append(pids, pid)
		}
	}
	// A previous session still running: ask it to stop, which stops its processes.
	if devPid != 0 && processAlive(devPid, "dev") {
		logf("stopping the previous make dev (pid %d)", devPid)
		_ = syscall.Kill(devPid, syscall.SIGTERM)
		for deadline := time.Now().Add(40 * time.Second); time.Now().Before(deadline) && processAlive(devPid, "dev"); {
			time.Sleep(100 * time.Millisecond)
		}
	}
	for _, pid := range pids {
		killStale(pid)
	}
	for _, name := range []string{"etcd", "certs", "kubeconfig", "pids"} {
		_ = os.RemoveAll(filepath.Join(dir, name))
	}
}

// killStale kills a process left by an earlier session (and its process group), if that pid is
// still one of ours: etcd, kube-apiserver, manager or codat-simulator.
func killStale(pid int) {
	if !processAlive(pid, "etcd", "kube-apiserver", "manager", "codat-simulator") {
		return
	}
	logf("stopping pid %d, left by an earlier run", pid)
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	_ = syscall.Kill(pid, syscall.SIGTERM)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if !processAlive(pid) {
			return
		}
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	_ = syscall.Kill(pid, syscall.SIGKILL)
}

// processAlive says whether pid runs (and is not a zombie), with one of the names as its
// program's base name when names are given.
func processAlive(pid int, names ...string) bool {
	out, err := exec.Command("ps", "-o", "stat=", "-o", "args=", "-p", strconv.Itoa(pid)).Output()
	fields := strings.Fields(string(out))
	if err != nil || len(fields) < 2 || strings.HasPrefix(fields[0], "Z") {
		return false
	}
	return len(names) == 0 || slices.Contains(names, filepath.Base(fields[1]))
}

// childPids lists this process's children that run one of the named programs.
func childPids(names ...string) []int {
	out, err := exec.Command("ps", "-A", "-o", "pid=", "-o", "ppid=", "-o", "args=").Output()
	if err != nil {
		return nil
	}
	var pids []int
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 3 && f[1] == strconv.Itoa(os.Getpid()) && slices.Contains(names, filepath.Base(f[2])) {
			if pid, err := strconv.Atoi(f[0]); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// sampleCompanies reads the CodatConnections of the samples: the companies the simulator must
// know, and "company:connection:platform:Linked" for each connection they adopt.
func sampleCompanies(ctx context.Context, dir string) (companies, seeds []string, err error) {
	out, err := exec.CommandContext(ctx, "kubectl", "kustomize", dir).Output()
	if err != nil {
		return nil, nil, fmt.Errorf("kubectl kustomize %s: %w", dir, err)
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(out), 4096)
	for {
		var u unstructured.Unstructured
		if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, nil, fmt.Errorf("reading the samples: %w", err)
		}
		if u.GetKind() != "CodatConnection" {
			continue
		}
		company, _, _ := unstructured.NestedString(u.Object, "spec", "companyId")
		platform, _, _ := unstructured.NestedString(u.Object, "spec", "platformKey")
		connection, _, _ := unstructured.NestedString(u.Object, "spec", "connectionId")
		if company != "" && !slices.Contains(companies, company) {
			companies = append(companies, company)
		}
		if connection != "" {
			seeds = append(seeds, strings.Join([]string{company, connection, platform, "Linked"}, ":"))
		}
	}
	return companies, seeds, nil
}

// createCredentials creates the operator's namespace with the credentials Secret and, when
// signingSecret is set, the Secret with the webhooks' signing secret.
func createCredentials(ctx context.Context, c client.Client, apiKey, signingSecret string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: credentialsNS}}
	if err := c.Create(ctx, ns); err != nil {
		return fmt.Errorf("creating namespace %s: %w", credentialsNS, err)
	}
	secrets := []*corev1.Secret{{
		ObjectMeta: metav1.ObjectMeta{Namespace: credentialsNS, Name: credentialsName},
		StringData: map[string]string{"apiKey": apiKey},
	}}
	if signingSecret != "" {
		secrets = append(secrets, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: credentialsNS, Name: webhooksName},
			StringData: map[string]string{"current": signingSecret},
		})
	}
	for _, s := range secrets {
		if err := c.Create(ctx, s); err != nil {
			return fmt.Errorf("creating Secret %s/%s: %w", s.Namespace, s.Name, err)
		}
	}
	return nil
}

// grantDefaultCredentials labels a namespace as the platform team does to let its
// CodatConnections use the operator's default credentials.
func grantDefaultCredentials(ctx context.Context, c client.Client, namespace string) error {
	ns := &corev1.Namespace{}
	if err := c.Get(ctx, client.ObjectKey{Name: namespace}, ns); err != nil {
		return fmt.Errorf("reading namespace %s: %w", namespace, err)
	}
	patch := client.MergeFrom(ns.DeepCopy())
	if ns.Labels == nil {
		ns.Labels = map[string]string{}
	}
	ns.Labels[access.LabelDefaultCredentials] = "granted"
	if err := c.Patch(ctx, ns, patch); err != nil {
		return fmt.Errorf("labelling namespace %s: %w", namespace, err)
	}
	return nil
}

// newSigningSecret makes a webhook signing secret as Codat's portal shows one.
func newSigningSecret() string {
	key := make([]byte, 24)
	_, _ = rand.Read(key)
	return "whsec_" + base64.StdEncoding.EncodeToString(key)
}

// waitSamples waits (at most 30 s) until every sample has a connection status, so that the first
// `kubectl get` shows something.
func waitSamples(ctx context.Context, c client.Client) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		var list unstructured.UnstructuredList
		list.SetAPIVersion("codat.io/v1alpha1")
		list.SetKind("CodatConnectionList")
		if err := c.List(ctx, &list, client.InNamespace(samplesNamespace)); err == nil && len(list.Items) > 0 {
			done := true
			for _, item := range list.Items {
				if s, _, _ := unstructured.NestedString(item.Object, "status", "connectionStatus"); s == "" {
					done = false
				}
			}
			if done {
				return
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func (d *dev) printNextSteps(kubeconfig, codatURL, receiver string) {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("")
	w("codat-operator is running locally. Ctrl-C stops everything.")
	w("")
	w("  control plane   %s (admin kubeconfig %s)", d.env.Config.Host, rel(kubeconfig))
	if d.realKey == "" {
		w("  Codat           simulator at %s, log %s", codatURL, rel(filepath.Join(d.dir, "codat-simulator.log")))
	} else {
		w("  Codat           %s (CODAT_API_KEY)", codatURL)
	}
	w("  credentials     Secret %s/%s, key apiKey", credentialsNS, credentialsName)
	if receiver != "" {
		w("  webhooks        receiver at http://%s%s; the simulator signs and sends Codat's webhooks there (Secret %s/%s)",
			receiver, webhook.Path, credentialsNS, webhooksName)
	}
	w("  operator        bin/manager, log %s", rel(filepath.Join(d.dir, "manager.log")))
	w("")
	w("In another terminal:")
	w("")
	w("  export KUBECONFIG=%s", kubeconfig)
	w("  kubectl get codatconnections -A")
	w("  kubectl get codatcompanies -A")
	w("")
	if d.realKey == "" {
		w("The samples (%s) are in namespace %s. Play the business and authorize acme-xero", d.samples, samplesNamespace)
		w("by opening its linkUrl, then watch it turn Linked:")
		w("")
		w(`  curl -s "$(kubectl get codatconnection acme-xero -o jsonpath='{.status.linkUrl}')"`)
		w("  kubectl wait --for=condition=Ready codatconnection/acme-xero --timeout=10s")
		w("  kubectl get codatconnections -o wide")
		w("")
		w("wayne-trading is a CodatCompany: the operator created it in the simulator, and its two")
		w("connections (spec.companyRef) in it. Its status.redirect links every platform at once:")
		w("")
		w(`  curl -s "$(kubectl get codatcompany wayne-trading -o jsonpath='{.status.redirect}')"`)
		w("  kubectl get codatconnections -o custom-columns=NAME:.metadata.name,COMPANY:.status.companyId,STATUS:.status.connectionStatus")
		w("")
		w("The simulator's admin API: curl -s %s/_sim/companies/8a210b68-6988-11ed-a1eb-0242ac120002/connections", codatURL)
	} else {
		w("No samples were applied: this is the real Codat. Write a CodatConnection with the id of one")
		w("of your companies (see README.md, \"A first example\") and kubectl apply it.")
	}
	w("Operator logs: tail -f %s", rel(filepath.Join(d.dir, "manager.log")))
	w("Walkthrough: docs/getting-started.md")
	fmt.Print(b.String())
}

// freeAddr is want if it can be listened on (with the port chosen when it is 0), else another
// free loopback port.
func freeAddr(ctx context.Context, want string) string {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", want)
	if err != nil {
		if ln, err = lc.Listen(ctx, "tcp", "127.0.0.1:0"); err != nil {
			return want
		}
		logf("%s is taken; using %s", want, ln.Addr())
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().String()
}

func waitHTTP(ctx context.Context, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, http.NoBody)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = errors.New(resp.Status)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func tail(path string, n int) string {
	raw, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// rel shortens a path below the working directory.
func rel(path string) string {
	if wd, err := os.Getwd(); err == nil {
		if r, err := filepath.Rel(wd, path); err == nil && !strings.HasPrefix(r, "..") {
			return r
		}
	}
	return path
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
