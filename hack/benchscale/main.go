// Command benchscale measures what the operator costs at scale, for `make bench-scale`: it starts
// a control plane (the envtest binaries), the Codat simulator binary with latency and Codat's quota
// formula (each company already has a linked connection of another platform, as a customer adding a
// platform would), and the manager binary, creates N CodatConnections (10 per company by default),
// plays the business linking them (all at once once every connection waits, at a given rate, or
// each as soon as it waits), and reports the time to converge against the floor the manager's
// request rate sets, Codat calls per object by operation, API-server writes per object, the time
// from each authorization to Ready, the manager's peak RSS and CPU, and its budget's projected polls
// a day against its share of the quota.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
	"github.com/codat-operator/codat-operator/internal/codatapi"
	"github.com/codat-operator/codat-operator/internal/codatclient"
	"github.com/codat-operator/codat-operator/internal/codatsim"
)

const (
	apiKey        = "bench-api-key"
	operatorNS    = "codat-system"
	benchNS       = "bench"
	signingSecret = "whsec_YmVuY2gtc2NhbGUtc2lnbmluZy1rZXk="
)

type options struct {
	objects, perCompany int
	latency             time.Duration
	webhooks            bool
	linkWhen            string
	linkRate            float64
	assets, bin         string
	timeout             time.Duration
	heapProfile         string
	memoryLimit         string
}

func main() {
	var o options
	flag.IntVar(&o.objects, "objects", 1000, "CodatConnections to create")
	flag.IntVar(&o.perCompany, "per-company", 10, "connections per Codat company")
	flag.DurationVar(&o.latency, "latency", 50*time.Millisecond, "the simulator's latency per request")
	flag.BoolVar(&o.webhooks, "webhooks", true, "run the webhook receiver, with the simulator sending to it")
	flag.StringVar(&o.linkWhen, "link-when", "all-waiting", "when the business links: all-waiting (once every connection waits) or each-waiting (each as soon as it waits)")
	flag.Float64Var(&o.linkRate, "link-rate", 0, "links per second the business makes; 0: as fast as it can (a burst)")
	flag.StringVar(&o.assets, "envtest-assets", os.Getenv("KUBEBUILDER_ASSETS"), "folder with etcd and kube-apiserver (make envtest)")
	flag.StringVar(&o.bin, "bin", "bin", "folder with manager and codat-simulator (make build)")
	flag.DurationVar(&o.timeout, "timeout", 90*time.Minute, "give up after this long")
	flag.StringVar(&o.memoryLimit, "manager-memory-limit", "",
		"run the manager as in a container with this memory limit in MiB (e.g. 96): it gets the GOMEMLIMIT the manager derives from a container's limit; empty: no limit")
	flag.StringVar(&o.heapProfile, "heap-profile", "", "write the manager's heap profile (go tool pprof) to this file once all objects are Ready")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "benchscale:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	if o.linkWhen != "all-waiting" && o.linkWhen != "each-waiting" {
		return fmt.Errorf("--link-when %q: want all-waiting or each-waiting", o.linkWhen)
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	w, err := startWorld(ctx, o)
	defer w.stop()
	if err != nil {
		return err
	}
	writesBefore, err := apiserverWrites(ctx, w.clientset)
	if err != nil {
		return err
	}
	start := time.Now()
	b := newBusiness(o, w.simURL)
	created := w.create(ctx)
	last, err := w.waitReady(ctx, b)
	b.close()
	created.Wait()
	if err != nil {
		return err
	}
	r := result{converge: last.Sub(start)}
	r.p50, r.p99, r.most = b.latencies()
	if r.counts, err = simCounts(w.simURL); err != nil {
		return err
	}
	writesAfter, err := apiserverWrites(ctx, w.clientset)
	if err != nil {
		return err
	}
	r.writes = writesAfter - writesBefore
	r.rss, r.cpu = usage(w.manager.Process.Pid)
	if o.heapProfile != "" {
		if err := download("http://"+w.pprofAddr+"/debug/pprof/heap", o.heapProfile); err != nil {
			return err
		}
	}
	time.Sleep(5 * time.Second) // let the budget see the settled load
	r.metrics = scrape("http://" + w.metricsAddr + "/metrics")
	r.print(o)
	return nil
}

