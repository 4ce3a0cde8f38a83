package gitopshealth

import (
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	"github.com/codat-operator/codat-operator/health"
)

// State is one state of an object and what each GitOps tool makes of it: a
// row of a table in docs/conditions.md, "GitOps health". Its example object
// is File in the testdata of its kind's Argo CD customization.
type State struct {
	Name string
	File string
	// Kstatus and Flux are what kstatus and Flux (with the shipped
	// healthCheckExprs) conclude.
	Kstatus, Flux status.Status
	// ArgoCDScript is what health.lua returns; ArgoCD what Argo CD shows.
	ArgoCDScript, ArgoCD string
}

// Table is the states of one kind, which every tool must agree on.
type Table struct {
	Kind string
	// Dir is the kind's Argo CD customization in package health (its
	// health.lua, health_test.yaml and testdata/).
	Dir string
	// Marker is the HTML comment that comes before the kind's table in
	// docs/conditions.md.
	Marker string
	States []State
}

// Tables are the tables of every kind with a shipped health check, in the
// order of the docs.
var Tables = []Table{
	{Kind: "CodatConnection", Dir: health.ArgoCDCustomizationDir, Marker: "<!-- gitops-health-table -->", States: States},
	{Kind: "CodatCompany", Dir: health.ArgoCDCompanyCustomizationDir, Marker: "<!-- gitops-health-table:CodatCompany -->", States: CompanyStates},
}

// States are the states of a CodatConnection users see, in the order of the
// docs. Each example object is one the reconciler produced
// (test/integration/health_test.go writes and checks it).
var States = []State{
	{"no status yet", "progressing_no_status.yaml", status.InProgressStatus, status.InProgressStatus, "Progressing", "Progressing"},
	{"retrying a create (Codat unavailable)", "progressing_create_retrying.yaml", status.InProgressStatus, status.InProgressStatus, "Progressing", "Progressing"},
	{"unlinking, rate limited", "progressing_unlinking_rate_limited.yaml", status.InProgressStatus, status.InProgressStatus, "Progressing", "Progressing"},
	{"awaiting the business", "healthy_awaiting_authorization.yaml", status.InProgressStatus, status.CurrentStatus, "Healthy", "Healthy"},
	{"the business's link failed: awaiting a retry", "healthy_link_failed.yaml", status.InProgressStatus, status.CurrentStatus, "Healthy", "Healthy"},
	{"deauthorized: awaiting the business", "healthy_deauthorized.yaml", status.InProgressStatus, status.CurrentStatus, "Healthy", "Healthy"},
	{"Linked", "healthy_linked.yaml", status.CurrentStatus, status.CurrentStatus, "Healthy", "Healthy"},
	{"Linked, a routine poll failed", "healthy_linked_poll_failed.yaml", status.CurrentStatus, status.CurrentStatus, "Healthy", "Healthy"},
	{"Unlinked, as desired", "healthy_unlinked_as_desired.yaml", status.CurrentStatus, status.CurrentStatus, "Healthy", "Healthy"},
	{"Stalled", "degraded_stalled.yaml", status.FailedStatus, status.FailedStatus, "Degraded", "Degraded"},
	{"deleting", "progressing_deleting.yaml", status.TerminatingStatus, status.InProgressStatus, "Progressing", "Progressing"},
	{"deletion blocked", "degraded_deletion_blocked.yaml", status.TerminatingStatus, status.FailedStatus, "Degraded", "Progressing"},
	{"paused", "suspended_paused.yaml", status.CurrentStatus, status.CurrentStatus, "Suspended", "Suspended"},
	{"paused, spec changed since", "suspended_paused_spec_changed.yaml", status.InProgressStatus, status.InProgressStatus, "Suspended", "Suspended"},
	{"paused while waiting for the business", "suspended_paused_awaiting_authorization.yaml", status.InProgressStatus, status.CurrentStatus, "Suspended", "Suspended"},
	{"paused after a stall", "suspended_paused_stalled.yaml", status.InProgressStatus, status.CurrentStatus, "Suspended", "Suspended"},
	{"paused and deleted", "degraded_paused_deleted.yaml", status.TerminatingStatus, status.FailedStatus, "Degraded", "Progressing"},
	{"spec changed, not yet observed", "progressing_spec_changed.yaml", status.InProgressStatus, status.InProgressStatus, "Progressing", "Progressing"},
}

// CompanyStates are the states of a CodatCompany users see, in the order of
// the docs. A company has no business to wait for: Ready=False is never
// healthy. The example objects carry the conditions the reconciler writes for
// a company (the same view as a connection's, with the company's reasons and
// messages), with the names, ids and times of the CodatConnection examples.
var CompanyStates = []State{
	{"no status yet", "progressing_no_status.yaml", status.InProgressStatus, status.InProgressStatus, "Progressing", "Progressing"},
	{"retrying a create (Codat unavailable)", "progressing_create_retrying.yaml", status.InProgressStatus, status.InProgressStatus, "Progressing", "Progressing"},
	{"applying a spec change, rate limited", "progressing_applying_rate_limited.yaml", status.InProgressStatus, status.InProgressStatus, "Progressing", "Progressing"},
	{"applied", "healthy_applied.yaml", status.CurrentStatus, status.CurrentStatus, "Healthy", "Healthy"},
	{"applied, a routine poll failed", "healthy_applied_poll_failed.yaml", status.CurrentStatus, status.CurrentStatus, "Healthy", "Healthy"},
	{"Stalled", "degraded_stalled.yaml", status.FailedStatus, status.FailedStatus, "Degraded", "Degraded"},
	{"deleting (Delete): waiting for its connections to go", "progressing_deleting_company_in_use.yaml", status.TerminatingStatus, status.InProgressStatus, "Progressing", "Progressing"},
	{"deletion blocked", "degraded_deletion_blocked.yaml", status.TerminatingStatus, status.FailedStatus, "Degraded", "Progressing"},
	{"paused", "suspended_paused.yaml", status.CurrentStatus, status.CurrentStatus, "Suspended", "Suspended"},
	{"paused, spec changed since", "suspended_paused_spec_changed.yaml", status.InProgressStatus, status.InProgressStatus, "Suspended", "Suspended"},
	{"paused after a stall", "suspended_paused_stalled.yaml", status.InProgressStatus, status.CurrentStatus, "Suspended", "Suspended"},
	{"paused and deleted", "degraded_paused_deleted.yaml", status.TerminatingStatus, status.FailedStatus, "Degraded", "Progressing"},
	{"spec changed, not yet observed", "progressing_spec_changed.yaml", status.InProgressStatus, status.InProgressStatus, "Progressing", "Progressing"},
}
