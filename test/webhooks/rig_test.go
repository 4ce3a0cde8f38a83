// Package webhooks tests the webhook receiver end to end: the simulator sends Codat's signed
// webhooks over real HTTP to a manager (real API server, the real reconciler and receiver), each
// test with its own namespace, simulator and manager, so that each can set its own intervals.
package webhooks

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crcontroller "sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
	"github.com/codat-operator/codat-operator/internal/codatclient"
	"github.com/codat-operator/codat-operator/internal/codatsim"
	"github.com/codat-operator/codat-operator/internal/controller"
	"github.com/codat-operator/codat-operator/internal/testenv"
	"github.com/codat-operator/codat-operator/internal/webhook"
)

const apiKey = "sk-webhooks-test"

var (
	env *testenv.Env
	k8s client.Client
)

func TestMain(m *testing.M) {
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.ErrorLevel)))
	testenv.Main(m, func(e *testenv.Env, c client.Client) { env, k8s = e, c })
}

// secretA and secretB are signing secrets, as Codat's portal shows them.
var (
	secretA = "whsec_" + base64.StdEncoding.EncodeToString([]byte("signing-key-A-0123456789abcdef"))
	secretB = "whsec_" + base64.StdEncoding.EncodeToString([]byte("signing-key-B-fedcba9876543210"))
)

// rigOptions are what a test sets of the manager.
type rigOptions struct {
	intervals controller.Intervals
	// noSigningSecret starts the manager with its signing Secret missing.
	noSigningSecret bool
	// certDir serves the receiver over HTTPS with tls.crt and tls.key from there.
	certDir    string
	simOptions codatsim.Options
}

// rig is one test's world: a namespace and company, a simulator sending webhooks, and a manager
// with the receiver.
type rig struct {
	t        testing.TB
	ns       string
	company  string
	sim      *codatsim.Simulator
	simURL   string
	receiver string // the receiver's URL, path included
	registry *prometheus.Registry
	consumer codatsim.Consumer
}

func newRig(t testing.TB, o rigOptions) *rig {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &rig{t: t, ns: "wh-" + rand.String(8), company: string(uuid.NewUUID()), registry: prometheus.NewRegistry()}
	for _, obj := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: r.ns}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: r.ns, Name: "codat"}, StringData: map[string]string{"apiKey": apiKey}},
	} {
		if err := k8s.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	if !o.noSigningSecret {
		r.setSigningSecrets(map[string]string{"current": secretA})
	}

	so := o.simOptions
	so.APIKeys, so.Companies = []string{apiKey}, []string{r.company}
	if so.WebhookRetryScale == 0 {
		so.WebhookRetryScale = 0.001
	}
	r.sim = codatsim.New(so)
	srv := httptest.NewServer(r.sim)
	r.simURL = srv.URL

	codat, err := codatclient.New(codatclient.Options{BaseURL: srv.URL, Timeout: 5 * time.Second, RequestsPerSecond: 500, Burst: 100})
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:                 testenv.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  cache.Options{DefaultNamespaces: map[string]cache.Config{r.ns: {}}},
		Client:                 client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	metrics, err := webhook.NewMetrics(r.registry)
	if err != nil {
		t.Fatal(err)
	}
	log := ctrl.Log.WithName(r.ns)
	hooks := &controller.Webhooks{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Metrics: metrics, Log: log}
	secrets := &webhook.Secrets{}
	listening := make(chan string, 1)
	server := &webhook.Server{Addr: "127.0.0.1:0", CertDir: o.certDir, Log: log, OnListening: func(a string) { listening <- a },
		Receiver: &webhook.Receiver{Secrets: secrets, Sink: hooks, Metrics: metrics, Log: log}}
	hooks.Healthy = server.Healthy
	loader := &webhook.SecretLoader{Name: types.NamespacedName{Namespace: r.ns, Name: "codat-webhooks"},
		Reader: mgr.GetAPIReader(), Cache: mgr.GetCache(), Secrets: secrets, Log: log, Interval: time.Hour}
	for _, runnable := range []manager.Runnable{server, loader} {
		if err := mgr.Add(runnable); err != nil {
			t.Fatal(err)
		}
	}
	rec := &controller.Reconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Codat: controller.ClientConnector{Client: codat},
		Recorder: mgr.GetEventRecorder("codat-operator"), Intervals: o.intervals, Webhooks: hooks,
	}
	if err := rec.SetupWithManager(mgr, crcontroller.Options{MaxConcurrentReconciles: 4, SkipNameValidation: ptr.To(true)}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
		r.sim.Close()
		srv.Close()
	})
	scheme := "http"
	if o.certDir != "" {
		scheme = "https"
	}
	select {
	case addr := <-listening:
		r.receiver = scheme + "://" + addr + webhook.Path
	case <-time.After(30 * time.Second):
		t.Fatal("the receiver never listened")
	}
	r.consumer, err = r.sim.AddConsumer(codatsim.Consumer{URL: r.receiver, Secret: secretA})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// setSigningSecrets writes the Secret the receiver reads its signing secrets from.
