// Package rig is the world of a test that needs its own manager: a namespace, Codat companies, an
// in-process simulator over real HTTP, and a manager running the real reconciler (and, if asked,
// the webhook receiver and the request budget) against the test's API server. Each test can so set
// its own intervals and limits.
package rig

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/uuid"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
	"github.com/codat-operator/codat-operator/internal/access"
	"github.com/codat-operator/codat-operator/internal/budget"
	"github.com/codat-operator/codat-operator/internal/codatclient"
	"github.com/codat-operator/codat-operator/internal/codatsim"
	"github.com/codat-operator/codat-operator/internal/controller"
	"github.com/codat-operator/codat-operator/internal/operator"
	"github.com/codat-operator/codat-operator/internal/testenv"
	"github.com/codat-operator/codat-operator/internal/webhook"
)

// APIKey is the key the simulator accepts and the Secret "codat" of each rig's namespace holds.
const APIKey = "sk-rig-test"

// SecretA and SecretB are signing secrets, as Codat's portal shows them.
var (
	SecretA = "whsec_" + base64.StdEncoding.EncodeToString([]byte("signing-key-A-0123456789abcdef"))
	SecretB = "whsec_" + base64.StdEncoding.EncodeToString([]byte("signing-key-B-fedcba9876543210"))
)

// Options are what a test sets of its world.
type Options struct {
	Intervals controller.Intervals
	// Webhooks runs the receiver, and registers it with the simulator.
	Webhooks bool
	// NoSigningSecret starts the manager with its signing Secret missing.
	NoSigningSecret bool
	// CertDir serves the receiver over HTTPS with tls.crt and tls.key from there.
	CertDir string
	// Sim are the simulator's options (keys and companies are the rig's).
	Sim codatsim.Options
	// RequestsPerSecond and Burst limit the operator's client (default 14 and 100, the per-IP ceiling).
	RequestsPerSecond float64
	Burst             int
	// Budget, if set, gives the manager a request budget with these options.
	Budget *budget.Options
	// Companies is how many Codat companies the rig has (default 1).
	Companies int
	// Workers is the number of concurrent reconciles (default 4).
	Workers int
	// DefaultCredentials, when set, makes Secret "codat" of the rig's namespace (or
	// DefaultCredentialsSecret) the operator's default credentials, granted as it says.
	DefaultCredentials       *access.Grant
	DefaultCredentialsSecret types.NamespacedName
	// LinkURLs says where link URLs go (default: status).
	LinkURLs controller.LinkURLDestination
	// CodatProxy, when set, stands between the operator and the simulator: it may hold or
	// change Codat's answers (the simulator's own calls, such as webhooks, do not pass it).
	CodatProxy func(http.Handler) http.Handler
	// DefaultDeletionPolicy is the operator's --default-deletion-policy.
	DefaultDeletionPolicy codatv1.DeletionPolicy
}

// Rig is one test's world.
type Rig struct {
	t         testing.TB
	k8s       client.Client
	NS        string
	Company   string   // the first of Companies
	Companies []string // the rig's Codat companies
	Sim       *codatsim.Simulator
	SimURL    string
	Receiver  string // the receiver's URL, path included ("" without webhooks)
	Registry  *prometheus.Registry
	Consumer  codatsim.Consumer
	// Budget is the manager's request budget, when Options.Budget is set.
	Budget *budget.Budget
}

// New builds the world and starts its manager; the test's cleanup stops it.
func New(t testing.TB, env *testenv.Env, k8s client.Client, o Options) *Rig {
	t.Helper()
	r := &Rig{t: t, k8s: k8s, NS: "rig-" + rand.String(8), Registry: prometheus.NewRegistry()}
	for range max(o.Companies, 1) {
		r.Companies = append(r.Companies, string(uuid.NewUUID()))
	}
	r.Company = r.Companies[0]
	for _, obj := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: r.NS}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: r.NS, Name: "codat"}, StringData: map[string]string{"apiKey": APIKey}},
	} {
		if err := r.k8s.Create(context.Background(), obj); err != nil {
			t.Fatal(err)
		}
	}
	if o.Webhooks && !o.NoSigningSecret {
		r.SetSigningSecrets(map[string]string{"current": SecretA})
	}
	codatURL := r.startSimulator(o)
	listening := make(chan string, 1)
	r.startManager(env, r.operatorConfig(o, codatURL, listening))
	if o.Webhooks {
		r.registerReceiver(o, listening)
	}
	return r
}

