package integration_test

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
)

// Errors only a person can fix stall the object with a message that says
// what to do, and stop the calls to Codat.
func TestBadCredentialsStallUntilFixed(t *testing.T) {
	t.Parallel()
	c := newCase(t)
	goodKey, badKey := "sk-fixed-9e8d7c", "sk-wrong-0a1b2c"
	sim.AddAPIKey(goodKey)
	c.secret("codat", map[string]string{"apiKey": badKey})
	c.create("locked-out", func(o *codatv1.CodatConnection) {
		o.Spec.CredentialsRef = &codatv1.SecretKeyReference{Name: "codat"}
	})
	obj := c.waitCondition("locked-out", codatv1.ConditionStalled, metav1.ConditionTrue, codatv1.ReasonCredentialsRejected)
	requireContains(t, condition(obj, codatv1.ConditionStalled).Message, "HTTP 401", c.ns+"/codat", "valid key")
	if got := condition(obj, codatv1.ConditionReconciling).Status; got != metav1.ConditionFalse {
		t.Errorf("Reconciling=%s on a stalled object, want False", got)
	}
	c.waitEvent("locked-out", codatv1.ReasonCredentialsRejected)

	before := len(c.requests(""))
	time.Sleep(30 * time.Second) // the window in which a hot loop would show
	if n := len(c.requests("")) - before; n > 3 {
		t.Fatalf("%d Codat calls in the 30s after stalling on 401, want at most 3", n)
	}

	// Fixing the Secret is all it takes.
	c.setSecret("codat", map[string]string{"apiKey": goodKey})
	c.waitCondition("locked-out", codatv1.ConditionReady, metav1.ConditionFalse, codatv1.ReasonAwaitingAuthorization)
}

func TestPersonMustActStalls(t *testing.T) {
	t.Parallel()
	t.Run("unknown company", func(t *testing.T) {
		t.Parallel()
		c := newCase(t)
		c.create("ghost", func(o *codatv1.CodatConnection) { o.Spec.CompanyID = "00000000-0000-4000-8000-00000000dead" })
		obj := c.waitCondition("ghost", codatv1.ConditionStalled, metav1.ConditionTrue, codatv1.ReasonCompanyNotFound)
		requireContains(t, condition(obj, codatv1.ConditionStalled).Message, "00000000-0000-4000-8000-00000000dead", "spec.companyId")
	})
	t.Run("account limit", func(t *testing.T) {
		t.Parallel()
		c := newCase(t)
		sim.FailCompany(c.company, 402)
		c.create("over-limit", nil)
		obj := c.waitCondition("over-limit", codatv1.ConditionStalled, metav1.ConditionTrue, codatv1.ReasonAccountLimit)
		requireContains(t, condition(obj, codatv1.ConditionStalled).Message, "HTTP 402", codatv1.AnnotationReconcileRequestedAt)

		// Once the limit is raised, the annotation makes it try again.
		sim.FailCompany(c.company, 0)
		c.poll("over-limit")
		c.waitCondition("over-limit", codatv1.ConditionReady, metav1.ConditionFalse, codatv1.ReasonAwaitingAuthorization)
		if c.creates() != 1 {
			t.Fatalf("%d creates, want 1", c.creates())
		}
	})
	t.Run("missing credentials Secret", func(t *testing.T) {
		t.Parallel()
		c := newCase(t)
		c.create("keyless", func(o *codatv1.CodatConnection) {
			o.Spec.CredentialsRef = &codatv1.SecretKeyReference{Name: "not-yet"}
		})
		obj := c.waitCondition("keyless", codatv1.ConditionStalled, metav1.ConditionTrue, codatv1.ReasonCredentialsMissing)
		requireContains(t, condition(obj, codatv1.ConditionStalled).Message, c.ns+"/not-yet", "apiKey")
		if n := len(c.requests("")); n != 0 {
			t.Fatalf("%d Codat calls without credentials", n)
		}
		// The Secret appearing brings the object back by itself.
		c.secret("not-yet", map[string]string{"apiKey": apiKey})
		c.waitCondition("keyless", codatv1.ConditionReady, metav1.ConditionFalse, codatv1.ReasonAwaitingAuthorization)
	})
}
