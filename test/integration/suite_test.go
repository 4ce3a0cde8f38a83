package integration_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
	"github.com/codat-operator/codat-operator/internal/access"
	"github.com/codat-operator/codat-operator/internal/codatclient"
	"github.com/codat-operator/codat-operator/internal/codatsim"
	"github.com/codat-operator/codat-operator/internal/controller"
	"github.com/codat-operator/codat-operator/internal/operator"
	"github.com/codat-operator/codat-operator/internal/testenv"
)

// The suite runs one manager with the reconciler against a real API server
// (envtest) and the Codat simulator over real HTTP. Each test works in its
// own namespace with its own Codat companies, so most run in parallel; tests
// that inject faults into the whole simulator run first, one at a time.

const (
	// apiKey is the operator's default Codat API key; like every secret
	// value in the suite it must never show up in logs, events or status.
	apiKey      = "sk-default-7d1c0e9a4b"
	operatorNS  = "codat-system"
	defaultCred = "codat-credentials"
)

var (
	env    *testenv.Env
	k8s    client.Client // uncached: what a user sees
	sim    *codatsim.Simulator
	simURL string
	// codatClient is the operator's client; defaultCredentials its default Secret.
	codatClient        *codatclient.Client
	defaultCredentials = types.NamespacedName{Namespace: operatorNS, Name: defaultCred}
	writes             = &writeCounter{counts: map[types.NamespacedName]int{}}
	logs               = &syncBuffer{}

	// secretValues collects every secret the tests hand to the operator.
	secretValues = newSecretSet(apiKey)
	// casesStarted counts the tests (and benchmarks) that made objects.
	casesStarted atomic.Int64
)

func TestMain(m *testing.M) {
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	var err error
	if env, err = testenv.Start(); err != nil {
		return 1, err
	}
	defer func() { _ = env.Stop() }()
	if k8s, err = client.New(env.Config, client.Options{Scheme: testenv.Scheme}); err != nil {
		return 1, err
	}

	sim = codatsim.New(codatsim.Options{APIKeys: []string{apiKey}, Seed: 7})
	server := httptest.NewServer(sim)
	simURL = server.URL
	defer server.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := createDefaultCredentials(ctx); err != nil {
		return 1, err
	}

	ctrl.SetLogger(zap.New(zap.WriteTo(logs), zap.Level(zapcore.DebugLevel)))
	config := operator.Config{
		// As fast as Codat's per-IP ceiling allows.
		Codat:       codatclient.Options{BaseURL: server.URL, Timeout: 5 * time.Second, RequestsPerSecond: 14, Burst: 100},
		Credentials: controller.DefaultCredentials{Secret: defaultCredentials, Grant: grant},
		Intervals: controller.Intervals{
			PendingAuth: time.Second,
			// Settled objects are polled on demand (reconcile-requested-at),
			// so that counts of Codat calls are exact.
			Settled:     time.Hour,
			BackoffBase: time.Second,
			BackoffMax:  2 * time.Second,
		},
		Workers:  8,
		Registry: prometheus.NewRegistry(),
		Log:      ctrl.Log,
	}
	mgr, err := ctrl.NewManager(env.Config, operator.ManagerOptions(config, ctrl.Options{
		Scheme:                 testenv.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		NewClient:              writes.newClient,
	}))
	if err != nil {
		return 1, err
	}
	op, err := operator.Add(mgr, config)
	if err != nil {
		return 1, err
	}
	codatClient = op.Codat
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()

	code := m.Run()
	// The scan needs the whole suite's objects and logs: a partial run
	// (-run, -bench) would make it prove nothing.
	if code == 0 && flag.Lookup("test.run").Value.String() == "" && flag.Lookup("test.bench").Value.String() == "" {
		if err := scanForSecrets(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, "FAIL: secret leak:", err)
			code = 1
		}
	}
	cancel()
	if err := <-done; err != nil {
		return 1, fmt.Errorf("manager: %w", err)
	}
	return code, nil
}

// grant gives the default credentials to namespaces labelled as the shipped
// manifests expect; newCase labels every test namespace so.
var grant = func() access.Grant {
	g, err := access.ParseGrant(nil, access.GrantedSelector)
	if err != nil {
		panic(err)
	}
	return g
}()

