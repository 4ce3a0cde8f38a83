package webhooks

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
	"github.com/codat-operator/codat-operator/internal/codatapi"
	"github.com/codat-operator/codat-operator/internal/codatclient"
	"github.com/codat-operator/codat-operator/internal/codatsim"
	"github.com/codat-operator/codat-operator/internal/operator"
	"github.com/codat-operator/codat-operator/internal/testenv"
	"github.com/codat-operator/codat-operator/internal/webhook"
	"github.com/codat-operator/codat-operator/test/rig"
)

// With two replicas, Codat's deliveries reach the leader: the leader labels its Pod, and the
// receiver's Service (here an HTTP proxy that sends each request to the Pod the Service's
// selector picks, as kube-proxy does) selects the label. No delivery is refused by a standby and
// left to Codat's retries; when the leader stops, the label moves to the new leader.
func TestDeliveriesReachTheLeader(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ns := "leader-" + rand.String(8)
	company := string(uuid.NewUUID())
	for _, obj := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "codat"}, StringData: map[string]string{"apiKey": rig.APIKey}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "codat-webhooks"}, StringData: map[string]string{"current": rig.SecretA}},
	} {
		if err := k8s.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	sim := codatsim.New(codatsim.Options{APIKeys: []string{rig.APIKey}, Companies: []string{company}, WebhookRetryScale: 0.001})
	simSrv := httptest.NewServer(sim)
	t.Cleanup(func() { sim.Close(); simSrv.Close() })

	// The receiver's Service: each delivery goes to the one Pod labelled as the leader's.
	var receivers sync.Map // Pod name -> the receiver's base URL
	service := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pods := &metav1.PartialObjectMetadataList{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "PodList"}}
		if err := k8s.List(r.Context(), pods, client.InNamespace(ns), client.MatchingLabels{webhook.LabelReceiver: webhook.LabelLeader}); err != nil || len(pods.Items) == 0 {
			http.Error(w, "no endpoints", http.StatusServiceUnavailable)
			return
		}
		// kube-proxy picks any ready endpoint: with two labelled Pods, the test's standby.
		pod := pods.Items[len(pods.Items)-1].Name
		target, ok := receivers.Load(pod)
		if !ok {
			http.Error(w, "endpoint not listening", http.StatusServiceUnavailable)
			return
		}
		httputil.NewSingleHostReverseProxy(target.(*url.URL)).ServeHTTP(w, r)
	}))
	t.Cleanup(service.Close)
	if _, err := sim.AddConsumer(codatsim.Consumer{URL: service.URL + webhook.Path, Secret: rig.SecretA}); err != nil {
		t.Fatal(err)
	}

	stopA := startReplica(t, ns, "manager-a", simSrv.URL, &receivers)
	waitLabelled(t, ns, "manager-a")
	startReplica(t, ns, "manager-b", simSrv.URL, &receivers)

	// With every poll an hour away, only the webhook, answered by the leader, makes it Ready.
	obj := &codatv1.CodatConnection{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "acme"},
		Spec: codatv1.CodatConnectionSpec{CompanyID: company, PlatformKey: "gbol", CredentialsRef: &codatv1.SecretKeyReference{Name: "codat"}}}
	if err := k8s.Create(ctx, obj); err != nil {
		t.Fatal(err)
	}
	obj = waitReason(t, ns, "acme", codatv1.ReasonAwaitingAuthorization)
	if err := sim.Link(company, obj.Status.ConnectionID); err != nil {
		t.Fatal(err)
	}
	waitReason(t, ns, "acme", codatv1.ReasonLinked)

	// The leader stops: the other replica takes the lead and the label, and deliveries follow.
	stopA()
	waitLabelled(t, ns, "manager-b")
	if err := sim.Deauthorize(company, obj.Status.ConnectionID); err != nil {
		t.Fatal(err)
	}
	waitReason(t, ns, "acme", codatv1.ReasonDeauthorized)

	for _, d := range sim.Deliveries() {
		if d.StatusCode != http.StatusOK {
			t.Errorf("delivery %d of %s was answered %d: it waits for Codat's retry", d.Attempt, d.EventType, d.StatusCode)
		}
	}
	if n := len(sim.Deliveries()); n < 3 {
		t.Errorf("%d deliveries, want at least created, connected and disconnected", n)
	}
	for _, want := range []string{codatapi.EventConnectionConnected, codatapi.EventConnectionDisconnected} {
		var found bool
		for _, d := range sim.Deliveries() {
			found = found || d.EventType == want
		}
		if !found {
			t.Errorf("no %s was delivered", want)
		}
	}
}

