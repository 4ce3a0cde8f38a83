package metricsauth_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/go-logr/logr"
	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/codat-operator/codat-operator/internal/metricsauth"
	"github.com/codat-operator/codat-operator/internal/testenv"
)

var (
	env *testenv.Env
	k8s client.Client
)

func TestMain(m *testing.M) {
	testenv.Main(m, func(e *testenv.Env, c client.Client) { env, k8s = e, c })
}

// reviews counts the TokenReviews and SubjectAccessReviews the filter sends.
type reviews struct {
	next  http.RoundTripper
	count atomic.Int64
}

func (r *reviews) RoundTrip(req *http.Request) (*http.Response, error) {
	if strings.HasSuffix(req.URL.Path, "/tokenreviews") || strings.HasSuffix(req.URL.Path, "/subjectaccessreviews") {
		r.count.Add(1)
	}
	return r.next.RoundTrip(req)
}

// The metrics endpoint answers only callers whose token the API server accepts and whom RBAC
// allows to get /metrics, and remembers the answers for a while.
func TestMetricsNeedATokenAndTheRight(t *testing.T) {
	ctx := context.Background()
	cs := kubernetes.NewForConfigOrDie(env.Config)
	for _, obj := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "monitoring"}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "monitoring", Name: "prometheus"}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "monitoring", Name: "stranger"}},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "metrics-reader"},
			Rules: []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "prometheus-metrics-reader"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "metrics-reader"},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: "monitoring", Name: "prometheus"}}},
	} {
		// The same objects from an earlier run (go test -count=N) serve as well.
		if err := k8s.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	token := func(sa string) string {
		tr, err := cs.CoreV1().ServiceAccounts("monitoring").CreateToken(ctx, sa, &authnv1.TokenRequest{}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return tr.Status.Token
	}
	prometheus, stranger := token("prometheus"), token("stranger")

	counter := &reviews{}
	cfg := rest.CopyConfig(env.Config)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { counter.next = rt; return counter })
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	filter, err := metricsauth.Provider(cfg, httpClient)
	if err != nil {
		t.Fatal(err)
	}
	handler, err := filter(logr.Discard(), http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "codat_connections 1\n") }))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(handler)
	defer srv.Close()

	get := func(path, authorization string) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+path, http.NoBody)
		if err != nil {
			t.Fatal(err)
		}
		if authorization != "" {
			req.Header.Set("Authorization", authorization)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	for _, tc := range []struct {
		what, path, authorization string
		want                      int
	}{
		{"no token", "/metrics", "", http.StatusUnauthorized},
		{"not a bearer token", "/metrics", "Basic " + prometheus, http.StatusUnauthorized},
		{"a token the API server does not know", "/metrics", "Bearer not-a-token", http.StatusUnauthorized},
		{"a service account without the right", "/metrics", "Bearer " + stranger, http.StatusForbidden},
		{"the right, on another path", "/debug/pprof/heap", "Bearer " + prometheus, http.StatusForbidden},
		{"the metrics reader", "/metrics", "Bearer " + prometheus, http.StatusOK},
		{"the metrics reader, lower-case scheme", "/metrics", "bearer " + prometheus, http.StatusOK},
	} {
		code, body := get(tc.path, tc.authorization)
		if code != tc.want {
			t.Errorf("%s: HTTP %d (%q), want %d", tc.what, code, body, tc.want)
		}
		if code == http.StatusOK && body != "codat_connections 1\n" {
			t.Errorf("%s: body %q", tc.what, body)
		}
		if code != http.StatusOK && strings.Contains(body, "codat_") {
			t.Errorf("%s: refused, but the body has metrics: %q", tc.what, body)
		}
	}

	// A scraper every few seconds costs no review while the answer is remembered.
	before := counter.count.Load()
	for range 5 {
		if code, _ := get("/metrics", "Bearer "+prometheus); code != http.StatusOK {
			t.Fatalf("HTTP %d", code)
		}
	}
	if n := counter.count.Load() - before; n != 0 {
		t.Errorf("5 scrapes in a row sent %d reviews to the API server, want 0", n)
	}
	if before == 0 {
		t.Error("no review was ever sent: the test proves nothing")
	}
}