// create makes the objects, 20 at a time; the returned group ends when all are made.
func (w *world) create(ctx context.Context) *sync.WaitGroup {
	work := make(chan int)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			for i := range work {
				obj := &codatv1.CodatConnection{
					ObjectMeta: metav1.ObjectMeta{Namespace: benchNS, Name: fmt.Sprintf("conn-%05d", i)},
					Spec:       codatv1.CodatConnectionSpec{CompanyID: w.companies[i/w.o.perCompany], PlatformKey: "gbol"},
				}
				_ = w.c.Create(ctx, obj)
			}
		})
	}
	wg.Go(func() {
		for i := range w.o.objects {
			work <- i
		}
		close(work)
	})
	return &wg
}

// waitReady watches the objects, tells the business which connections wait for it, and returns
// when the last object turned Ready.
func (w *world) waitReady(ctx context.Context, b *business) (time.Time, error) {
	watcher, err := w.c.Watch(ctx, &codatv1.CodatConnectionList{}, client.InNamespace(benchNS))
	if err != nil {
		return time.Time{}, err
	}
	defer func() { watcher.Stop() }()
	p := &progress{b: b, ready: map[string]bool{}}
	for len(p.ready) < w.o.objects {
		select {
		case <-ctx.Done():
			return p.last, fmt.Errorf("%d of %d objects Ready when the time ran out", len(p.ready), w.o.objects)
		case e, ok := <-watcher.ResultChan():
			if !ok {
				// The API server ends watches now and then: list what was missed and watch again.
				if watcher, err = rewatch(ctx, w.c, p.see); err != nil {
					return p.last, err
				}
				continue
			}
			if obj, isConn := e.Object.(*codatv1.CodatConnection); isConn && e.Type != watch.Deleted {
				p.see(obj)
			}
		}
	}
	return p.last, nil
}

// progress is what the watch has seen: the objects Ready, and when the last one turned Ready.
type progress struct {
	b     *business
	ready map[string]bool
	last  time.Time
}

func (p *progress) see(obj *codatv1.CodatConnection) {
	if id := obj.Status.ConnectionID; id != "" && obj.Status.ConnectionStatus == codatapi.StatusPendingAuth {
		p.b.waits(obj.Name, obj.Spec.CompanyID, id)
	}
	if !p.ready[obj.Name] && meta.IsStatusConditionTrue(obj.Status.Conditions, codatv1.ConditionReady) {
		p.ready[obj.Name] = true
		p.last = time.Now()
		p.b.ready(obj.Name, p.last)
	}
}

// result is what one run measured.
type result struct {
	converge, p50, p99, most time.Duration
	counts                   map[string]int
	writes                   int
	rss                      int64
	cpu                      time.Duration
	metrics                  map[string]float64
}

func (r result) print(o options) {
	n := float64(o.objects)
	calls := 0
	for _, op := range codatapi.Operations {
		calls += r.counts[op.Name]
	}
	// The manager's default rate (--codat-requests-per-second) sets the floor: its calls cannot go faster.
	floor := time.Duration(float64(calls) / codatclient.DefaultRequestsPerSecond * float64(time.Second))
	mode := "with webhooks"
	if !o.webhooks {
		mode = "polling only"
	}
	linking := "all at once"
	if o.linkRate > 0 {
		linking = fmt.Sprintf("%g a second", o.linkRate)
	}
	fmt.Printf("\nbenchscale: %d objects, %d per company, simulator latency %s, %s; the business links %s, once %s\n\n",
		o.objects, o.perCompany, o.latency, mode, linking, strings.ReplaceAll(o.linkWhen, "-", " "))
	fmt.Printf("| figure | value |\n|---|---|\n")
	fmt.Printf("| converge (create %d, business links each, all Ready) | %s |\n", o.objects, r.converge.Round(time.Second))
	fmt.Printf("| floor set by the manager's %d requests a second for these calls | %s (converge is %.2fx) |\n",
		codatclient.DefaultRequestsPerSecond, floor.Round(time.Second), r.converge.Seconds()/floor.Seconds())
	fmt.Printf("| authorize -> Ready p50 / p99 / max | %s / %s / %s |\n", r.p50, r.p99, r.most)
	for _, op := range codatapi.Operations {
		if r.counts[op.Name] > 0 {
			fmt.Printf("| Codat %s per object | %.2f |\n", op.Name, float64(r.counts[op.Name])/n)
		}
	}
	fmt.Printf("| Codat calls per object | %.2f |\n", float64(calls)/n)
	fmt.Printf("| API-server writes per object (updates and status updates of CodatConnections) | %.2f |\n", float64(r.writes)/n)
	limit := "none"
	if o.memoryLimit != "" {
		limit = o.memoryLimit + " MiB container (GOMEMLIMIT 80% of it)"
	}
	fmt.Printf("| manager memory limit | %s |\n", limit)
	fmt.Printf("| manager peak RSS | %.1f MiB |\n", float64(r.rss)/(1<<20))
	fmt.Printf("| manager Go heap in use at the end | %.1f MiB |\n", r.metrics["go_memstats_heap_inuse_bytes"]/(1<<20))
	fmt.Printf("| manager CPU per object | %.1f ms |\n", r.cpu.Seconds()*1000/n)
	fmt.Printf("| budget: projected polls a day, all objects | %.0f |\n", r.metrics["codat_requests_budget_projected_polls_per_day"])
	fmt.Printf("| budget: the operator's share of the daily quota | %.0f |\n", r.metrics["codat_requests_budget_share_per_day"])
	fmt.Printf("| budget mode (0 normal, 1 stretched, 2 writes only) | %.0f |\n", r.metrics["codat_requests_budget_mode"])
}

