package codatclient_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/codat-operator/codat-operator/internal/codatclient"
	"github.com/codat-operator/codat-operator/internal/codatsim"
)

const (
	secretKey       = "sk-live-VERYSECRET-4242"
	authBodySecret  = "refresh-token-TOPSECRET-9999"
	authBodySecret2 = "bank-id-CONFIDENTIAL-77"
)

// forbidden lists every form of a secret that must never be printed.
func forbidden() []string {
	return []string{
		secretKey,
		base64.StdEncoding.EncodeToString([]byte(secretKey)),
		"Basic " + base64.StdEncoding.EncodeToString([]byte(secretKey)),
		authBodySecret,
		authBodySecret2,
	}
}

func assertNoSecrets(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("expected an error")
	}
	renderings := map[string]string{
		"Error()": err.Error(),
		"%v":      fmt.Sprintf("%v", err),
		"%+v":     fmt.Sprintf("%+v", err),
		"%#v":     fmt.Sprintf("%#v", err),
		"%s":      fmt.Sprintf("%s", err),
		"%q":      fmt.Sprintf("%q", err),
	}
	var sb strings.Builder
	slog.New(slog.NewJSONHandler(&sb, nil)).Error("call failed", "err", err)
	slog.New(slog.NewTextHandler(&sb, nil)).Error("call failed", "err", err)
	renderings["slog"] = sb.String()
	for how, text := range renderings {
		for _, s := range forbidden() {
			if strings.Contains(text, s) {
				t.Errorf("%s of the error contains a secret %q: %s", how, s, text)
			}
		}
	}
}

func authBody() map[string]string {
	return map[string]string{"refreshToken": authBodySecret, "bankId": authBodySecret2}
}

// serveSim serves a simulator that accepts key and injects faults; it returns the base URL.
func serveSim(t *testing.T, key string, faults codatsim.Faults) string {
	t.Helper()
	sim := codatsim.New(codatsim.Options{APIKeys: []string{key}, Companies: []string{companyA}})
	if err := sim.SetFaults(faults); err != nil {
		t.Fatal(err)
	}
	return serveHandler(t, sim.ServeHTTP)
}

// serveHandler serves h until the test ends; it returns the base URL.
func serveHandler(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestErrorsNeverContainSecrets(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		serve func(t *testing.T) string // returns the base URL
		key   codatclient.APIKey
		check func(error) bool
	}{
		{
			name:  "401 from the simulator",
			serve: func(t *testing.T) string { return serveSim(t, "another-key", codatsim.Faults{}) },
			key:   secretKey,
			check: codatclient.IsUnauthorized,
		},
		{
			name: "500 from the simulator",
			serve: func(t *testing.T) string {
				return serveSim(t, secretKey, codatsim.Faults{ErrorRate: map[string]float64{"*": 1}})
			},
			key:   secretKey,
			check: codatclient.IsRetryable,
		},
		{
			name: "transport error",
			serve: func(t *testing.T) string {
				srv := httptest.NewServer(http.NotFoundHandler())
				srv.Close()
				return srv.URL
			},
			key:   secretKey,
			check: codatclient.IsRetryable,
		},
		{
			name: "a server that echoes the header and body back in a 401",
			serve: func(t *testing.T) string {
				return serveHandler(t, func(w http.ResponseWriter, r *http.Request) {
					b, _ := io.ReadAll(r.Body)
					msg := "bad credentials " + r.Header.Get("Authorization") + " body " + string(b)
					w.WriteHeader(http.StatusUnauthorized)
					_ = json.NewEncoder(w).Encode(map[string]any{"error": msg, "correlationId": r.Header.Get("Authorization")})
				})
			},
			key:   secretKey,
			check: codatclient.IsUnauthorized,
		},
		{
			name: "a server that echoes everything in a non-JSON 500",
			serve: func(t *testing.T) string {
				return serveHandler(t, func(w http.ResponseWriter, r *http.Request) {
					b, _ := io.ReadAll(r.Body)
					w.WriteHeader(http.StatusInternalServerError)
					fmt.Fprintf(w, "oops %s %s", r.Header.Get("Authorization"), b)
				})
			},
			key:   "Basic " + codatclient.APIKey(base64.StdEncoding.EncodeToString([]byte(secretKey))),
			check: codatclient.IsRetryable,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, fastOptions(tt.serve(t)))
			calls := map[string]func() error{
				"update-authorization": func() error {
					_, err := c.UpdateAuthorization(ctx, tt.key, companyA, unknownC, authBody())
					return err
				},
				"get": func() error {
					_, err := c.GetConnection(ctx, tt.key, companyA, unknownC)
					return err
				},
				"create": func() error {
					_, err := c.CreateConnection(ctx, tt.key, companyA, "mqjo")
					return err
				},
				"create-company": func() error {
					_, err := c.CreateCompany(ctx, tt.key, codatclient.CompanyRequest{Name: "Acme", Tags: map[string]string{"k": "v"}})
					return err
				},
				"list-companies": func() error {
					_, err := c.ListCompanies(ctx, tt.key, codatclient.CompanyTagFilter("k", "v"))
					return err
				},
				"replace-company": func() error {
					_, err := c.ReplaceCompany(ctx, tt.key, companyA, codatclient.CompanyRequest{Name: "Acme"})
					return err
				},
				"delete-company": func() error { return c.DeleteCompany(ctx, tt.key, companyA) },
			}
			for name, call := range calls {
				err := call()
				if !tt.check(err) {
					t.Errorf("%s: unexpected error class: %v", name, err)
				}
				assertNoSecrets(t, err)
			}
		})
	}
}

func TestAPIKeyIsRedactedWhenPrinted(t *testing.T) {
	k := codatclient.APIKey(secretKey)
	js, _ := json.Marshal(struct{ Key codatclient.APIKey }{k})
	var sb strings.Builder
	slog.New(slog.NewJSONHandler(&sb, nil)).Info("x", "key", k)
	for how, text := range map[string]string{
		"%s": fmt.Sprintf("%s", k), "%v": fmt.Sprintf("%v", k), "%+v": fmt.Sprintf("%+v", k), //nolint:gocritic,staticcheck // the test is what fmt's verbs print
		"%#v": fmt.Sprintf("%#v", k), "%q": fmt.Sprintf("%q", k), "%x": fmt.Sprintf("%x", k),
		"struct %+v": fmt.Sprintf("%+v", struct{ K codatclient.APIKey }{k}), "json": string(js), "slog": sb.String(),
	} {
		if strings.Contains(text, secretKey) || strings.Contains(text, fmt.Sprintf("%x", secretKey)) {
			t.Errorf("%s prints the key: %s", how, text)
		}
	}
}
