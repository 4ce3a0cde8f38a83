// Command manager runs the codat-operator: the CodatConnection controller in
// a controller-runtime manager, with health probes, secure metrics and
// leader election.
package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"go.uber.org/zap/zapcore"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
	"github.com/codat-operator/codat-operator/internal/access"
	"github.com/codat-operator/codat-operator/internal/budget"
	"github.com/codat-operator/codat-operator/internal/codatclient"
	"github.com/codat-operator/codat-operator/internal/controller"
	"github.com/codat-operator/codat-operator/internal/metricsauth"
	"github.com/codat-operator/codat-operator/internal/operator"
	"github.com/codat-operator/codat-operator/internal/webhook"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

type options struct {
	metricsAddr, probeAddr, metricsCertPath string
	pprofAddr                               string
	secureMetrics, enableHTTP2              bool
	leaderElect                             bool
	leaderElectionNamespace                 string

	codatBaseURL       string
	defaultCredentials string
	grantNamespaces    string
	grantSelector      string
	linkURLs           string
	deletionPolicy     string
	requestsPerSecond  float64
	burst              int
	quotaShare         float64
	quotaFloor         float64
	requestTimeout     time.Duration
	maxConcurrent      int
	watchNamespaces    string
	intervals          controller.Intervals

	webhookAddr, webhookCertDir, webhookSecret string
	podName, podNamespace                      string
}

func main() {
	var o options
	printVersion := flag.Bool("version", false, "Print the manager's version (the release it was built as) and exit.")
	flag.StringVar(&o.metricsAddr, "metrics-bind-address", "0", "Address of the metrics endpoint, e.g. :8443 (HTTPS) or :8080 (with --metrics-secure=false); 0 turns it off.")
	flag.BoolVar(&o.secureMetrics, "metrics-secure", true, "Serve metrics over HTTPS, authenticated and authorized through the API server.")
	flag.StringVar(&o.metricsCertPath, "metrics-cert-path", "", "Folder with tls.crt and tls.key for the metrics server; empty generates a self-signed certificate.")
	flag.BoolVar(&o.enableHTTP2, "enable-http2", false, "Serve metrics over HTTP/2 too (off by default: HTTP/2 Rapid Reset and Stream Cancellation).")
	flag.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081", "Address of the /healthz and /readyz probes.")
	flag.StringVar(&o.pprofAddr, "pprof-bind-address", "", "Address of Go's pprof endpoints (/debug/pprof), e.g. 127.0.0.1:6060, for profiling memory and CPU; empty (the default) turns them off.")
	flag.BoolVar(&o.leaderElect, "leader-elect", false, "Elect a leader so that only one replica reconciles at a time.")
	flag.StringVar(&o.leaderElectionNamespace, "leader-election-namespace", "", "Namespace of the leader-election Lease; empty is the namespace the manager runs in.")

	flag.StringVar(&o.codatBaseURL, "codat-base-url", envOr("CODAT_BASE_URL", codatclient.DefaultBaseURL), "Base URL of Codat's API (env CODAT_BASE_URL).")
	flag.StringVar(&o.defaultCredentials, "default-credentials-secret", os.Getenv("CODAT_DEFAULT_CREDENTIALS_SECRET"),
		"Secret namespace/name whose key apiKey is the Codat API key of CodatConnections without spec.credentialsRef (env CODAT_DEFAULT_CREDENTIALS_SECRET). The environment variable CODAT_API_KEY, when set, is used instead.")
	flag.StringVar(&o.grantNamespaces, "default-credentials-namespaces", "",
		"Comma-separated namespaces whose CodatConnections may use the default credentials. With the selector, a namespace in either is granted; with neither, none is.")
	flag.StringVar(&o.grantSelector, "default-credentials-namespace-selector", "",
		"Label selector of the namespaces whose CodatConnections may use the default credentials, e.g. codat.io/default-credentials=granted; empty grants none by label.")
	flag.StringVar(&o.linkURLs, "link-url-destination", string(controller.LinkURLsInStatus),
		"Where link URLs go: status (status.linkUrl, readable by whoever may read the object) or secret (a Secret <name>-codat-link per object, readable only by whoever may read Secrets; status.linkUrlSecret names it).")
	flag.StringVar(&o.deletionPolicy, "default-deletion-policy", "",
		"Deletion policy of CodatConnections that set no spec.deletionPolicy and whose namespace has no codat.io/default-deletion-policy annotation: Delete, Unlink or Orphan. Empty keeps the built-in rule: Delete, and Orphan for a connection adopted with spec.connectionId (which a default never deletes).")
	flag.Float64Var(&o.requestsPerSecond, "codat-requests-per-second", codatclient.DefaultRequestsPerSecond, "Requests per second to Codat, shared by all workers. With the burst, never more than 950 a minute (Codat blocks an IP past 1,000): higher values are lowered, with a warning.")
	flag.IntVar(&o.burst, "codat-burst", codatclient.DefaultBurst, "Requests to Codat allowed in a burst above the rate.")
	flag.Float64Var(&o.quotaShare, "codat-quota-share", budget.DefaultShare, "Share (0-1] of the Codat account's daily quota the operator may use; polls stretch to stay within it. The rest is left to your own application.")
	flag.Float64Var(&o.quotaFloor, "codat-quota-floor", budget.DefaultFloor, "Share [0-1) of the daily quota that must stay unused: below it the operator sends only the writes you asked for until the quota resets.")
	flag.DurationVar(&o.requestTimeout, "codat-request-timeout", codatclient.DefaultTimeout, "Timeout of one request to Codat.")
	flag.IntVar(&o.maxConcurrent, "max-concurrent-reconciles", 4, "CodatConnections reconciled at the same time.")
	flag.StringVar(&o.watchNamespaces, "watch-namespaces", os.Getenv("WATCH_NAMESPACES"), "Comma-separated namespaces to watch (env WATCH_NAMESPACES); empty watches all.")
	flag.DurationVar(&o.intervals.PendingAuth, "pending-auth-poll-interval", controller.DefaultIntervals.PendingAuth, "First poll interval of a connection waiting for the business; it grows with the wait, up to --poll-interval.")
	flag.DurationVar(&o.intervals.Settled, "poll-interval", controller.DefaultIntervals.Settled, "Poll interval of a connection in its desired state.")
	flag.DurationVar(&o.intervals.BackoffBase, "retry-backoff-base", controller.DefaultIntervals.BackoffBase, "First wait after a transient failure (Codat unavailable); it doubles per failure.")
	flag.DurationVar(&o.intervals.BackoffMax, "retry-backoff-max", controller.DefaultIntervals.BackoffMax, "Longest wait after transient failures.")
	flag.StringVar(&o.webhookAddr, "webhook-bind-address", "", "Address of the receiver of Codat's webhooks (path "+webhook.Path+"), e.g. :9443; empty (the default) turns it off.")
	flag.StringVar(&o.webhookCertDir, "webhook-cert-dir", "", "Folder with tls.crt and tls.key: the webhook receiver serves HTTPS (reloaded when they change); empty serves HTTP, for TLS ending at an Ingress.")
	flag.StringVar(&o.webhookSecret, "webhook-secret", "", "Secret namespace/name whose values starting with whsec_ are the webhooks' signing secrets (several while one is rotated); required with --webhook-bind-address.")
	flag.StringVar(&o.podName, "pod-name", os.Getenv("POD_NAME"), "Name of the manager's own Pod (env POD_NAME, from the downward API). With --webhook-bind-address, the leader labels it "+webhook.LabelReceiver+"="+webhook.LabelLeader+", which the receiver's Service selects: Codat's deliveries reach the leader, whatever the replicas.")
	flag.StringVar(&o.podNamespace, "pod-namespace", os.Getenv("POD_NAMESPACE"), "Namespace of the manager's own Pod (env POD_NAMESPACE).")
	flag.DurationVar(&o.intervals.SafetyNet, "webhook-poll-interval", controller.DefaultIntervals.SafetyNet, "Poll interval of settled and waiting connections while the webhook receiver is healthy (the safety net for lost webhooks).")
	// Errors the operator logs say what to do (a failure's first occurrence,
	// a failed write); a stack trace of controller-runtime's workers under each
	// adds nothing for the reader. --zap-stacktrace-level brings them back.
	zapOpts := zap.Options{Development: false, StacktraceLevel: zapcore.DPanicLevel}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	if *printVersion {
		fmt.Println("codat-operator", version)
		return
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))

	if err := run(o); err != nil {
		ctrl.Log.Error(err, "manager exited")
		os.Exit(1)
	}
}