// startSimulator starts the rig's simulator over real HTTP and returns the URL the operator
// calls: the simulator's, or that of the test's proxy in front of it.
func (r *Rig) startSimulator(o Options) string {
	so := o.Sim
	so.APIKeys, so.Companies = []string{APIKey}, r.Companies
	if so.Seed == 0 {
		// Rigs share the API server: connection ids must differ between their simulators.
		so.Seed = rand.Int63nRange(1, 1<<62)
	}
	if so.WebhookRetryScale == 0 {
		so.WebhookRetryScale = 0.001
	}
	r.Sim = codatsim.New(so)
	srv := httptest.NewServer(r.Sim)
	r.SimURL = srv.URL
	r.t.Cleanup(func() { r.Sim.Close(); srv.Close() })
	if o.CodatProxy == nil {
		return srv.URL
	}
	proxy := httptest.NewServer(o.CodatProxy(r.Sim))
	r.t.Cleanup(proxy.Close)
	return proxy.URL
}

// operatorConfig is the operator the test asks for, in the rig's namespace.
func (r *Rig) operatorConfig(o Options, codatURL string, listening chan<- string) operator.Config {
	config := operator.Config{
		// As fast as the per-IP ceiling allows (14 a second, bursts of 100).
		Codat:     codatclient.Options{BaseURL: codatURL, Timeout: 5 * time.Second, RequestsPerSecond: 14, Burst: 100},
		Intervals: o.Intervals,
		LinkURLs:  o.LinkURLs,

		DefaultDeletionPolicy: o.DefaultDeletionPolicy,
		Namespaces:            []string{r.NS},
		Workers:               o.Workers,
		Registry:              r.Registry,
		Log:                   ctrl.Log.WithName(r.NS),
		// Several managers run in one test process.
		SkipNameValidation: true,
	}
	if o.RequestsPerSecond > 0 {
		config.Codat.RequestsPerSecond, config.Codat.Burst = o.RequestsPerSecond, o.Burst
	}
	if o.Budget != nil {
		config.Budget = *o.Budget
	}
	if o.DefaultCredentials != nil {
		secret := o.DefaultCredentialsSecret
		if secret.Name == "" {
			secret = types.NamespacedName{Namespace: r.NS, Name: "codat"}
		}
		config.Credentials = controller.DefaultCredentials{Secret: secret, Grant: *o.DefaultCredentials}
	}
	if o.Webhooks {
		config.Webhooks = &operator.Webhooks{Addr: "127.0.0.1:0", CertDir: o.CertDir, SecretReload: time.Hour,
			Secret: types.NamespacedName{Namespace: r.NS, Name: "codat-webhooks"}, OnListening: func(a string) { listening <- a }}
	}
	return config
}

// startManager runs the operator in a manager of its own; the test's cleanup stops it (before the
// simulator, whose cleanup was registered first).
func (r *Rig) startManager(env *testenv.Env, config operator.Config) {
	mgr, err := ctrl.NewManager(env.Config, operator.ManagerOptions(config, ctrl.Options{
		Scheme:                 testenv.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	}))
	if err != nil {
		r.t.Fatal(err)
	}
	op, err := operator.Add(mgr, config)
	if err != nil {
		r.t.Fatal(err)
	}
	r.Budget = op.Budget
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	r.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			r.t.Errorf("manager: %v", err)
		}
	})
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		r.t.Fatal("the manager's cache never synced")
	}
}

// registerReceiver waits for the receiver to listen and makes it the simulator's webhook consumer.
func (r *Rig) registerReceiver(o Options, listening <-chan string) {
	scheme := "http"
	if o.CertDir != "" {
		scheme = "https"
	}
	select {
	case addr := <-listening:
		r.Receiver = scheme + "://" + addr + webhook.Path
	case <-time.After(30 * time.Second):
		r.t.Fatal("the receiver never listened")
	}
	var err error
	if r.Consumer, err = r.Sim.AddConsumer(codatsim.Consumer{URL: r.Receiver, Secret: SecretA}); err != nil {
		r.t.Fatal(err)
	}
}

// SetSigningSecrets writes the Secret the receiver reads its signing secrets from.
func (r *Rig) SetSigningSecrets(data map[string]string) {
	r.t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: r.NS, Name: "codat-webhooks"}}
	err := r.k8s.Get(context.Background(), client.ObjectKeyFromObject(s), s)
	s.Data, s.StringData = nil, data
	if err == nil {
		err = r.k8s.Update(context.Background(), s)
	} else {
		err = r.k8s.Create(context.Background(), s)
	}
	if err != nil {
		r.t.Fatal(err)
	}
}

// Create makes a CodatConnection to Xero for the rig's first company, with the rig's key.
func (r *Rig) Create(name string) { r.CreateWith(name, nil) }

