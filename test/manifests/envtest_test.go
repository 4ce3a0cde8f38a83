package manifests

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/codat-operator/codat-operator/internal/testenv"
)

// The API server built by hack/envtest reports the Kubernetes release it was
// built from (set through ldflags), like a released kube-apiserver.
func TestBuiltAPIServerReportsItsRelease(t *testing.T) {
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
