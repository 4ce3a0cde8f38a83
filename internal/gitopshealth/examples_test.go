package gitopshealth_test

import (
	"os"
	"path/filepath"
	"slices"
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
		if o.GetKind() != "Kustomization" || o.GetName() != "codat-connections" {
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
		t.Error("examples/flux/connections.yaml has no Kustomization codat-connections")
	}
}

// TestArgoCDExampleUsesShippedScript: the argocd-cm example carries exactly the
// shipped health.lua of every kind, and nothing else.
func TestArgoCDExampleUsesShippedScript(t *testing.T) {
	objs := readExample(t, "argocd", "argocd-cm.yaml")
	if len(objs) != 1 || objs[0].GetKind() != "ConfigMap" {
		t.Fatalf("examples/argocd/argocd-cm.yaml: %d objects, want one ConfigMap", len(objs))
	}
	data, _, _ := unstructured.NestedStringMap(objs[0].Object, "data")
	for _, kind := range health.Kinds {
		key := "resource.customizations.health.codat.io_" + kind
		want, err := health.ArgoCDHealthLuaOf(kind)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := data[key]
		if !ok {
			t.Errorf("examples/argocd/argocd-cm.yaml has no %s: run `make manifests`", key)
		} else if got != want {
			t.Errorf("examples/argocd/argocd-cm.yaml's %s differs from the health.lua of %s: run `make manifests`", key, kind)
		}
		delete(data, key)
	}
	for key := range data {
		t.Errorf("examples/argocd/argocd-cm.yaml holds %s, which is no shipped health check", key)
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

// TestExamplesNeverDeleteConnections: removing a file from Git, or deleting the GitOps object
// that syncs the folder, must not delete a business's connection (or company) in Codat. The
// examples do not prune the objects of the folder, CodatConnections and CodatCompanies alike, and
// the operator they install defaults to Orphan for connections (companies always do).
func TestExamplesNeverDeleteConnections(t *testing.T) {
	// Argo CD: the connections' Application neither prunes nor deletes them, and its namespace
	// defaults to Orphan.
	app := only(t, readExample(t, "argocd", "connections.yaml"), "Application")
	if prune, _, _ := unstructured.NestedBool(app.Object, "spec", "syncPolicy", "automated", "prune"); prune {
		t.Error("examples/argocd/connections.yaml prunes automatically")
	}
	options, _, _ := unstructured.NestedStringSlice(app.Object, "spec", "syncPolicy", "syncOptions")
	for _, want := range []string{"Prune=false", "Delete=false"} {
		if !slices.Contains(options, want) {
			t.Errorf("examples/argocd/connections.yaml's syncOptions %v lack %s", options, want)
		}
	}
	if got, _, _ := unstructured.NestedString(app.Object, "spec", "syncPolicy", "managedNamespaceMetadata", "annotations", "codat.io/default-deletion-policy"); got != "Orphan" {
		t.Errorf("examples/argocd/connections.yaml's namespace default deletion policy %q, want Orphan", got)
	}

	// Flux: the connections' Kustomization does not prune, and waits for the operator's.
	kustomizations := map[string]*unstructured.Unstructured{}
	for _, o := range readExample(t, "flux", "connections.yaml") {
		if o.GetKind() == "Kustomization" {
			kustomizations[o.GetName()] = o
		}
	}
	connections, ok := kustomizations["codat-connections"]
	if !ok {
		t.Fatal("examples/flux/connections.yaml has no Kustomization codat-connections")
	}
	if prune, _, _ := unstructured.NestedBool(connections.Object, "spec", "prune"); prune {
		t.Error("examples/flux/connections.yaml prunes CodatConnections")
	}
	deps, _, _ := unstructured.NestedSlice(connections.Object, "spec", "dependsOn")
	if len(deps) != 1 {
		t.Fatalf("codat-connections depends on %v, want the operator's Kustomization", deps)
	}
	operator, ok := kustomizations[str(deps[0].(map[string]any)["name"])]
	if !ok {
		t.Fatalf("codat-connections depends on %v, which the example does not define", deps[0])
	}
	if wait, _, _ := unstructured.NestedBool(operator.Object, "spec", "wait"); !wait {
		t.Errorf("Kustomization %s does not wait for what it applies (the HelmRelease): depending on it orders nothing", operator.GetName())
	}

	// Both install the operator with Orphan as the default.
	argoChart := only(t, readExample(t, "argocd", "application.yaml"), "Application")
	if got, _, _ := unstructured.NestedString(argoChart.Object, "spec", "source", "helm", "valuesObject", "defaultDeletionPolicy"); got != "Orphan" {
		t.Errorf("examples/argocd/application.yaml's defaultDeletionPolicy %q, want Orphan", got)
	}
	fluxChart := only(t, readExample(t, "flux", "operator.yaml"), "HelmRelease")
	if got, _, _ := unstructured.NestedString(fluxChart.Object, "spec", "values", "defaultDeletionPolicy"); got != "Orphan" {
		t.Errorf("examples/flux/operator.yaml's defaultDeletionPolicy %q, want Orphan", got)
	}
}

// only returns the one object of the kind.
func only(t *testing.T, objs []*unstructured.Unstructured, kind string) *unstructured.Unstructured {
	t.Helper()
	var found []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d objects of kind %s, want one", len(found), kind)
	}
	return found[0]
}
