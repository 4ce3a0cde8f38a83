package manifests

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/codat-operator/codat-operator/internal/testenv"
)

// TestInstallManifestsApply renders config/default as `make deploy` does and
// applies it to the API server: every object is accepted, and the manager's
// pod template passes the restricted Pod Security Standard that its namespace
// enforces (the API server warns about a Deployment whose pods would not).
func TestInstallManifestsApply(t *testing.T) {
	root := testenv.ModuleRoot()
	for _, dir := range []string{"prometheus", "network-policy", "samples"} {
		if _, err := env.Kubectl("kustomize", filepath.Join(root, "config", dir)); err != nil {
			t.Errorf("config/%s does not render: %v", dir, err)
		}
	}
	rendered, err := env.Kubectl("kustomize", filepath.Join(root, "config", "default"))
	if err != nil {
		t.Fatal(err)
	}
	// The CRD is already installed by envtest; applying it again must agree.
	cmd := exec.Command("kubectl", "--kubeconfig", env.Kubeconfig, "apply", "--server-side", "--force-conflicts", "-f", "-")
	cmd.Stdin = strings.NewReader(rendered)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("applying config/default: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	for _, want := range []string{
		"namespace/codat-operator-system serverside-applied",
		"deployment.apps/codat-operator-controller-manager serverside-applied",
		"clusterrole.rbac.authorization.k8s.io/codat-operator-manager-role serverside-applied",
	} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("apply did not report %q:\n%s", want, stdout.String())
		}
	}
	if strings.Contains(stderr.String(), "PodSecurity") {
		t.Errorf("the manager's pods would violate the restricted Pod Security Standard:\n%s", stderr.String())
	}
}

// Every sample in config/samples is accepted by the API server as it is
// written. A connection sample holds exactly one CodatConnection; a company
// sample one CodatCompany and the CodatConnections that name it.
func TestSamplesAreAccepted(t *testing.T) {
	ns := newNamespace(t)
	files, err := filepath.Glob(filepath.Join(testenv.ModuleRoot(), "config", "samples", "codat_*.yaml"))
	if err != nil || len(files) < 6 {
		t.Fatalf("want at least 6 samples, found %d (%v)", len(files), err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			decoder := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
			kinds := 0
			var companies, refs []string
			for {
				obj := &unstructured.Unstructured{}
				if err := decoder.Decode(&obj.Object); errors.Is(err, io.EOF) {
					break
				} else if err != nil {
					t.Fatalf("decoding: %v", err)
				}
				if len(obj.Object) == 0 {
					continue
				}
				obj.SetNamespace(ns)
				if err := k8s.Create(context.Background(), obj); err != nil {
					t.Fatalf("creating %s %s: %v", obj.GetKind(), obj.GetName(), err)
				}
				switch obj.GetKind() {
				case "CodatConnection":
					kinds++
					if ref, ok, _ := unstructured.NestedString(obj.Object, "spec", "companyRef", "name"); ok {
						refs = append(refs, ref)
					}
				case "CodatCompany":
					companies = append(companies, obj.GetName())
				}
			}
			switch {
			case len(companies) == 0 && kinds != 1:
				t.Fatalf("want one CodatConnection in a connection sample, found %d", kinds)
			case len(companies) > 1:
				t.Fatalf("want one CodatCompany in a company sample, found %v", companies)
			case len(companies) == 1 && (kinds < 2 || len(refs) != kinds):
				t.Fatalf("want the CodatCompany %s and at least two connections that name it by companyRef; %d connections, refs %v", companies[0], kinds, refs)
			}
			for _, ref := range refs {
				if len(companies) == 0 || ref != companies[0] {
					t.Errorf("companyRef %q names no CodatCompany of the sample (%v)", ref, companies)
				}
			}
		})
	}
}
