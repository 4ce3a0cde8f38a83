// Package metricsauth guards the manager's metrics endpoint with the cluster's own checks: the
// caller's bearer token goes to a TokenReview, and the caller's right to the path to a
// SubjectAccessReview (RBAC: nonResourceURLs ["/metrics"], verb get, as the metrics-reader
// ClusterRole grants). Answers are remembered for a short while, so a scrape every few seconds
// costs the API server almost nothing.
//
// It stands in for controller-runtime's metrics filters package, which brings k8s.io/apiserver and
// CEL into the binary: about 20 MB of code that would sit in the manager's memory for two API calls.
package metricsauth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	authenticationv1 "k8s.io/client-go/kubernetes/typed/authentication/v1"
	authorizationv1 "k8s.io/client-go/kubernetes/typed/authorization/v1"
	"k8s.io/client-go/rest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// How long answers are remembered: a granted right for a minute, a refusal briefly, so that a
// new RoleBinding takes effect at the next scrape or the one after.
const (
	allowTTL   = time.Minute
	denyTTL    = 10 * time.Second
	maxEntries = 1024
	timeout    = 10 * time.Second
)

// Provider is a metricsserver FilterProvider: give it to metricsserver.Options.FilterProvider.
func Provider(cfg *rest.Config, httpClient *http.Client) (metricsserver.Filter, error) {
	authn, err := authenticationv1.NewForConfigAndClient(cfg, httpClient)
	if err != nil {
		return nil, err
	}
	authz, err := authorizationv1.NewForConfigAndClient(cfg, httpClient)
	if err != nil {
		return nil, err
	}
	g := &guard{reviews: authn.TokenReviews(), access: authz.SubjectAccessReviews(), now: time.Now, answers: map[string]answer{}}
	return func(log logr.Logger, next http.Handler) (http.Handler, error) {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			code, why := g.check(req)
			if code != http.StatusOK {
				log.V(1).Info("metrics request refused", "status", code, "why", why)
				http.Error(w, why, code)
				return
			}
			next.ServeHTTP(w, req)
		}), nil
	}, nil
}

type guard struct {
	reviews authenticationv1.TokenReviewInterface
	access  authorizationv1.SubjectAccessReviewInterface
	now     func() time.Time

	mu      sync.Mutex
	answers map[string]answer // by digest of token, verb and path
}

type answer struct {
	code    int
	why     string
	expires time.Time
}

// check says whether the request may go on (200), or which status refuses it and why. Failures to
// reach the API server are 500s and are not remembered.
func (g *guard) check(req *http.Request) (int, string) {
	token, ok := bearer(req.Header.Get("Authorization"))
	if !ok {
		return http.StatusUnauthorized, "Unauthorized: a bearer token is required"
	}
	verb, path := strings.ToLower(req.Method), req.URL.Path
	sum := sha256.Sum256([]byte(token + "\x00" + verb + "\x00" + path))
	key := hex.EncodeToString(sum[:])
	if a, ok := g.remembered(key); ok {
		return a.code, a.why
	}
	ctx, cancel := context.WithTimeout(req.Context(), timeout)
	defer cancel()
	a, err := g.review(ctx, token, verb, path)
	if err != nil {
		return http.StatusInternalServerError, "the API server could not check the request"
	}
	g.remember(key, a)
	return a.code, a.why
}

func (g *guard) review(ctx context.Context, token, verb, path string) (answer, error) {
	tr, err := g.reviews.Create(ctx, &authnv1.TokenReview{Spec: authnv1.TokenReviewSpec{Token: token}}, metav1.CreateOptions{})
	if err != nil {
		return answer{}, err
	}
	if !tr.Status.Authenticated {
		return answer{code: http.StatusUnauthorized, why: "Unauthorized: the token is not valid", expires: g.now().Add(denyTTL)}, nil
	}
	user := tr.Status.User
	extra := map[string]authzv1.ExtraValue{}
	for k, v := range user.Extra {
		extra[k] = authzv1.ExtraValue(v)
	}
	sar, err := g.access.Create(ctx, &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
		User: user.Username, Groups: user.Groups, UID: user.UID, Extra: extra,
		NonResourceAttributes: &authzv1.NonResourceAttributes{Path: path, Verb: verb},
	}}, metav1.CreateOptions{})
	if err != nil {
		return answer{}, err
	}
	if !sar.Status.Allowed || sar.Status.Denied {
		return answer{code: http.StatusForbidden, why: "Forbidden: " + user.Username + " may not " + verb + " " + path, expires: g.now().Add(denyTTL)}, nil
	}
	return answer{code: http.StatusOK, expires: g.now().Add(allowTTL)}, nil
}

func (g *guard) remembered(key string) (answer, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	a, ok := g.answers[key]
	if !ok || !g.now().Before(a.expires) {
		return answer{}, false
	}
	return a, true
}

func (g *guard) remember(key string, a answer) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.answers) >= maxEntries {
		g.answers = map[string]answer{} // scrapers are few: starting over is cheap
	}
	g.answers[key] = a
}

// bearer reads the token of an Authorization header ("Bearer <token>", any case of "Bearer").
func bearer(header string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return token, true
}
