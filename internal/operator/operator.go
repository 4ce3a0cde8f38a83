// Package operator is the composition root: it builds the operator's parts (the Codat client,
// the request budget, the pacer, the webhook receiver, the reconciler and their metrics) from one
// Config, and adds them to a manager. cmd/manager, the test rig and the integration suite all
// build the operator here, so that tests run what production runs.
package operator

import (
	"errors"
	"slices"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crcontroller "sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
	"github.com/codat-operator/codat-operator/internal/budget"
	"github.com/codat-operator/codat-operator/internal/codatclient"
	"github.com/codat-operator/codat-operator/internal/controller"
	"github.com/codat-operator/codat-operator/internal/pacer"
	"github.com/codat-operator/codat-operator/internal/webhook"
)

// Config is everything the operator is built from: the manager's flags, or what a test sets.
type Config struct {
	// Codat configures the client; the root wires its metrics and its rate-limit headers to the
	// budget (Metrics and OnRateLimit are ignored).
	Codat     codatclient.Options
	Budget    budget.Options
	Intervals controller.Intervals
	// Credentials are the default credentials and the namespaces granted them.
	Credentials controller.DefaultCredentials
	// DefaultDeletionPolicy is the operator-wide default of spec.deletionPolicy ("": the built-in rule).
	DefaultDeletionPolicy codatv1.DeletionPolicy
	LinkURLs              controller.LinkURLDestination
	// Namespaces are the namespaces watched; empty is all.
	Namespaces []string
	// Workers reconcile at the same time (default 4).
	Workers int
	// Webhooks, when set, runs the receiver of Codat's webhooks.
	Webhooks *Webhooks
	// Registry takes the operator's metrics.
	Registry prometheus.Registerer
	Log      logr.Logger
	// SkipNameValidation lets a process run several managers (tests).
	SkipNameValidation bool
}

// Webhooks configures the receiver of Codat's webhooks.
type Webhooks struct {
	// Addr is where it listens; CertDir, when set, holds tls.crt and tls.key for HTTPS.
	Addr, CertDir string
	// Secret holds the signing secrets.
	Secret types.NamespacedName
	// SecretReload is the fallback re-read of the Secret (default a minute).
	SecretReload time.Duration
	// OnListening is called with the bound address (tests listen on port 0).
	OnListening func(addr string)
	// LeaderPod, when set, is this replica's Pod: while it leads, it carries the label the
	// receiver Service selects, so that deliveries reach the leader.
	LeaderPod types.NamespacedName
}

// Operator is what Add built.
type Operator struct {
	Codat      *codatclient.Client
	Budget     *budget.Budget
	Pacer      *pacer.Pacer
	Reconciler *controller.Reconciler
	// Companies reconciles CodatCompanies.
	Companies *controller.CompanyReconciler
	// Webhooks is nil without a receiver.
	Webhooks *controller.Webhooks
}

// ManagerOptions completes a manager's options with what the operator needs of its cache: only
// what the reconciler reads is kept (CacheTransform), Secrets are never cached whole (only their
// metadata, by the watches), and with watched namespaces, the operator's own namespaces are
// watched too (default credentials, signing secrets).
func ManagerOptions(c Config, o ctrl.Options) ctrl.Options {
	o.Cache.DefaultTransform = controller.CacheTransform
	if len(c.Namespaces) > 0 {
		o.Cache.DefaultNamespaces = map[string]cache.Config{}
		for _, n := range slices.Concat(c.Namespaces, []string{c.Credentials.Secret.Namespace, c.webhookNamespace()}) {
			if n != "" {
				o.Cache.DefaultNamespaces[n] = cache.Config{}
			}
		}
	}
	if o.Client.Cache == nil {
		o.Client.Cache = &client.CacheOptions{}
	}
	o.Client.Cache.DisableFor = append(o.Client.Cache.DisableFor, &corev1.Secret{})
	return o
}

func (c Config) webhookNamespace() string {
	if c.Webhooks == nil {
		return ""
	}
	return c.Webhooks.Secret.Namespace
}

