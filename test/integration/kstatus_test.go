package integration_test

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
	"github.com/codat-operator/codat-operator/internal/codatsim"
)

// kstatusOf computes what Flux, Argo CD's kstatus users and `kubectl wait`
// conclude from the live object.
func kstatusOf(t *testing.T, c *tcase, name string) status.Status {
	t.Helper()
	obj := c.get(name)
	raw, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	res, err := status.Compute(&unstructured.Unstructured{Object: raw})
	if err != nil {
		t.Fatal(err)
	}
	return res.Status
}

// kstatus: InProgress while retrying work, Current when Ready (also when a
// routine poll fails), Failed when Stalled, not Current while a change waits
// behind a pause. Awaiting authorization is Ready=False/AwaitingAuthorization with
// Reconciling and Stalled False; kstatus (cli-utils v0.37) reads any
// Ready=False as InProgress, so that is what GitOps tools see until the
// business authorizes: docs/conditions.md says how to tell Flux and Argo CD.
func TestKstatus(t *testing.T) {
	c := newCase(t)

	// Retrying: every request fails for a while.
	setFaults(t, codatsim.Faults{ErrorRate: map[string]float64{"*": 1}, ErrorStatus: 503})
	c.create("busy", nil)
	c.waitCondition("busy", codatv1.ConditionReconciling, metav1.ConditionTrue, codatv1.ReasonCodatUnavailable)
	if got := kstatusOf(t, c, "busy"); got != status.InProgressStatus {
		t.Errorf("while retrying: kstatus %s, want InProgress", got)
	}
	_ = sim.SetFaults(codatsim.Faults{})

	obj := c.waitCondition("busy", codatv1.ConditionReady, metav1.ConditionFalse, codatv1.ReasonAwaitingAuthorization)
	if got := kstatusOf(t, c, "busy"); got != status.InProgressStatus {
		t.Errorf("awaiting authorization: kstatus %s, want InProgress", got)
	}
	if err := sim.Link(c.company, obj.Status.ConnectionID); err != nil {
		t.Fatal(err)
	}
	c.waitCondition("busy", codatv1.ConditionReady, metav1.ConditionTrue, codatv1.ReasonLinked)
	if got := kstatusOf(t, c, "busy"); got != status.CurrentStatus {
		t.Errorf("ready: kstatus %s, want Current", got)
	}

	// A realized object whose routine poll fails stays Current: the failure
	// shows on Synced, not as work in progress.
	for _, failure := range []int{503, 429} {
		sim.FailCompany(c.company, failure)
		c.poll("busy")
		obj := c.waitFor("busy", "Synced=False", func(o *codatv1.CodatConnection) bool {
			return condition(o, codatv1.ConditionSynced).Status == metav1.ConditionFalse
		})
		if got := kstatusOf(t, c, "busy"); got != status.CurrentStatus {
			t.Errorf("HTTP %d on a poll of a Ready object: kstatus %s, want Current (conditions %+v)", failure, got, obj.Status.Conditions)
		}
		sim.FailCompany(c.company, 0)
		c.waitCondition("busy", codatv1.ConditionSynced, metav1.ConditionTrue, codatv1.ReasonSynced)
	}

	// Paused with a change not applied yet: not Current.
	c.update("busy", func(o *codatv1.CodatConnection) {
		o.Annotations = map[string]string{codatv1.AnnotationPaused: "true"}
		o.Spec.DeletionPolicy = codatv1.DeletionPolicyOrphan
	})
	c.waitFor("busy", "Ready reason Paused", func(o *codatv1.CodatConnection) bool {
		return condition(o, codatv1.ConditionReady).Reason == codatv1.ReasonPaused
	})
	if got := kstatusOf(t, c, "busy"); got == status.CurrentStatus {
		t.Errorf("paused with a pending change: kstatus Current")
	}

	c.create("stuck", func(o *codatv1.CodatConnection) { o.Spec.CompanyID = "00000000-0000-4000-8000-0000000000ff" })
	c.waitCondition("stuck", codatv1.ConditionStalled, metav1.ConditionTrue, codatv1.ReasonCompanyNotFound)
	if got := kstatusOf(t, c, "stuck"); got != status.FailedStatus {
		t.Errorf("stalled: kstatus %s, want Failed", got)
	}
}
