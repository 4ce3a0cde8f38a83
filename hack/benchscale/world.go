package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/codat-operator/codat-operator/internal/testenv"
	"github.com/codat-operator/codat-operator/internal/webhook"
)

// world is what a run measures: a control plane, the simulator and the manager, as processes.
type world struct {
	o         options
	env       *testenv.Env
	c         client.WithWatch
	clientset *kubernetes.Clientset
	dir       string
	companies []string

	simURL, receiverAddr, metricsAddr, pprofAddr string
	sim, manager                                 *exec.Cmd
}

// startWorld starts what a run needs; stop undoes what it started, also after an error.
func startWorld(ctx context.Context, o options) (*world, error) {
	w := &world{o: o, receiverAddr: freeAddr(), metricsAddr: freeAddr(), pprofAddr: freeAddr()}
	if err := os.Setenv("KUBEBUILDER_ASSETS", o.assets); err != nil {
		return w, err
	}
	var err error
	if w.env, err = testenv.Start(); err != nil {
		return w, err
	}
	cfg := *w.env.Config
	cfg.QPS, cfg.Burst = 1000, 2000
	if w.c, err = client.NewWithWatch(&cfg, client.Options{Scheme: testenv.Scheme}); err != nil {
		return w, err
	}
	if w.clientset, err = kubernetes.NewForConfig(&cfg); err != nil {
		return w, err
	}
	if w.dir, err = os.MkdirTemp("", "benchscale-"); err != nil {
		return w, err
	}
	for _, step := range []func(context.Context) error{w.startSimulator, w.seedCompanies, w.createOperatorObjects, w.startManager} {
		if err := step(ctx); err != nil {
			return w, err
		}
	}
	return w, nil
}

func (w *world) stop() {
	for _, cmd := range []*exec.Cmd{w.manager, w.sim} {
		if cmd != nil {
			stop(cmd)
		}
	}
	if w.env != nil {
		_ = w.env.Stop()
	}
	if w.dir != "" {
		_ = os.RemoveAll(w.dir)
	}
}

// startSimulator starts the simulator with Codat's quota formula, sending webhooks when asked.
func (w *world) startSimulator(ctx context.Context) error {
	simAddr := freeAddr()
	w.simURL = "http://" + simAddr
	args := []string{"--listen", simAddr, "--api-key", apiKey, "--quota-per-connected-company", "1000", "--webhook-retry-scale", "0.01"}
	if w.o.webhooks {
		args = append(args, "--webhook-url", "http://"+w.receiverAddr+webhook.Path, "--webhook-secret", signingSecret)
	}
	var err error
	if w.sim, err = start(ctx, filepath.Join(w.o.bin, "codat-simulator"), args, filepath.Join(w.dir, "simulator.log")); err != nil {
		return err
	}
	return waitHTTP(ctx, w.simURL+"/_sim/companies")
}

// seedCompanies makes the companies, each an active customer (a linked connection of another
// platform, which Codat's quota counts), then sets the latency asked for.
func (w *world) seedCompanies(context.Context) error {
	w.companies = make([]string, (w.o.objects+w.o.perCompany-1)/w.o.perCompany)
	for i := range w.companies {
		w.companies[i] = string(uuid.NewUUID())
		if err := post(w.simURL+"/_sim/companies", fmt.Sprintf(`{"id":%q}`, w.companies[i])); err != nil {
			return err
		}
		if err := post(w.simURL+"/_sim/companies/"+w.companies[i]+"/connections",
			fmt.Sprintf(`{"id":%q,"platformKey":"mqjo","status":"Linked"}`, string(uuid.NewUUID()))); err != nil {
			return err
		}
	}
	return put(w.simURL+"/_sim/faults", fmt.Sprintf(`{"latency":%q}`, w.o.latency.String()))
}

// createOperatorObjects makes the namespaces and the Secrets the manager reads.
func (w *world) createOperatorObjects(ctx context.Context) error {
	for _, obj := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNS}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: benchNS}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNS, Name: "codat-credentials"}, StringData: map[string]string{"apiKey": apiKey}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNS, Name: "codat-webhooks"}, StringData: map[string]string{"current": signingSecret}},
	} {
		if err := w.c.Create(ctx, obj); err != nil {
			return err
		}
	}
	return nil
}

// startManager starts the manager binary at its default flags but for its addresses.
func (w *world) startManager(ctx context.Context) error {
	args := []string{"--kubeconfig", w.env.Kubeconfig, "--codat-base-url", w.simURL,
		"--default-credentials-secret", operatorNS + "/codat-credentials", "--default-credentials-namespaces", benchNS, "--health-probe-bind-address", "0",
		"--metrics-bind-address", w.metricsAddr, "--metrics-secure=false", "--zap-log-level", "error"}
	if w.o.webhooks {
		args = append(args, "--webhook-bind-address", w.receiverAddr, "--webhook-secret", operatorNS+"/codat-webhooks")
	}
	if w.o.heapProfile != "" {
		args = append(args, "--pprof-bind-address", w.pprofAddr)
	}
	var env []string
	if w.o.memoryLimit != "" {
		mib, err := strconv.ParseFloat(w.o.memoryLimit, 64)
		if err != nil || mib <= 0 {
			return fmt.Errorf("--manager-memory-limit %q: want MiB, e.g. 96", w.o.memoryLimit)
		}
		// What cmd/manager sets from a container's cgroup limit (memoryLimitShare, 0.8).
		env = append(env, fmt.Sprintf("GOMEMLIMIT=%d", int64(mib*0.8*(1<<20))))
	}
	var err error
	if w.manager, err = start(ctx, filepath.Join(w.o.bin, "manager"), args, filepath.Join(w.dir, "manager.log"), env...); err != nil {
		return err
	}
	if err := waitHTTP(ctx, "http://"+w.metricsAddr+"/metrics"); err != nil {
		return fmt.Errorf("the manager did not come up: %w\n%s", err, tail(filepath.Join(w.dir, "manager.log")))
	}
	return nil
}
