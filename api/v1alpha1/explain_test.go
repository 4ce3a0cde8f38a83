package v1alpha1_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/codat-operator/codat-operator/internal/testenv"
)

// The field descriptions in the CRD are what users read with kubectl explain.
func TestKubectlExplainShowsFieldDescriptions(t *testing.T) {
	out, err := env.Kubectl("explain", "codatconnection.spec")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"companyId", "Codat company the connection belongs to",
		"platformKey", "four-letter key",
		"deletionPolicy", "connectionId", "adopts an existing Codat connection",
		"authorization", "credentialsRef",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl explain codatconnection.spec does not show %q:\n%s", want, out)
		}
	}
}

// The API server built by hack/envtest reports the Kubernetes release it was
// built from (set through ldflags), like a released kube-apiserver.
func TestServerVersion(t *testing.T) {
	out, err := env.Kubectl("version", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		ServerVersion struct{ GitVersion, Major, Minor string } `json:"serverVersion"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("decoding kubectl version: %v\n%s", err, out)
	}
	if !strings.HasPrefix(v.ServerVersion.GitVersion, "v1.") || v.ServerVersion.Major != "1" || v.ServerVersion.Minor == "" ||
		!strings.HasSuffix(v.ServerVersion.GitVersion, "."+kubernetesPatch()) {
		t.Fatalf("server version %+v, want the release of k8s.io/kubernetes in hack/envtest/go.mod", v.ServerVersion)
	}
}

// kubernetesPatch is the patch number of k8s.io/kubernetes in hack/envtest/go.mod.
func kubernetesPatch() string {
	raw, _ := os.ReadFile(filepath.Join(testenv.ModuleRoot(), "hack", "envtest", "go.mod"))
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "k8s.io/kubernetes" {
			return f[1][strings.LastIndex(f[1], ".")+1:]
		}
	}
	return "unknown"
}

// kubectl get shows the printer columns, and the short name and the
// category both find the objects.
func TestKubectlGetColumns(t *testing.T) {
	ns := newNamespace(t)
	c := connection(ns, nil)
	if err := k8s.Create(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"get", "codatconnections"}, []string{"NAME", "PLATFORM", "DESIRED", "STATUS", "READY", "AGE", c.Name, "gbol", "Linked"}},
		{[]string{"get", "codatconn", "-o", "wide"}, []string{"COMPANY", "CONNECTION", "REASON", companyA}},
		{[]string{"get", "codat"}, []string{c.Name}},
	}
	for _, tc := range cases {
		out, err := env.Kubectl(append(tc.args, "-n", ns)...)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range tc.want {
			if !strings.Contains(out, want) {
				t.Errorf("kubectl %s: no %q in\n%s", strings.Join(tc.args, " "), want, out)
			}
		}
	}
}