func (r *rig) setSigningSecrets(data map[string]string) {
	r.t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: r.ns, Name: "codat-webhooks"}}
	err := k8s.Get(context.Background(), client.ObjectKeyFromObject(s), s)
	s.Data, s.StringData = nil, data
	if err == nil {
		err = k8s.Update(context.Background(), s)
	} else {
		err = k8s.Create(context.Background(), s)
	}
	if err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) create(name string) {
	r.t.Helper()
	o := &codatv1.CodatConnection{
		ObjectMeta: metav1.ObjectMeta{Namespace: r.ns, Name: name},
		Spec: codatv1.CodatConnectionSpec{CompanyID: r.company, PlatformKey: "gbol",
			CredentialsRef: &codatv1.SecretKeyReference{Name: "codat"}},
	}
	if err := k8s.Create(context.Background(), o); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) get(name string) *codatv1.CodatConnection {
	r.t.Helper()
	o := &codatv1.CodatConnection{}
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: r.ns, Name: name}, o); err != nil {
		r.t.Fatal(err)
	}
	return o
}

// waitFor polls the object until ok, for at most timeout.
func (r *rig) waitFor(name, what string, timeout time.Duration, ok func(*codatv1.CodatConnection) bool) *codatv1.CodatConnection {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	var last *codatv1.CodatConnection
	for time.Now().Before(deadline) {
		last = r.get(name)
		if ok(last) {
			return last
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.t.Fatalf("%s never became %s within %s; status %+v", name, what, timeout, last.Status)
	return nil
}

func (r *rig) waitReady(name, reason string, timeout time.Duration) *codatv1.CodatConnection {
	r.t.Helper()
	return r.waitFor(name, "Ready reason "+reason, timeout, func(o *codatv1.CodatConnection) bool {
		c := meta.FindStatusCondition(o.Status.Conditions, codatv1.ConditionReady)
		return c != nil && c.Reason == reason && c.ObservedGeneration == o.Generation
	})
}

// calls counts the simulator's requests for the rig's company, optionally of one operation.
func (r *rig) calls(op string) int {
	n := 0
	for _, q := range r.sim.Requests() {
		if q.CompanyID == r.company && (op == "" || q.Operation == op) {
			n++
		}
	}
	return n
}

// delivered waits until the simulator has delivered (2xx) an event of the type.
func (r *rig) delivered(eventType string, timeout time.Duration) {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for _, d := range r.sim.Deliveries() {
			if d.EventType == eventType && d.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.t.Fatalf("no %s event was delivered; deliveries: %+v", eventType, r.sim.Deliveries())
}

// gauge reads a gauge of the rig's webhook metrics.
func (r *rig) metric(name string, labels map[string]string) float64 {
	r.t.Helper()
	families, err := r.registry.Gather()
	if err != nil {
		r.t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if want, ok := labels[l.GetName()]; ok && want != l.GetValue() {
					continue series
				}
			}
			if m.GetGauge() != nil {
				return m.GetGauge().GetValue()
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			if m.GetHistogram() != nil {
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return 0
}

// awaiting creates an object and waits until its connection waits for the business.
func (r *rig) awaiting(name string) *codatv1.CodatConnection {
	r.t.Helper()
	r.create(name)
	return r.waitReady(name, codatv1.ReasonAwaitingAuthorization, 30*time.Second)
}

// corev1Secret names a Secret to delete.
func corev1Secret(ns, name string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
}