func run(o options) error {
	log := ctrl.Log.WithName("setup")
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(codatv1.AddToScheme(scheme))

	if soft := setMemoryLimit(cgroupMemoryMax); soft > 0 {
		log.Info("set Go's soft memory limit from the container's", "bytes", soft, "share", memoryLimitShare)
	}
	config, err := operatorConfig(o, log)
	if err != nil {
		return err
	}
	if err := registerBuildInfo(metrics.Registry, version); err != nil {
		return err
	}
	cfg := ctrl.GetConfigOrDie()
	if err := requireKubernetes(cfg); err != nil {
		return err
	}
	mgr, err := ctrl.NewManager(cfg, operator.ManagerOptions(config, ctrl.Options{
		Scheme:                  scheme,
		Metrics:                 metricsOptions(o),
		HealthProbeBindAddress:  o.probeAddr,
		PprofBindAddress:        o.pprofAddr,
		LeaderElection:          o.leaderElect,
		LeaderElectionID:        "codat-operator.codat.io",
		LeaderElectionNamespace: o.leaderElectionNamespace,
		// Step down fast on SIGTERM so that a new leader takes over at once.
		LeaderElectionReleaseOnCancel: true,
	}))
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	op, err := operator.Add(mgr, config)
	if err != nil {
		return fmt.Errorf("setting up the operator: %w", err)
	}
	if why := op.Codat.Adjusted(); why != "" {
		log.Info("lowered --codat-requests-per-second and --codat-burst", "why", why)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}

	log.Info("starting the manager", "version", version, "codatBaseURL", o.codatBaseURL)
	return mgr.Start(ctrl.SetupSignalHandler())
}

