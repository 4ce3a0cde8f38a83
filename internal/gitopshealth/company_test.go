package gitopshealth_test

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	"github.com/codat-operator/codat-operator/health"
	"github.com/codat-operator/codat-operator/internal/gitopshealth"
)

func companyObject(t *testing.T, name string) *unstructured.Unstructured {
	t.Helper()
	return exampleObject(t, health.ArgoCDCompanyCustomizationDir, name)
}

// setConditions changes the conditions of obj: each of set replaces the
// condition of its type's status, reason and message.
func setConditions(t *testing.T, obj *unstructured.Unstructured, set ...map[string]any) {
	t.Helper()
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, s := range set {
		found := false
		for _, c := range conds {
			if m := c.(map[string]any); m["type"] == s["type"] {
				m["status"], m["reason"], m["message"] = s["status"], s["reason"], s["message"]
				found = true
			}
		}
		if !found {
			t.Fatalf("no condition %v", s["type"])
		}
	}
	if err := unstructured.SetNestedSlice(obj.Object, conds, "status", "conditions"); err != nil {
		t.Fatal(err)
	}
}

// TestCompanyHasNoBusinessToWaitFor: a CodatConnection whose Ready is False
// because the business has to act is healthy; a CodatCompany has no business
// to wait for, so Ready=False with those reasons (or any other) is in progress
// for every tool, never Current or Healthy.
func TestCompanyHasNoBusinessToWaitFor(t *testing.T) {
	for _, reason := range []string{"AwaitingAuthorization", "LinkFailed", "Deauthorized", "Unlinked", "Progressing"} {
		obj := companyObject(t, "healthy_applied.yaml")
		setConditions(t, obj, map[string]any{"type": "Ready", "status": "False", "reason": reason, "message": ""})
		got, err := gitopshealth.Evaluate(obj)
		if err != nil {
			t.Fatal(err)
		}
		if got.Kstatus != status.InProgressStatus || got.Flux != status.InProgressStatus || got.ArgoCD.Status != gitopshealth.ArgoProgressing {
			t.Errorf("a CodatCompany with Ready=False (%s): %+v; want InProgress, InProgress, Progressing", reason, got)
		}
		if want := "Ready: " + reason; got.ArgoCD.Message != want {
			t.Errorf("a CodatCompany with Ready=False (%s) and no message: Argo CD says %q, want %q", reason, got.ArgoCD.Message, want)
		}
	}
}

// TestConnectionWaitingForItsCompany: a CodatConnection whose spec.companyRef
// names a CodatCompany without a company yet waits (Ready=False and
// Reconciling=True, CompanyPending): in progress for every tool, with the
// operator's message, not stalled and not healthy.
func TestConnectionWaitingForItsCompany(t *testing.T) {
	obj := testdataObject(t, "progressing_no_status.yaml")
	const message = "Waiting for CodatCompany acme (spec.companyRef) to have its company in Codat; its conditions say why it has none yet"
	conds := []any{}
	for _, c := range []struct{ typ, status string }{{"Ready", "False"}, {"Reconciling", "True"}, {"Stalled", "False"}, {"Synced", "False"}} {
		m := map[string]any{"type": c.typ, "status": c.status, "reason": "CompanyPending", "message": message,
			"observedGeneration": int64(1), "lastTransitionTime": "2026-11-20T09:14:03Z"}
		if c.status == "False" && c.typ == "Stalled" {
			m["message"] = ""
		}
		conds = append(conds, m)
	}
	if err := unstructured.SetNestedSlice(obj.Object, conds, "status", "conditions"); err != nil {
		t.Fatal(err)
	}
	if err := unstructured.SetNestedField(obj.Object, int64(1), "status", "observedGeneration"); err != nil {
		t.Fatal(err)
	}
	got, err := gitopshealth.Evaluate(obj)
	if err != nil {
		t.Fatal(err)
	}
	if got.Kstatus != status.InProgressStatus || got.Flux != status.InProgressStatus || got.ArgoCD.Status != gitopshealth.ArgoProgressing || got.ArgoCD.Message != message {
		t.Errorf("a connection waiting for its company: %+v; want InProgress, InProgress, Progressing with %q", got, message)
	}
}

// TestArgoCDScriptByKind: like Argo CD, each object runs the health check of
// its group and kind; a kind without one is an error, not another kind's
// verdict.
func TestArgoCDScriptByKind(t *testing.T) {
	// The same conditions give different verdicts to the two kinds: Ready=False
	// AwaitingAuthorization is healthy only for a connection.
	obj := testdataObject(t, "healthy_awaiting_authorization.yaml")
	got, err := gitopshealth.ArgoCDScript(obj)
	if err != nil || got.Status != gitopshealth.ArgoHealthy {
		t.Errorf("CodatConnection awaiting authorization: %+v, %v; want Healthy", got, err)
	}
	obj.SetKind("CodatCompany")
	got, err = gitopshealth.ArgoCDScript(obj)
	if err != nil || got.Status != gitopshealth.ArgoProgressing {
		t.Errorf("the same conditions on a CodatCompany: %+v, %v; want Progressing", got, err)
	}
	for _, gvk := range []struct{ apiVersion, kind string }{{"codat.io/v1alpha1", "CodatThing"}, {"example.com/v1", "CodatCompany"}} {
		obj.SetAPIVersion(gvk.apiVersion)
		obj.SetKind(gvk.kind)
		if got, err := gitopshealth.ArgoCDScript(obj); err == nil {
			t.Errorf("%s %s: health.lua ran (%+v); want an error", gvk.apiVersion, gvk.kind, got)
		}
	}
}
