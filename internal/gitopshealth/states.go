package gitopshealth

import "sigs.k8s.io/cli-utils/pkg/kstatus/status"

// State is one state of a CodatConnection and what each GitOps tool makes of
// it: a row of the table in docs/conditions.md, "GitOps health". Its example
// object, File in the testdata of the Argo CD customization, is one the
// reconciler produced (test/integration/health_test.go writes and checks it).
type State struct {
	Name string
	File string
	// Kstatus and Flux are what kstatus and Flux (with the shipped
	// healthCheckExprs) conclude.
	Kstatus, Flux status.Status
	// ArgoCDScript is what health.lua returns; ArgoCD what Argo CD shows.
	ArgoCDScript, ArgoCD string
}

// States are the states users see, in the order of the docs.
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