// Add builds the operator from c and adds it to mgr.
func Add(mgr manager.Manager, c Config) (*Operator, error) {
	if c.Registry == nil {
		return nil, errors.New("operator: a metrics registry is required")
	}
	op := &Operator{Budget: budget.New(c.Budget)}
	if err := op.Budget.Register(c.Registry); err != nil {
		return nil, err
	}
	clientMetrics, err := codatclient.NewMetrics(c.Registry)
	if err != nil {
		return nil, err
	}
	co := c.Codat
	co.Metrics = clientMetrics
	co.OnRateLimit = func(rl codatclient.RateLimit) { op.Budget.Observe(rl.Key, rl.Limit, rl.Remaining, rl.Reset) }
	if op.Codat, err = codatclient.New(co); err != nil {
		return nil, err
	}
	op.Pacer = pacer.New(pacer.Config{Intervals: c.Intervals, Budget: op.Budget})
	if err := mgr.Add(op.Pacer); err != nil {
		return nil, err
	}
	if c.Webhooks != nil {
		if op.Webhooks, err = addReceiver(mgr, c, op.Pacer); err != nil {
			return nil, err
		}
	}
	metrics, err := controller.NewMetrics(c.Registry, mgr.GetClient())
	if err != nil {
		return nil, err
	}
	op.Reconciler = &controller.Reconciler{
		Client:      mgr.GetClient(),
		APIReader:   mgr.GetAPIReader(),
		Codat:       controller.ClientConnector{Client: op.Codat},
		Pacer:       op.Pacer,
		Webhooks:    op.Webhooks,
		Budget:      op.Budget,
		Metrics:     metrics,
		Recorder:    mgr.GetEventRecorder("codat-operator"),
		Credentials: c.Credentials,
		Intervals:   c.Intervals,

		DefaultDeletionPolicy: c.DefaultDeletionPolicy,
		LinkURLs:              c.LinkURLs,
		Namespaces:            c.Namespaces,
	}
	workers := c.Workers
	if workers <= 0 {
		workers = 4
	}
	opts := crcontroller.Options{MaxConcurrentReconciles: workers}
	if c.SkipNameValidation {
		opts.SkipNameValidation = ptr.To(true)
	}
	if err := op.Reconciler.SetupWithManager(mgr, opts); err != nil {
		return nil, err
	}
	op.Companies = &controller.CompanyReconciler{
		Client:      mgr.GetClient(),
		APIReader:   mgr.GetAPIReader(),
		Codat:       controller.ClientConnector{Client: op.Codat},
		Pacer:       pacer.New(pacer.Config{Intervals: c.Intervals, Budget: op.Budget, Kind: "CodatCompany"}),
		Metrics:     metrics,
		Recorder:    mgr.GetEventRecorder("codat-operator"),
		Credentials: c.Credentials,
		Intervals:   c.Intervals,
		Namespaces:  c.Namespaces,
	}
	if err := mgr.Add(op.Companies.Pacer); err != nil {
		return nil, err
	}
	if op.Webhooks != nil {
		op.Webhooks.CompanyPacer = op.Companies.Pacer
	}
	if err := op.Companies.SetupWithManager(mgr, opts); err != nil {
		return nil, err
	}
	return op, nil
}

// addReceiver adds the webhook receiver and its signing-secret loader to the manager, and returns
// the reconciler's side of it.
func addReceiver(mgr manager.Manager, c Config, p *pacer.Pacer) (*controller.Webhooks, error) {
	m, err := webhook.NewMetrics(c.Registry)
	if err != nil {
		return nil, err
	}
	log := c.Log.WithName("webhooks")
	hooks := &controller.Webhooks{Client: mgr.GetClient(), Pacer: p, Metrics: m, Log: log}
	secrets := &webhook.Secrets{}
	server := &webhook.Server{Addr: c.Webhooks.Addr, CertDir: c.Webhooks.CertDir, Log: log, OnListening: c.Webhooks.OnListening,
		Receiver: &webhook.Receiver{Secrets: secrets, Sink: hooks, Metrics: m, Log: log}}
	hooks.Healthy = server.Healthy
	loader := &webhook.SecretLoader{Name: c.Webhooks.Secret, Reader: mgr.GetAPIReader(), Cache: mgr.GetCache(),
		Secrets: secrets, Log: log, Interval: c.Webhooks.SecretReload}
	runnables := []manager.Runnable{server, loader}
	if pod := c.Webhooks.LeaderPod; pod.Name != "" {
		runnables = append(runnables, &webhook.LeaderPod{Pod: pod, Reader: mgr.GetAPIReader(), Writer: mgr.GetClient(), Ready: hooks.Ready, Log: log})
	}
	for _, runnable := range runnables {
		if err := mgr.Add(runnable); err != nil {
			return nil, err
		}
	}
	return hooks, nil
}
