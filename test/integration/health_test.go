package integration_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
	"github.com/codat-operator/codat-operator/health"
	"github.com/codat-operator/codat-operator/internal/gitopshealth"
	"github.com/codat-operator/codat-operator/internal/testenv"
)

// updateHealthTestdata, when set, rewrites the examples of the Argo CD health
// check from what the reconciler produced, instead of comparing with them.
const updateHealthTestdata = "UPDATE_HEALTH_TESTDATA"

// healthObject is the name of every example object.
const healthObject = "acme-xero"

// unknownCompany is a company id Codat does not know.
const unknownCompany = "00000000-0000-4000-8000-00000000dead"

// healthStates drive the reconciler, with the simulator, into each state of
// gitopshealth.States and return the object as the API server then holds it.
var healthStates = map[string]func(c *tcase) *codatv1.CodatConnection{
	"progressing_no_status.yaml": nil, // createdAsServed: the API server's answer, before the operator acts
	"progressing_create_retrying.yaml": func(c *tcase) *codatv1.CodatConnection {
		sim.FailCompany(c.company, 503)
		c.create(healthObject, nil)
		return c.waitCondition(healthObject, codatv1.ConditionReconciling, metav1.ConditionTrue, codatv1.ReasonCodatUnavailable)
	},
	"progressing_unlinking_rate_limited.yaml": func(c *tcase) *codatv1.CodatConnection {
		c.linked(healthObject)
		sim.FailCompany(c.company, 429)
		c.update(healthObject, func(o *codatv1.CodatConnection) { o.Spec.State = codatv1.StateUnlinked })
		return c.waitCondition(healthObject, codatv1.ConditionReconciling, metav1.ConditionTrue, codatv1.ReasonRateLimited)
	},
	"healthy_awaiting_authorization.yaml": func(c *tcase) *codatv1.CodatConnection {
		c.create(healthObject, nil)
		return c.waitCondition(healthObject, codatv1.ConditionReady, metav1.ConditionFalse, codatv1.ReasonAwaitingAuthorization)
	},
	"healthy_link_failed.yaml": func(c *tcase) *codatv1.CodatConnection {
		c.create(healthObject, nil)
		obj := c.waitCondition(healthObject, codatv1.ConditionReady, metav1.ConditionFalse, codatv1.ReasonAwaitingAuthorization)
		if err := sim.FailLink(c.company, obj.Status.ConnectionID, "User cancelled"); err != nil {
			c.t.Fatal(err)
		}
		return c.waitCondition(healthObject, codatv1.ConditionReady, metav1.ConditionFalse, codatv1.ReasonLinkFailed)
	},
	"healthy_deauthorized.yaml": func(c *tcase) *codatv1.CodatConnection {
		obj := c.linked(healthObject)
		if err := sim.Deauthorize(c.company, obj.Status.ConnectionID); err != nil {
			c.t.Fatal(err)
		}
		c.poll(healthObject)
		return c.waitCondition(healthObject, codatv1.ConditionReady, metav1.ConditionFalse, codatv1.ReasonDeauthorized)
	},
	"healthy_linked.yaml": func(c *tcase) *codatv1.CodatConnection {
		return c.linked(healthObject)
	},
	"healthy_linked_poll_failed.yaml": func(c *tcase) *codatv1.CodatConnection {
		c.linked(healthObject)
		sim.FailCompany(c.company, 503)
		c.poll(healthObject)
		return c.waitCondition(healthObject, codatv1.ConditionSynced, metav1.ConditionFalse, codatv1.ReasonCodatUnavailable)
	},
	"healthy_unlinked_as_desired.yaml": func(c *tcase) *codatv1.CodatConnection {
		c.linked(healthObject)
		c.update(healthObject, func(o *codatv1.CodatConnection) { o.Spec.State = codatv1.StateUnlinked })
		return c.waitCondition(healthObject, codatv1.ConditionReady, metav1.ConditionTrue, codatv1.ReasonUnlinked)
	},
	"degraded_stalled.yaml": func(c *tcase) *codatv1.CodatConnection {
		c.create(healthObject, func(o *codatv1.CodatConnection) { o.Spec.CompanyID = unknownCompany })
		return c.waitCondition(healthObject, codatv1.ConditionStalled, metav1.ConditionTrue, codatv1.ReasonCompanyNotFound)
	},
	"progressing_deleting.yaml": func(c *tcase) *codatv1.CodatConnection {
		c.linked(healthObject)
		sim.FailCompany(c.company, 503)
		c.delete(healthObject)
		return c.waitFor(healthObject, "deleting, Codat unavailable", func(o *codatv1.CodatConnection) bool {
			r := condition(o, codatv1.ConditionReconciling)
			return !o.DeletionTimestamp.IsZero() && r.Status == metav1.ConditionTrue && r.Reason == codatv1.ReasonCodatUnavailable
		})
	},
	"degraded_deletion_blocked.yaml": func(c *tcase) *codatv1.CodatConnection {
		c.linked(healthObject)
		sim.FailCompany(c.company, 403)
		c.delete(healthObject)
		return c.waitCondition(healthObject, codatv1.ConditionStalled, metav1.ConditionTrue, codatv1.ReasonDeletionBlocked)
	},
	"suspended_paused.yaml": func(c *tcase) *codatv1.CodatConnection {
		c.linked(healthObject)
		c.pause()
		return c.waitCondition(healthObject, codatv1.ConditionReady, metav1.ConditionTrue, codatv1.ReasonPaused)
	},
	"suspended_paused_spec_changed.yaml": func(c *tcase) *codatv1.CodatConnection {
		c.linked(healthObject)
		c.pause()
		c.waitCondition(healthObject, codatv1.ConditionReady, metav1.ConditionTrue, codatv1.ReasonPaused)
		// A paused object's status does not move, so the update's answer is
		// the state.
		return c.updateReturning(func(o *codatv1.CodatConnection) { o.Spec.DeletionPolicy = codatv1.DeletionPolicyOrphan })
	},
	"suspended_paused_awaiting_authorization.yaml": func(c *tcase) *codatv1.CodatConnection {
		c.create(healthObject, nil)
		c.waitCondition(healthObject, codatv1.ConditionReady, metav1.ConditionFalse, codatv1.ReasonAwaitingAuthorization)
		c.pause()
		return c.waitCondition(healthObject, codatv1.ConditionReady, metav1.ConditionFalse, codatv1.ReasonPaused)
	},
	"suspended_paused_stalled.yaml": func(c *tcase) *codatv1.CodatConnection {
		c.create(healthObject, func(o *codatv1.CodatConnection) { o.Spec.CompanyID = unknownCompany })
		c.waitCondition(healthObject, codatv1.ConditionStalled, metav1.ConditionTrue, codatv1.ReasonCompanyNotFound)
		c.pause()
		return c.waitCondition(healthObject, codatv1.ConditionStalled, metav1.ConditionFalse, codatv1.ReasonPaused)
	},
	"degraded_paused_deleted.yaml": func(c *tcase) *codatv1.CodatConnection {
		c.linked(healthObject)
		c.pause()
		c.waitCondition(healthObject, codatv1.ConditionReady, metav1.ConditionTrue, codatv1.ReasonPaused)
		c.delete(healthObject)
		obj := c.waitCondition(healthObject, codatv1.ConditionStalled, metav1.ConditionTrue, codatv1.ReasonDeletionPaused)
		// The pause holds the connection: the example object stays, and so does the connection.
		if n := len(sim.Connections(c.company)); n != 1 {
			c.t.Errorf("%d connections in Codat while the paused object is being deleted, want 1", n)
		}
		return obj
	},
	"progressing_spec_changed.yaml": func(c *tcase) *codatv1.CodatConnection {
		c.linked(healthObject)
		return c.updateReturning(func(o *codatv1.CodatConnection) { o.Spec.DeletionPolicy = codatv1.DeletionPolicyOrphan })
	},
}

