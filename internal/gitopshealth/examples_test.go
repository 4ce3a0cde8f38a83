package gitopshealth_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/codat-operator/codat-operator/health"
	"github.com/codat-operator/codat-operator/internal/gitopshealth"
	"github.com/codat-operator/codat-operator/internal/testenv"
)

// TestFluxExampleUsesShippedExprs: the Kustomization in examples/flux carries
// exactly the shipped health-check expressions.
func TestFluxExampleUsesShippedExprs(t *testing.T) {
	objs := readExample(t, "flux", "connections.yaml")
	want, err := gitopshealth.ShippedFluxExprs()
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, o := range objs {
		if o.GetKind() != "Kustomization" {
			continue
		}
		found = true
		raw, _, _ := unstructured.NestedSlice(o.Object, "spec", "healthCheckExprs")
		var got []gitopshealth.HealthCheckExprs
		for _, item := range raw {
			m := item.(map[string]any)
			got = append(got, gitopshealth.HealthCheckExprs{
				APIVersion: str(m["apiVersion"]), Kind: str(m["kind"]),
				InProgress: str(m["inProgress"]), Failed: str(m["failed"]), Current: str(m["current"]),
			})
			if len(m) != 5 {
				t.Errorf("an entry of spec.healthCheckExprs has %d fields, want 5: %v", len(m), m)
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("examples/flux/connections.yaml's healthCheckExprs differ from health/flux/healthcheckexprs.yaml (-shipped +example):\n%s", diff)
		}
	}
	if !found {
		t.Error("examples/flux/connections.yaml has no Kustomization")
	}
}

// TestArgoCDExampleUsesShippedScript: the argocd-cm example carries exactly the
// shipped health.lua.
func TestArgoCDExampleUsesShippedScript(t *testing.T) {
	objs := readExample(t, "argocd", "argocd-cm.yaml")
	if len(objs) != 1 || objs[0].GetKind() != "ConfigMap" {
		t.Fatalf("examples/argocd/argocd-cm.yaml: %d objects, want one ConfigMap", len(objs))
	}
	got, _, _ := unstructured.NestedString(objs[0].Object, "data", "resource.customizations.health.codat.io_CodatConnection")
	if got != health.ArgoCDHealthLua {
		t.Error("examples/argocd/argocd-cm.yaml's health check differs from health.lua: run `make manifests`")
	}
}

func readExample(t *testing.T, dir, name string) []*unstructured.Unstructured {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(testenv.ModuleRoot(), "examples", dir, name))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeAll(raw)
	if err != nil {
		t.Fatalf("%s/%s: %v", dir, name, err)
	}
	return objs
}