// CreateWith makes a CodatConnection like Create, changed by mutate first.
func (r *Rig) CreateWith(name string, mutate func(*codatv1.CodatConnection)) {
	r.t.Helper()
	o := &codatv1.CodatConnection{
		ObjectMeta: metav1.ObjectMeta{Namespace: r.NS, Name: name},
		Spec: codatv1.CodatConnectionSpec{CompanyID: r.Company, PlatformKey: "gbol",
			CredentialsRef: &codatv1.SecretKeyReference{Name: "codat"}},
	}
	if mutate != nil {
		mutate(o)
	}
	if err := r.k8s.Create(context.Background(), o); err != nil {
		r.t.Fatal(err)
	}
}

// Get reads an object of the rig's namespace from the API server.
func (r *Rig) Get(name string) *codatv1.CodatConnection {
	r.t.Helper()
	o := &codatv1.CodatConnection{}
	if err := r.k8s.Get(context.Background(), types.NamespacedName{Namespace: r.NS, Name: name}, o); err != nil {
		r.t.Fatal(err)
	}
	return o
}

// WaitFor polls the object until ok, for at most timeout.
func (r *Rig) WaitFor(name, what string, timeout time.Duration, ok func(*codatv1.CodatConnection) bool) *codatv1.CodatConnection {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	var last *codatv1.CodatConnection
	for time.Now().Before(deadline) {
		last = r.Get(name)
		if ok(last) {
			return last
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.t.Fatalf("%s never became %s within %s; status %+v", name, what, timeout, last.Status)
	return nil
}

// WaitMetric waits until the series with the labels has the value, for at most timeout. The gauges
// of the objects count the manager's cache, which hears of a status write a moment after the API
// server took it: a test that saw the write waits for the gauge too.
func (r *Rig) WaitMetric(name string, labels map[string]string, want float64, timeout time.Duration) {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	got := r.Metric(name, labels)
	for got != want && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		got = r.Metric(name, labels)
	}
	if got != want {
		r.t.Errorf("%s%v = %v, want %v (waited %s)", name, labels, got, want, timeout)
	}
}

// WaitGone waits until the object no longer exists.
func (r *Rig) WaitGone(name string, timeout time.Duration) {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		err := r.k8s.Get(context.Background(), types.NamespacedName{Namespace: r.NS, Name: name}, &codatv1.CodatConnection{})
		if apierrors.IsNotFound(err) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.t.Fatalf("%s was never deleted within %s", name, timeout)
}

// WaitReady waits until Ready has the reason for the object's current generation.
func (r *Rig) WaitReady(name, reason string, timeout time.Duration) *codatv1.CodatConnection {
	r.t.Helper()
	return r.WaitFor(name, "Ready reason "+reason, timeout, func(o *codatv1.CodatConnection) bool {
		c := meta.FindStatusCondition(o.Status.Conditions, codatv1.ConditionReady)
		return c != nil && c.Reason == reason && c.ObservedGeneration == o.Generation
	})
}

// Calls counts the simulator's requests for the rig's company, optionally of one operation.
func (r *Rig) Calls(op string) int {
	n := 0
	for _, q := range r.Sim.Requests() {
		if q.CompanyID == r.Company && (op == "" || q.Operation == op) {
			n++
		}
	}
	return n
}

// Delivered waits until the simulator has delivered (2xx) an event of the type.
func (r *Rig) Delivered(eventType string, timeout time.Duration) {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for _, d := range r.Sim.Deliveries() {
			if d.EventType == eventType && d.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.t.Fatalf("no %s event was delivered; deliveries: %+v", eventType, r.Sim.Deliveries())
}

// Metric reads a gauge, counter or histogram count of the rig's metrics.
func (r *Rig) Metric(name string, labels map[string]string) float64 {
	r.t.Helper()
	families, err := r.Registry.Gather()
	if err != nil {
		r.t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if hasLabels(m, labels) {
				return valueOf(m)
			}
		}
	}
	return 0
}

// hasLabels says whether the series carries every label given, with its value.
func hasLabels(m *dto.Metric, labels map[string]string) bool {
	for _, l := range m.GetLabel() {
		if want, ok := labels[l.GetName()]; ok && want != l.GetValue() {
			return false
		}
	}
	return true
}

// valueOf is a gauge's or counter's value, or a histogram's count.
func valueOf(m *dto.Metric) float64 {
	switch {
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue()
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	case m.GetHistogram() != nil:
		return float64(m.GetHistogram().GetSampleCount())
	}
	return 0
}

// Awaiting creates an object and waits until its connection waits for the business.
func (r *Rig) Awaiting(name string) *codatv1.CodatConnection {
	r.t.Helper()
	r.Create(name)
	return r.WaitReady(name, codatv1.ReasonAwaitingAuthorization, 30*time.Second)
}

// SecretNamed names a Secret, to delete it.
func SecretNamed(ns, name string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
}
