package main

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"
)

func TestDefaultCredentials(t *testing.T) {
	cases := []struct {
		env, flag string
		want      types.NamespacedName
		wantKey   bool
		wantErr   bool
	}{
		{flag: "codat-system/codat-credentials", want: types.NamespacedName{Namespace: "codat-system", Name: "codat-credentials"}},
		{env: "sk-local", flag: "codat-system/codat-credentials", wantKey: true},
		{flag: ""},
		{flag: "codat-credentials", wantErr: true},
		{flag: "/codat-credentials", wantErr: true},
		{flag: "codat-system/", wantErr: true},
	}
	for _, tc := range cases {
		t.Setenv("CODAT_API_KEY", tc.env)
		got, err := defaultCredentials(tc.flag)
		if (err != nil) != tc.wantErr {
			t.Errorf("%q: error %v, want error %v", tc.flag, err, tc.wantErr)
			continue
		}
		if got.Secret != tc.want || (got.APIKey != "") != tc.wantKey {
			t.Errorf("%q with CODAT_API_KEY=%q: got Secret %v and a key %v", tc.flag, tc.env, got.Secret, got.APIKey != "")
		}
	}
}

func TestCheckKubernetes(t *testing.T) {
	for v, ok := range map[string]bool{
		"v1.32.0": true, "v1.37.2": true, "v1.32.1-eks-1234567": true, "v2.0.0": true,
		"v1.31.9": false, "v1.30.0-gke.1": false, "not-a-version": false,
	} {
		err := checkKubernetes(v)
		if (err == nil) != ok {
			t.Errorf("%s: error %v, want accepted %v", v, err, ok)
		}
		if err != nil && !ok && v != "not-a-version" && !strings.Contains(err.Error(), "needs 1.32.0 or later") {
			t.Errorf("%s: the error does not say which version is needed: %v", v, err)
		}
	}
}

func TestParseDeletionPolicy(t *testing.T) {
	for v, ok := range map[string]bool{"": true, "Delete": true, "Unlink": true, "Orphan": true, "orphan": false, "Keep": false} {
		got, err := parseDeletionPolicy(v)
		if (err == nil) != ok {
			t.Errorf("%q: error %v, want accepted %v", v, err, ok)
		}
		if ok && string(got) != v {
			t.Errorf("%q: parsed as %q", v, got)
		}
		if !ok && (err == nil || !strings.Contains(err.Error(), "must be Delete, Unlink or Orphan")) {
			t.Errorf("%q: the error does not say the allowed values: %v", v, err)
		}
	}
}

func TestBuildInfo(t *testing.T) {
	reg := prometheus.NewRegistry()
	if err := registerBuildInfo(reg, "v1.2.3"); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(families) != 1 || families[0].GetName() != metricBuildInfo || len(families[0].GetMetric()) != 1 {
		t.Fatalf("gathered %v", families)
	}
	m := families[0].GetMetric()[0]
	if m.GetGauge().GetValue() != 1 || len(m.GetLabel()) != 1 || m.GetLabel()[0].GetName() != "version" || m.GetLabel()[0].GetValue() != "v1.2.3" {
		t.Errorf("%s: %v", metricBuildInfo, m)
	}
}
