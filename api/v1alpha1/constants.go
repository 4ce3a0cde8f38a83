package v1alpha1

// Condition types. Ready, Reconciling and Stalled follow the kstatus
// convention that Flux, Argo CD and `kubectl wait` understand.
const (
	// ConditionReady is True when Codat's connection matches the desired state.
	ConditionReady = "Ready"
	// ConditionReconciling is True while the operator is still working to
	// realize the current generation: creating, unlinking, sending an
	// authorization, deleting, or retrying one of those.
	ConditionReconciling = "Reconciling"
	// ConditionStalled is True when only a person can unblock the object.
	ConditionStalled = "Stalled"
	// ConditionSynced is True when the operator's last pass got through to
	// Codat; False with the failure's reason otherwise. A failed routine look
	// at a realized connection shows here only, so GitOps health does not
	// flap on Codat's hiccups.
	ConditionSynced = "Synced"
)

// Condition reasons. Each is documented for users in docs/conditions.md.
const (
	ReasonLinked                = "Linked"
	ReasonUnlinked              = "Unlinked"
	ReasonAwaitingAuthorization = "AwaitingAuthorization"
	ReasonLinkFailed            = "LinkFailed"
	ReasonDeauthorized          = "Deauthorized"
	ReasonUnlinking             = "Unlinking"
	ReasonPaused                = "Paused"
	ReasonProgressing           = "Progressing"
	ReasonSynced                = "Synced"
	ReasonPollsStretched        = "PollsStretched"
	ReasonQuotaLow              = "QuotaLow"

	ReasonRateLimited      = "RateLimited"
	ReasonCodatUnavailable = "CodatUnavailable"

	ReasonCredentialsMissing         = "CredentialsMissing"
	ReasonCredentialsRejected        = "CredentialsRejected"
	ReasonCredentialsInvalid         = "CredentialsInvalid"
	ReasonCompanyNotFound            = "CompanyNotFound"
	ReasonAccountLimit               = "AccountLimit"
	ReasonConnectionNotFound         = "ConnectionNotFound"
	ReasonPlatformMismatch           = "PlatformMismatch"
	ReasonAlreadyOwned               = "AlreadyOwned"
	ReasonConnectionIDConflict       = "ConnectionIDConflict"
	ReasonAmbiguousCreate            = "AmbiguousCreate"
	ReasonAuthorizationSecretMissing = "AuthorizationSecretMissing"
	ReasonAuthorizationSecretInvalid = "AuthorizationSecretInvalid"
	ReasonCodatRejected              = "CodatRejected"
	ReasonDeletionBlocked            = "DeletionBlocked"
	// ReasonDeletionPaused: the object is being deleted while the paused
	// annotation holds it: only removing the annotation lets it go.
	ReasonDeletionPaused = "DeletionPaused"
	// ReasonDefaultCredentialsNotGranted: the object's namespace may not use
	// the operator's default credentials (docs/security.md).
	ReasonDefaultCredentialsNotGranted = "DefaultCredentialsNotGranted"
	// ReasonCompanyNotAllowed: the namespace may not manage this company with
	// the operator's default credentials.
	ReasonCompanyNotAllowed = "CompanyNotAllowed"
	// ReasonLinkURLSecretConflict: the Secret the operator would write the
	// link URL to exists and belongs to something else.
	ReasonLinkURLSecretConflict = "LinkURLSecretConflict"
)

// Link URL Secrets: with --link-url-destination=secret the operator keeps
// status.linkUrl empty and writes the link to a Secret of the object's
// namespace that the object owns.
const (
	// LinkURLSecretSuffix follows the object's name in the Secret's name.
	LinkURLSecretSuffix = "-codat-link"
	// LinkURLKey is the Secret's key that holds the link URL.
	LinkURLKey = "linkUrl"
)

// Annotations.
const (
	// AnnotationPaused set to "true" stops all Codat calls for the object
	// until it is removed or set to "false". A value that is neither (say
	// "yes") pauses too, and the Ready condition says so: on a bad value the
	// safe side is to make no call.
	AnnotationPaused = "codat.io/paused"

	// AnnotationReconcileRequestedAt, set to any new value, makes the operator
	// observe the connection now, whatever the poll interval.
	AnnotationReconcileRequestedAt = "codat.io/reconcile-requested-at"

	// AnnotationCreatePending is written by the operator, with an RFC 3339
	// timestamp, before it asks Codat to create a connection, and removed once
	// the connection's id is in status. A pass that finds it without an id
	// recovers by listing instead of creating a duplicate. Users never set it.
	AnnotationCreatePending = "codat.io/create-pending"

	// AnnotationDefaultDeletionPolicy, on a Namespace, is the deletion policy
	// of its CodatConnections that set no spec.deletionPolicy: Delete, Unlink
	// or Orphan. It overrides the operator's --default-deletion-policy. Only
	// who may change Namespaces (the platform team) can set it. A value that
	// is none of the three reads as Orphan: on a value nobody can read, the
	// safe side is to keep the connection.
	AnnotationDefaultDeletionPolicy = "codat.io/default-deletion-policy"
)

// Finalizer is held while deleting the object has work to do in Codat.
const Finalizer = "codat.io/connection"

// DefaultCredentialsKey is the key of the credentials Secret that holds the
// API key when spec.credentialsRef.key is empty.
const DefaultCredentialsKey = "apiKey"