// TestGitOpsHealthStates puts a CodatConnection into every state of the GitOps
// health table with the real reconciler, asserts what kstatus, Flux (with the
// shipped expressions) and Argo CD (with the shipped health.lua) conclude from
// the live object, and checks that the state's example in the Argo CD
// customization's testdata is that object (names, ids and times made
// stable). Run with UPDATE_HEALTH_TESTDATA=1 to rewrite the examples.
func TestGitOpsHealthStates(t *testing.T) {
	if len(healthStates) != len(gitopshealth.States) {
		t.Errorf("%d states in gitopshealth.States, %d made here: give each state a way to make it", len(gitopshealth.States), len(healthStates))
	}
	update := os.Getenv(updateHealthTestdata) != ""
	for _, state := range gitopshealth.States {
		makeState, ok := healthStates[state.File]
		if !ok {
			t.Errorf("state %q (%s): no way to make it", state.Name, state.File)
			continue
		}
		t.Run(state.File, func(t *testing.T) {
			t.Parallel()
			c := newCase(t)
			var live map[string]any
			if makeState == nil {
				live = c.createdAsServed()
			} else {
				live = toUnstructured(t, makeState(c))
			}

			got, err := gitopshealth.Evaluate(gitopshealth.FromMap(live))
			if err != nil {
				t.Fatal(err)
			}
			if got.Kstatus != state.Kstatus || got.Flux != state.Flux || got.ArgoCDScript.Status != state.ArgoCDScript || got.ArgoCD.Status != state.ArgoCD {
				t.Errorf("%s: kstatus %s, Flux %s, health.lua %s, Argo CD %s; the table says %s, %s, %s, %s (conditions %+v)",
					state.Name, got.Kstatus, got.Flux, got.ArgoCDScript.Status, got.ArgoCD.Status,
					state.Kstatus, state.Flux, state.ArgoCDScript, state.ArgoCD, live["status"])
			}

			example := stableExample(c, live)
			path := filepath.Join(testenv.ModuleRoot(), "health", filepath.FromSlash(health.ArgoCDCustomizationDir), "testdata", state.File)
			if update {
				raw, err := yaml.Marshal(example)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, raw, 0o644); err != nil { //nolint:gosec // a file of the repository
					t.Fatal(err)
				}
				return
			}
			want, err := gitopshealth.ReadObject(path)
			if err != nil {
				t.Fatalf("%v (UPDATE_HEALTH_TESTDATA=1 writes it)", err)
			}
			if diff := cmp.Diff(want.Object, example); diff != "" {
				t.Errorf("%s is not what the reconciler produces (-testdata +reconciler); if the change is meant, rerun with %s=1 and review health_test.yaml:\n%s",
					state.File, updateHealthTestdata, diff)
			}
		})
	}
	t.Run("every example is a state", func(t *testing.T) {
		files, err := fs.Glob(health.ArgoCDCustomization, health.ArgoCDCustomizationDir+"/testdata/*.yaml")
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if _, ok := healthStates[filepath.Base(f)]; !ok {
				t.Errorf("%s is no state the reconciler is driven into", f)
			}
		}
	})
}

