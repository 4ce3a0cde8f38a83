package gitopshealth_test

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	"github.com/codat-operator/codat-operator/internal/gitopshealth"
)

// TestFluxEvaluatorOrder checks the evaluation rules of Flux's
// StatusEvaluator (RFC-0009) that the package mirrors, with expressions that
// read plain fields of a test object.
func TestFluxEvaluatorOrder(t *testing.T) {
	exprs := func(inProgress, failed, current string) []gitopshealth.HealthCheckExprs {
		return []gitopshealth.HealthCheckExprs{{APIVersion: "example.com/v1", Kind: "Thing", InProgress: inProgress, Failed: failed, Current: current}}
	}
	obj := func(generation, observed int64, flags map[string]any) *unstructured.Unstructured {
		o := map[string]any{
			"apiVersion": "example.com/v1", "kind": "Thing",
			"metadata": map[string]any{"name": "x", "generation": generation},
			"spec":     flags,
		}
		if observed >= 0 {
			o["status"] = map[string]any{"observedGeneration": observed}
		}
		return gitopshealth.FromMap(o)
	}
	all := map[string]any{"p": true, "f": true, "c": true}
	for _, c := range []struct {
		name  string
		exprs []gitopshealth.HealthCheckExprs
		obj   *unstructured.Unstructured
		want  status.Status
	}{
		{"a generation not observed wins over every expression", exprs("", "", "true"), obj(2, 1, nil), status.InProgressStatus},
		{"without status.observedGeneration the expressions decide", exprs("", "", "true"), obj(2, -1, nil), status.CurrentStatus},
		{"inProgress is tried first", exprs("spec.p", "spec.f", "spec.c"), obj(1, 1, all), status.InProgressStatus},
		{"then failed", exprs("spec.p", "spec.f", "spec.c"), obj(1, 1, map[string]any{"p": false, "f": true, "c": true}), status.FailedStatus},
		{"then current", exprs("spec.p", "spec.f", "spec.c"), obj(1, 1, map[string]any{"p": false, "f": false, "c": true}), status.CurrentStatus},
		{"none true is InProgress", exprs("spec.p", "spec.f", "spec.c"), obj(1, 1, map[string]any{"p": false, "f": false, "c": false}), status.InProgressStatus},
		{"inProgress and failed are optional", exprs("", "", "spec.c"), obj(1, 1, all), status.CurrentStatus},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := gitopshealth.FluxWith(c.exprs, c.obj)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("got %s, want %s", got, c.want)
			}
		})
	}

	if _, err := gitopshealth.FluxWith(exprs("", "", "spec.missing"), obj(1, 1, map[string]any{})); err == nil {
		t.Error("an expression reading a missing field evaluated without error; Flux reports such an error")
	}
	if _, err := gitopshealth.FluxWith(exprs("", "", "spec.c"), gitopshealth.FromMap(map[string]any{"apiVersion": "other.io/v1", "kind": "Thing"})); err == nil {
		t.Error("an object of a kind without an entry evaluated without error")
	}
	if _, err := gitopshealth.FluxWith(exprs("", "", "'not a bool'"), obj(1, 1, nil)); err == nil {
		t.Error("a current expression returning a string evaluated without error")
	}
}

// TestShippedFluxExprsOnMissingFields: the shipped expressions of every kind
// never fail on an object whose status has no conditions yet. An object with
// no status at all is what the CRDs' default (status.observedGeneration: 0)
// prevents: the API server never returns one, which matters because Flux's
// variables are the object's top-level fields and a missing one makes every
// expression fail, and kstatus reads an object without status or conditions
// as Current.
func TestShippedFluxExprsOnMissingFields(t *testing.T) {
	for kind, ready := range map[string]*unstructured.Unstructured{
		"CodatConnection": testdataObject(t, "healthy_linked.yaml"),
		"CodatCompany":    companyObject(t, "healthy_applied.yaml"),
	} {
		noConditions := ready.DeepCopy()
		unstructured.RemoveNestedField(noConditions.Object, "status", "conditions")
		if got, err := gitopshealth.Flux(noConditions); err != nil || got != status.InProgressStatus {
			t.Errorf("%s, status without conditions: Flux %s, %v; want InProgress without error", kind, got, err)
		}
		emptyConditions := ready.DeepCopy()
		if err := unstructured.SetNestedSlice(emptyConditions.Object, []any{}, "status", "conditions"); err != nil {
			t.Fatal(err)
		}
		if got, err := gitopshealth.Flux(emptyConditions); err != nil || got != status.InProgressStatus {
			t.Errorf("%s, empty conditions: Flux %s, %v; want InProgress without error", kind, got, err)
		}

		noStatus := ready.DeepCopy()
		unstructured.RemoveNestedField(noStatus.Object, "status")
		_, err := gitopshealth.Flux(noStatus)
		if err == nil || !strings.Contains(err.Error(), "status") {
			t.Errorf("%s, no status at all: Flux error %v; want an error about status (this is why the CRD defaults status)", kind, err)
		}
		if got, err := gitopshealth.Kstatus(noStatus); err != nil || got != status.CurrentStatus {
			t.Errorf("%s, no status at all: kstatus %s, %v; want Current (this is why the CRD defaults status)", kind, got, err)
		}
		if got, err := gitopshealth.ArgoCD(noStatus); err != nil || got.Status != gitopshealth.ArgoProgressing {
			t.Errorf("%s, no status at all: Argo CD %+v, %v; want Progressing", kind, got, err)
		}
	}
}

// TestUnknownCodatStatus: Ready=False for a reason that is not waiting for
// the business (Codat reported a status the operator does not know) is in
// progress for every tool, not healthy.
func TestUnknownCodatStatus(t *testing.T) {
	obj := testdataObject(t, "healthy_linked.yaml")
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conds {
		if m := c.(map[string]any); m["type"] == "Ready" {
			m["status"], m["reason"], m["message"] = "False", "Progressing", `Codat reports the connection status "Syncing"`
		}
	}
	if err := unstructured.SetNestedSlice(obj.Object, conds, "status", "conditions"); err != nil {
		t.Fatal(err)
	}
	got, err := gitopshealth.Evaluate(obj)
	if err != nil {
		t.Fatal(err)
	}
	if got.Kstatus != status.InProgressStatus || got.Flux != status.InProgressStatus || got.ArgoCD.Status != gitopshealth.ArgoProgressing {
		t.Errorf("got %+v; want InProgress, InProgress, Progressing", got)
	}
}

// TestArgoCDHookFinalizer: like gitops-engine, Argo CD still runs the health
// check of a deleting object that holds Argo CD's hook finalizer.
func TestArgoCDHookFinalizer(t *testing.T) {
	obj := testdataObject(t, "degraded_deletion_blocked.yaml")
	obj.SetFinalizers(append(obj.GetFinalizers(), "argocd.argoproj.io/hook-finalizer"))
	got, err := gitopshealth.ArgoCD(obj)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != gitopshealth.ArgoDegraded {
		t.Errorf("got %+v, want Degraded", got)
	}
}