// rewatch lists the objects, hands each to see, and watches from the list's version on.
func rewatch(ctx context.Context, c client.WithWatch, see func(*codatv1.CodatConnection)) (watch.Interface, error) {
	var list codatv1.CodatConnectionList
	if err := c.List(ctx, &list, client.InNamespace(benchNS)); err != nil {
		return nil, err
	}
	for i := range list.Items {
		see(&list.Items[i])
	}
	return c.Watch(ctx, &codatv1.CodatConnectionList{}, client.InNamespace(benchNS),
		&client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: list.ResourceVersion}})
}

func start(ctx context.Context, path string, args []string, logPath string, env ...string) (*exec.Cmd, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return nil, err
	}
	return cmd, nil
}

func stop(cmd *exec.Cmd) {
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	_ = cmd.Wait()
}

func freeAddr() string {
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().String()
}

func waitHTTP(ctx context.Context, url string) error {
	for ctx.Err() == nil {
		if resp, err := http.Get(url); err == nil { //nolint:gosec,noctx // a local address of this program's own
			_ = resp.Body.Close()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s never answered", url)
}

func send(method, url, body string) error {
	req, err := http.NewRequestWithContext(context.Background(), method, url, strings.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode >= 300 {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s %s: %d %s", method, url, resp.StatusCode, b)
	}
	return nil
}

func download(url, path string) error {
	resp, err := http.Get(url) //nolint:gosec,noctx // the manager this program started
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	return os.WriteFile(path, raw, 0o600)
}

func post(url, body string) error { return send(http.MethodPost, url, body) }
func put(url, body string) error  { return send(http.MethodPut, url, body) }

func simCounts(simURL string) (map[string]int, error) {
	resp, err := http.Get(simURL + "/_sim/counts") //nolint:noctx // the simulator this program started
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	var c codatsim.Counters
	return c.Operations, json.NewDecoder(resp.Body).Decode(&c)
}

// apiserverWrites sums the API server's count of updates (verb PUT) and patches of
// CodatConnections, status included, that it answered.
func apiserverWrites(ctx context.Context, cs *kubernetes.Clientset) (int, error) {
	raw, err := cs.RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return 0, err
	}
	total := 0
	sc := bufio.NewScanner(strings.NewReader(string(raw)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "apiserver_request_total{") || !strings.Contains(line, `resource="codatconnections"`) {
			continue
		}
		if !strings.Contains(line, `verb="PUT"`) && !strings.Contains(line, `verb="PATCH"`) {
			continue
		}
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err == nil {
			total += int(v)
		}
	}
	return total, nil
}

// usage reads a process's peak resident set size and CPU time from /proc.
func usage(pid int) (peakRSS int64, cpu time.Duration) {
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			peakRSS = kb * 1024
		}
	}
	stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if i := strings.LastIndexByte(string(stat), ')'); i > 0 {
		fields := strings.Fields(string(stat)[i+2:])
		if len(fields) > 12 {
			utime, _ := strconv.ParseInt(fields[11], 10, 64)
			stime, _ := strconv.ParseInt(fields[12], 10, 64)
			cpu = time.Duration(utime+stime) * time.Second / 100 // USER_HZ is 100 on Linux
		}
	}
	return peakRSS, cpu
}

// scrape reads the manager's gauges, summed over their labels.
func scrape(url string) map[string]float64 {
	out := map[string]float64{}
	resp, err := http.Get(url) //nolint:gosec,noctx // the manager this program started
	if err != nil {
		return out
	}
	defer func() { _ = resp.Body.Close() }()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, _, _ := strings.Cut(line, "{")
		name, _, _ = strings.Cut(name, " ")
		fields := strings.Fields(line)
		if v, err := strconv.ParseFloat(fields[len(fields)-1], 64); err == nil {
			out[name] += v
		}
	}
	return out
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}