// createdAsServed creates the case's object and returns it as the API server
// answers, before the operator acts: as JSON, so that what the typed struct
// would drop (status.observedGeneration 0) is there.
func (c *tcase) createdAsServed() map[string]any {
	c.t.Helper()
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": codatv1.GroupVersion.String(), "kind": "CodatConnection",
		"metadata": map[string]any{"namespace": c.ns, "name": healthObject},
		"spec":     map[string]any{"companyId": c.company, "platformKey": "gbol"},
	}}
	if err := k8s.Create(context.Background(), obj); err != nil {
		c.t.Fatal(err)
	}
	return obj.Object
}

// updateReturning changes the object's spec and returns the API server's answer.
func (c *tcase) updateReturning(change func(*codatv1.CodatConnection)) *codatv1.CodatConnection {
	c.t.Helper()
	obj := c.get(healthObject)
	change(obj)
	if err := k8s.Update(context.Background(), obj); err != nil {
		c.t.Fatal(err)
	}
	return obj
}

func (c *tcase) pause() {
	c.t.Helper()
	c.update(healthObject, func(o *codatv1.CodatConnection) {
		if o.Annotations == nil {
			o.Annotations = map[string]string{}
		}
		o.Annotations[codatv1.AnnotationPaused] = "true"
	})
}

func toUnstructured(t *testing.T, obj *codatv1.CodatConnection) map[string]any {
	t.Helper()
	obj = obj.DeepCopy()
	obj.APIVersion, obj.Kind = codatv1.GroupVersion.String(), "CodatConnection"
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Stable values of the examples, in place of what differs from run to run.
const (
	exampleNamespace  = "customers"
	exampleUID        = "5d8f7a34-0c1e-4b7a-9d2f-31e6a0c4b8e1"
	exampleCompany    = "8a210b68-6988-11ed-a1eb-0242ac120002"
	exampleConnection = "ee2eb431-c0fa-4dc9-93fa-d29781c12bcd"
	exampleTime       = "2026-11-20T09:14:03Z"
	exampleLinkHost   = "https://link-api.codat.io"
	exampleCodat      = "https://api.codat.io"
)

// stableExample is the live object with what differs between runs replaced:
// names, ids, times, hashes and the simulator's address (Codat's, and its
// Link host, instead). Everything else,
// conditions and messages above all, is as the reconciler wrote it.
func stableExample(c *tcase, live map[string]any) map[string]any {
	replace := []string{c.company, exampleCompany, c.ns, exampleNamespace, simURL + "/link", exampleLinkHost, simURL, exampleCodat}
	if id, _, _ := unstructured.NestedString(live, "status", "connectionId"); id != "" {
		replace = append(replace, id, exampleConnection)
	}
	replacer := strings.NewReplacer(replace...)
	meta := live["metadata"].(map[string]any)
	delete(meta, "managedFields")
	meta["uid"] = exampleUID
	meta["resourceVersion"] = "4815"
	if annotations, ok := meta["annotations"].(map[string]any); ok {
		if _, ok := annotations[codatv1.AnnotationReconcileRequestedAt]; ok {
			annotations[codatv1.AnnotationReconcileRequestedAt] = "2026-11-20T10:00:00Z"
		}
	}
	if status, ok := live["status"].(map[string]any); ok {
		for _, hash := range []string{"stalledInputs", "authorizationHash"} {
			if _, ok := status[hash]; ok {
				status[hash] = "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b"
			}
		}
	}
	return stabilize(live, replacer).(map[string]any)
}

// stabilize replaces, throughout v, every time by exampleTime and the
// replacer's strings in every other string.
func stabilize(v any, r *strings.Replacer) any {
	switch v := v.(type) {
	case map[string]any:
		for k, item := range v {
			v[k] = stabilize(item, r)
		}
		return v
	case []any:
		for i, item := range v {
			v[i] = stabilize(item, r)
		}
		return v
	case string:
		if _, err := time.Parse(time.RFC3339, v); err == nil {
			return exampleTime
		}
		return r.Replace(v)
	default:
		return v
	}
}