// startReplica runs one replica of the manager in the namespace, as the Pod named pod: leader
// election, the reconciler with every poll an hour away, the webhook receiver, and the runnable
// that labels the leader's Pod. It returns a function that stops the replica.
func startReplica(t *testing.T, ns, pod, simURL string, receivers *sync.Map) func() {
	t.Helper()
	if err := k8s.Create(context.Background(), &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: pod},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "manager", Image: "ghcr.io/codat-operator/codat-operator:v0.1.0"}}}}); err != nil {
		t.Fatal(err)
	}
	config := operator.Config{
		Codat:      codatclient.Options{BaseURL: simURL, Timeout: 5 * time.Second, RequestsPerSecond: 14, Burst: 100},
		Intervals:  slow,
		Namespaces: []string{ns},
		Registry:   prometheus.NewRegistry(),
		Log:        ctrl.Log.WithName(ns).WithName(pod),
		Webhooks: &operator.Webhooks{Addr: "127.0.0.1:0", Secret: types.NamespacedName{Namespace: ns, Name: "codat-webhooks"},
			OnListening: func(addr string) { receivers.Store(pod, &url.URL{Scheme: "http", Host: addr}) },
			LeaderPod:   types.NamespacedName{Namespace: ns, Name: pod}},
		SkipNameValidation: true,
	}
	mgr, err := ctrl.NewManager(env.Config, operator.ManagerOptions(config, ctrl.Options{
		Scheme:                        testenv.Scheme,
		Metrics:                       metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress:        "0",
		LeaderElection:                true,
		LeaderElectionID:              "codat-operator.codat.io",
		LeaderElectionNamespace:       ns,
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 ptr.To(3 * time.Second),
		RenewDeadline:                 ptr.To(2 * time.Second),
		RetryPeriod:                   ptr.To(200 * time.Millisecond),
	}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := operator.Add(mgr, config); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("manager %s: %v", pod, err)
			}
			receivers.Delete(pod)
		})
	}
	t.Cleanup(stop)
	return stop
}

// waitLabelled waits until exactly the given Pod of the namespace carries the receiver label.
func waitLabelled(t *testing.T, ns, pod string) {
	t.Helper()
	var labelled []string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		pods := &metav1.PartialObjectMetadataList{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "PodList"}}
		if err := k8s.List(context.Background(), pods, client.InNamespace(ns), client.MatchingLabels{webhook.LabelReceiver: webhook.LabelLeader}); err != nil {
			t.Fatal(err)
		}
		labelled = labelled[:0]
		for _, p := range pods.Items {
			labelled = append(labelled, p.Name)
		}
		if len(labelled) == 1 && labelled[0] == pod {
			return
		}
	}
	t.Fatalf("the Pods labelled %s=%s are %v, want %s alone", webhook.LabelReceiver, webhook.LabelLeader, labelled, pod)
}

// waitReason waits until the object's Ready condition has the reason.
func waitReason(t *testing.T, ns, name, reason string) *codatv1.CodatConnection {
	t.Helper()
	obj := &codatv1.CodatConnection{}
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, obj); err != nil {
			t.Fatal(err)
		}
		if c := meta.FindStatusCondition(obj.Status.Conditions, codatv1.ConditionReady); c != nil && c.Reason == reason {
			return obj
		}
	}
	t.Fatalf("%s never had Ready reason %s; status %+v", name, reason, obj.Status)
	return nil
}