// operatorConfig reads the flags that configure the operator, and checks them.
func operatorConfig(o options, log logr.Logger) (operator.Config, error) {
	credentials, err := defaultCredentials(o.defaultCredentials)
	if err != nil {
		return operator.Config{}, err
	}
	if credentials.Grant, err = access.ParseGrant(access.SplitList(o.grantNamespaces), o.grantSelector); err != nil {
		return operator.Config{}, fmt.Errorf("--default-credentials-namespaces or --default-credentials-namespace-selector: %w", err)
	}
	if credentials.Configured() && credentials.Grant.Empty() {
		log.Info("no namespace may use the default credentials yet: grant namespaces with --default-credentials-namespaces or --default-credentials-namespace-selector")
	}
	linkURLs, err := controller.ParseLinkURLDestination(o.linkURLs)
	if err != nil {
		return operator.Config{}, fmt.Errorf("--link-url-destination: %w", err)
	}
	deletionPolicy, err := parseDeletionPolicy(o.deletionPolicy)
	if err != nil {
		return operator.Config{}, err
	}
	config := operator.Config{
		Codat: codatclient.Options{
			BaseURL:           o.codatBaseURL,
			Timeout:           o.requestTimeout,
			RequestsPerSecond: o.requestsPerSecond,
			Burst:             o.burst,
			UserAgentVersion:  version,
		},
		Budget:      budget.Options{Share: o.quotaShare, Floor: o.quotaFloor},
		Intervals:   o.intervals,
		Credentials: credentials,
		LinkURLs:    linkURLs,
		Namespaces:  access.SplitList(o.watchNamespaces),
		Workers:     o.maxConcurrent,
		Registry:    metrics.Registry,
		Log:         ctrl.Log,

		DefaultDeletionPolicy: deletionPolicy,
	}
	config.Webhooks, err = webhooksConfig(o, log)
	return config, err
}

// webhooksConfig reads the webhook receiver's flags; nil without --webhook-bind-address.
func webhooksConfig(o options, log logr.Logger) (*operator.Webhooks, error) {
	secret, err := namespacedName("--webhook-secret", o.webhookSecret)
	switch {
	case err != nil:
		return nil, err
	case o.webhookAddr == "":
		return nil, nil
	case secret.Name == "":
		return nil, errors.New("--webhook-bind-address needs --webhook-secret: the Secret with the signing secrets")
	}
	w := &operator.Webhooks{Addr: o.webhookAddr, CertDir: o.webhookCertDir, Secret: secret}
	if o.podName != "" && o.podNamespace != "" {
		w.LeaderPod = types.NamespacedName{Namespace: o.podNamespace, Name: o.podName}
	} else {
		log.Info("--pod-name or --pod-namespace is empty: the leader does not label its Pod, so a Service that selects " + webhook.LabelReceiver + " routes no delivery")
	}
	return w, nil
}

// metricsOptions serves metrics over HTTPS, authorized through the API server, unless asked not to.
func metricsOptions(o options) metricsserver.Options {
	var tlsOpts []func(*tls.Config)
	if !o.enableHTTP2 {
		tlsOpts = append(tlsOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	m := metricsserver.Options{BindAddress: o.metricsAddr, SecureServing: o.secureMetrics, TLSOpts: tlsOpts, CertDir: o.metricsCertPath}
	if o.secureMetrics {
		m.FilterProvider = metricsauth.Provider
	}
	return m
}

// defaultCredentials reads CODAT_API_KEY, else parses --default-credentials-secret.
func defaultCredentials(secret string) (controller.DefaultCredentials, error) {
	if key := codatclient.APIKey(os.Getenv("CODAT_API_KEY")); key != "" {
		if err := key.Validate(); err != nil {
			return controller.DefaultCredentials{}, fmt.Errorf("CODAT_API_KEY can never work: %w", err)
		}
		return controller.DefaultCredentials{APIKey: key}, nil
	}
	name, err := namespacedName("--default-credentials-secret", secret)
	return controller.DefaultCredentials{Secret: name}, err
}

// parseDeletionPolicy reads --default-deletion-policy; empty keeps the built-in rule.
func parseDeletionPolicy(v string) (codatv1.DeletionPolicy, error) {
	switch p := codatv1.DeletionPolicy(v); p {
	case "", codatv1.DeletionPolicyDelete, codatv1.DeletionPolicyUnlink, codatv1.DeletionPolicyOrphan:
		return p, nil
	default:
		return "", fmt.Errorf("--default-deletion-policy %q: must be Delete, Unlink or Orphan (or empty for the built-in rule)", v)
	}
}

// namespacedName parses namespace/name; empty is no name.
func namespacedName(flagName, v string) (types.NamespacedName, error) {
	if v == "" {
		return types.NamespacedName{}, nil
	}
	ns, name, ok := strings.Cut(v, "/")
	if !ok || ns == "" || name == "" {
		return types.NamespacedName{}, fmt.Errorf("%s must be namespace/name", flagName)
	}
	return types.NamespacedName{Namespace: ns, Name: name}, nil
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}