func createDefaultCredentials(ctx context.Context) error {
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNS}}); err != nil {
		return err
	}
	return k8s.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: operatorNS, Name: defaultCred},
		StringData: map[string]string{codatv1.DefaultCredentialsKey: apiKey},
	})
}

// scanForSecrets checks, after every test ran, that no secret value handed
// to the operator (API keys, authorization values) appears in its logs, in
// any event or in any CodatConnection.
func scanForSecrets(ctx context.Context) error {
	var conns codatv1.CodatConnectionList
	if err := k8s.List(ctx, &conns); err != nil {
		return err
	}
	var events eventsv1.EventList
	if err := k8s.List(ctx, &events); err != nil {
		return err
	}
	logText := logs.String()
	if len(conns.Items) == 0 || len(events.Items) == 0 || !strings.Contains(logText, "Codat request failed") {
		return fmt.Errorf("nothing to scan (%d objects, %d events, %d bytes of logs): the scan would prove nothing",
			len(conns.Items), len(events.Items), len(logText))
	}
	haystacks := map[string]string{"the operator's logs": logText}
	for _, c := range conns.Items {
		haystacks["CodatConnection "+c.Namespace+"/"+c.Name] = fmt.Sprintf("%+v", c)
	}
	for _, e := range events.Items {
		haystacks["event "+e.Namespace+"/"+e.Name] = e.Note + " " + e.Reason
	}
	for where, text := range haystacks {
		if s, ok := secretValues.foundIn(text); ok {
			return fmt.Errorf("%s contains the secret value %.3s…", where, s)
		}
	}
	fmt.Fprintf(os.Stderr, "secret scan: %d secret values absent from %d log bytes, %d events, %d objects\n",
		secretValues.len(), len(logText), len(events.Items), len(conns.Items))
	return nil
}

// writeCounter counts the operator's writes to each CodatConnection (metadata
// and status), for the cost tests.
type writeCounter struct {
	mu     sync.Mutex
	counts map[types.NamespacedName]int
}

func (w *writeCounter) newClient(cfg *rest.Config, o client.Options) (client.Client, error) {
	c, err := client.New(cfg, o)
	if err != nil {
		return nil, err
	}
	return client.WithFieldOwner(&countingClient{Client: c, w: w}, "codat-operator"), nil
}

func (w *writeCounter) add(obj client.Object) {
	if _, ok := obj.(*codatv1.CodatConnection); !ok {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.counts[client.ObjectKeyFromObject(obj)]++
}

func (w *writeCounter) of(key types.NamespacedName) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.counts[key]
}

type countingClient struct {
	client.Client
	w *writeCounter
}

func (c *countingClient) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	c.w.add(obj)
	return c.Client.Update(ctx, obj, opts...)
}

func (c *countingClient) Patch(ctx context.Context, obj client.Object, p client.Patch, opts ...client.PatchOption) error {
	c.w.add(obj)
	return c.Client.Patch(ctx, obj, p, opts...)
}

func (c *countingClient) Status() client.SubResourceWriter {
	return &countingStatus{SubResourceWriter: c.Client.Status(), w: c.w}
}

type countingStatus struct {
	client.SubResourceWriter
	w *writeCounter
}

func (s *countingStatus) Update(ctx context.Context, obj client.Object, opts ...client.SubResourceUpdateOption) error {
	s.w.add(obj)
	return s.SubResourceWriter.Update(ctx, obj, opts...)
}

func (s *countingStatus) Patch(ctx context.Context, obj client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
	s.w.add(obj)
	return s.SubResourceWriter.Patch(ctx, obj, p, opts...)
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type secretSet struct {
	mu     sync.Mutex
	values []string
}

func newSecretSet(values ...string) *secretSet {
	s := &secretSet{}
	for _, v := range values {
		s.add(v)
	}
	return s
}

// add records a secret value and its Base64 form (as in the Authorization header).
func (s *secretSet) add(v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.values = append(s.values, v, base64.StdEncoding.EncodeToString([]byte(v)))
}

func (s *secretSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.values)
}

func (s *secretSet) foundIn(text string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range s.values {
		if strings.Contains(text, v) {
			return v, true
		}
	}
	return "", false
}
