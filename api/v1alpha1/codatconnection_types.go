package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DesiredState is the state a CodatConnection asks Codat's connection to be in.
// Allowed values are checked by CEL rather than an OpenAPI enum, so that a
// wrong value is rejected with one clear line (see docs/design.md).
// +kubebuilder:validation:XValidation:rule="self in ['Linked', 'Unlinked']",message="must be Linked or Unlinked"
type DesiredState string

const (
	// StateLinked asks for a linked connection: the operator creates it and
	// reports the link the business opens to authorize it.
	StateLinked DesiredState = "Linked"
	// StateUnlinked asks for an unlinked connection: a Linked connection is
	// unlinked in Codat (its data is kept, the business can re-link it later).
	StateUnlinked DesiredState = "Unlinked"
)

// DeletionPolicy says what deleting a CodatConnection does to the connection in Codat.
// +kubebuilder:validation:XValidation:rule="self in ['Delete', 'Unlink', 'Orphan']",message="must be Delete, Unlink or Orphan"
type DeletionPolicy string

const (
	// DeletionPolicyDelete deletes the connection in Codat (it cannot be undone).
	DeletionPolicyDelete DeletionPolicy = "Delete"
	// DeletionPolicyUnlink unlinks the connection in Codat and keeps it.
	DeletionPolicyUnlink DeletionPolicy = "Unlink"
	// DeletionPolicyOrphan leaves the connection in Codat untouched.
	DeletionPolicyOrphan DeletionPolicy = "Orphan"
)

// CodatConnectionSpec is the desired state of a connection between one Codat
// company and one platform.
//
// Every rule is a CEL rule with its own message, on purpose: an OpenAPI
// enum, required or maxLength failure makes the API server skip the CEL rules
// and add a confusing "some validation rules were not checked" line.
// +kubebuilder:validation:XValidation:rule="has(self.companyId) || has(self.companyRef)",message="companyId is required: the id of the company in Codat (a UUID), unless companyRef names a CodatCompany of this namespace",fieldPath=".companyId"
// +kubebuilder:validation:XValidation:rule="!has(self.companyId) || !has(self.companyRef)",message="companyId and companyRef cannot both be set: name the company by its id in Codat or by a CodatCompany of this namespace, not both",fieldPath=".companyRef"
// +kubebuilder:validation:XValidation:rule="has(self.companyId) == has(oldSelf.companyId)",message="companyId cannot be added or removed: a connection never changes company; create another object for another company",fieldPath=".companyId"
// +kubebuilder:validation:XValidation:rule="has(self.companyRef) == has(oldSelf.companyRef)",message="companyRef cannot be added or removed: a connection never changes company; create another object for another company",fieldPath=".companyRef"
// +kubebuilder:validation:XValidation:rule="has(self.platformKey)",message="platformKey is required: Codat's four-letter key of the platform, for example gbol for Xero",fieldPath=".platformKey"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.connectionId) || (has(self.connectionId) && self.connectionId == oldSelf.connectionId)",message="connectionId cannot be changed or removed once set",fieldPath=".connectionId"
type CodatConnectionSpec struct {
	// companyId is the Codat company the connection belongs to (a UUID, as
	// shown in Codat's portal). Required unless companyRef is set; never both.
	// It cannot be changed after creation.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self.matches('^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$')",message="must be a UUID: the company's id as Codat's portal shows it"
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="companyId is immutable"
	CompanyID string `json:"companyId,omitempty"`

	// companyRef names the CodatCompany of this namespace whose company the
	// connection belongs to, instead of companyId: the connection waits
	// (Ready False, reason CompanyPending) until that company has its id in
	// Codat. Never both companyId and companyRef. It cannot be changed after
	// creation.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="companyRef is immutable"
	CompanyRef *CodatCompanyReference `json:"companyRef,omitempty"`

	// platformKey is Codat's four-letter key of the platform to connect, for
	// example gbol (Xero), qhyg (QuickBooks Online) or mqjo (Codat's accounting
	// sandbox). Required. It cannot be changed after creation.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z]{4}$')",message="must be four lowercase letters, Codat's key of the platform (for example gbol for Xero)"
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="platformKey is immutable"
	PlatformKey string `json:"platformKey,omitempty"`

	// state is the desired state of the connection: Linked (the default) or
	// Unlinked. Setting Unlinked unlinks a Linked connection in Codat; setting
	// Linked again waits for the business to re-link it through status.linkUrl
	// (or re-authorizes it when spec.authorization is set).
	// +optional
	// +kubebuilder:default=Linked
	State DesiredState `json:"state,omitempty"`

	// deletionPolicy says what deleting this object does in Codat: Delete
	// deletes the connection, Unlink unlinks it and keeps it, Orphan leaves it
	// untouched. Unset, the namespace's default applies (its annotation
	// codat.io/default-deletion-policy), else the operator's
	// (--default-deletion-policy), else Delete for a connection the operator
	// creates and Orphan for one adopted with spec.connectionId. A connection
	// adopted with spec.connectionId, which someone else may still use, is
	// deleted only when this field says Delete: a default of Delete leaves it
	// in Codat (Orphan). status.deletionPolicy shows the policy in effect. It
	// may be changed at any time, also while the object is being deleted.
	// +optional
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`

	// connectionId adopts an existing Codat connection (a UUID) instead of
	// creating one. It may be set later, for example to pick one of the
	// candidates a Stalled object lists, but once set it cannot be changed or
	// removed, and it cannot name another connection than the one the object
	// already manages (status.connectionId). The connection must belong to
	// companyId and platformKey.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self.matches('^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$')",message="must be a UUID: the connection's id in Codat"
	ConnectionID string `json:"connectionId,omitempty"`

	// authorization re-authorizes the connection with values from a Secret
	// (Codat's update-authorization call), for example to migrate tokens or to
	// re-link a Deauthorized connection without the business.
	// +optional
	Authorization *AuthorizationSource `json:"authorization,omitempty"`

	// credentialsRef names a Secret in this namespace that holds the Codat API
	// key to use for this connection. Without it, the operator's default
	// credentials are used.
	// +optional
	CredentialsRef *SecretKeyReference `json:"credentialsRef,omitempty"`
}

// CodatCompanyReference names a CodatCompany in the object's namespace.
// +kubebuilder:validation:XValidation:rule="has(self.name)",message="name is required: the name of a CodatCompany in this namespace",fieldPath=".name"
type CodatCompanyReference struct {
	// name of a CodatCompany in this namespace (never namespace/name).
	// Required.
	// +optional
	// +kubebuilder:validation:XValidation:rule="size(self) <= 253 && self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",message="must be the name of a CodatCompany in this namespace: at most 253 lowercase letters, digits, '-' and '.', starting and ending with a letter or digit (CodatCompanies of other namespaces cannot be named)"
	Name string `json:"name,omitempty"`
}

// AuthorizationSource names where the authorization values come from.
// +kubebuilder:validation:XValidation:rule="has(self.secretRef)",message="secretRef is required: the Secret whose keys and values Codat receives",fieldPath=".secretRef"
type AuthorizationSource struct {
	// secretRef names a Secret in this namespace. All its keys and values form
	// the body sent to Codat. It is applied once per distinct content, and again
	// whenever the content changes. The values never appear in status, events
	// or logs. Required.
	// +optional
	SecretRef LocalSecretReference `json:"secretRef"`
}

// LocalSecretReference names a Secret in the object's namespace.
// +kubebuilder:validation:XValidation:rule="has(self.name)",message="name is required: the name of a Secret in this namespace",fieldPath=".name"
type LocalSecretReference struct {
	// name of a Secret in this namespace (a DNS subdomain: lowercase letters,
	// digits, '-' and '.'; never namespace/name). Required.
	// +optional
	// +kubebuilder:validation:XValidation:rule="size(self) <= 253 && self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",message="must be the name of a Secret in this namespace: at most 253 lowercase letters, digits, '-' and '.', starting and ending with a letter or digit (Secrets of other namespaces cannot be named)"
	Name string `json:"name,omitempty"`
}

// SecretKeyReference names one key of a Secret in the object's namespace.
// +kubebuilder:validation:XValidation:rule="has(self.name)",message="name is required: the name of a Secret in this namespace",fieldPath=".name"
type SecretKeyReference struct {
	// name of a Secret in this namespace (a DNS subdomain: lowercase letters,
	// digits, '-' and '.'; never namespace/name). Required.
	// +optional
	// +kubebuilder:validation:XValidation:rule="size(self) <= 253 && self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",message="must be the name of a Secret in this namespace: at most 253 lowercase letters, digits, '-' and '.', starting and ending with a letter or digit (Secrets of other namespaces cannot be named)"
	Name string `json:"name,omitempty"`

	// key of the Secret that holds the Codat API key. Defaults to apiKey. The
	// value is either the key as Codat's portal shows it or the whole header
	// value starting with "Basic ".
	// +optional
	// +kubebuilder:default=apiKey
	// +kubebuilder:validation:XValidation:rule="size(self) <= 253 && self.matches('^[-._a-zA-Z0-9]+$')",message="must be a key of a Secret: at most 253 letters, digits, '-', '_' and '.'"
	Key string `json:"key,omitempty"`
}

// DataConnectionError is one of Codat's errors for the connection.
type DataConnectionError struct {
	// statusCode is the HTTP status the source platform returned, as Codat reports it.
	// +optional
	StatusCode string `json:"statusCode,omitempty"`
	// statusText is the source platform's status text.
	// +optional
	StatusText string `json:"statusText,omitempty"`
	// errorMessage is Codat's description of the error.
	// +optional
	ErrorMessage string `json:"errorMessage,omitempty"`
	// erroredOnUtc is when the error happened, as Codat reports it.
	// +optional
	ErroredOnUTC string `json:"erroredOnUtc,omitempty"`
	// status is Active or Resolved; empty means the error is not transient.
	// +optional
	Status string `json:"status,omitempty"`
	// resolvedOnUtc is when the error was resolved, as Codat reports it.
	// +optional
	ResolvedOnUTC string `json:"resolvedOnUtc,omitempty"`
}

// MaxDataConnectionErrors bounds status.dataConnectionErrors; the newest are kept.
const MaxDataConnectionErrors = 5

// CodatConnectionStatus is what Codat reports about the connection.
type CodatConnectionStatus struct {
	// observedGeneration is the generation of the spec this status describes;
	// 0 until the operator has observed the object.
	// +kubebuilder:default=0
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// connectionId is Codat's id of the connection this object manages.
	// +optional
	ConnectionID string `json:"connectionId,omitempty"`

	// companyId is the Codat company of the connection: spec.companyId, or the
	// company of the CodatCompany that spec.companyRef names, as the operator
	// last resolved the reference.
	// +optional
	CompanyID string `json:"companyId,omitempty"`

	// connectionStatus is Codat's status of the connection: PendingAuth,
	// Linked, Unlinked or Deauthorized.
	// +optional
	ConnectionStatus string `json:"connectionStatus,omitempty"`

	// linkUrl is where the business opens Codat Link to authorize the
	// connection. Codat's link URLs can be used once and expire after a day.
	// Empty when the operator writes link URLs to Secrets (linkUrlSecret).
	// +optional
	LinkURL string `json:"linkUrl,omitempty"`

	// linkUrlSecret names the Secret of this namespace whose key linkUrl holds
	// the link URL, when the operator keeps link URLs out of status
	// (--link-url-destination=secret): readable by who may read Secrets, not
	// by everyone who may read this object. The object owns the Secret.
	// +optional
	LinkURLSecret string `json:"linkUrlSecret,omitempty"`

	// deletionPolicy is what deleting this object will do in Codat:
	// spec.deletionPolicy, or the default for this object (the namespace's,
	// else the operator's, else Delete for a connection the operator created
	// and Orphan for an adopted one).
	// +optional
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`

	// platformName is the platform's display name, for example Xero.
	// +optional
	PlatformName string `json:"platformName,omitempty"`

	// sourceType is the kind of platform: Accounting, Banking, BankFeed,
	// Commerce, Expense, Other or Unknown.
	// +optional
	SourceType string `json:"sourceType,omitempty"`

	// integrationId is Codat's id of the integration.
	// +optional
	IntegrationID string `json:"integrationId,omitempty"`

	// integrationKey is the platform key Codat reports for the connection.
	// +optional
	IntegrationKey string `json:"integrationKey,omitempty"`

	// sourceId is Codat's source-specific id (for some banking aggregators, the bank).
	// +optional
	SourceID string `json:"sourceId,omitempty"`

	// created is when Codat created the connection, as Codat reports it.
	// +optional
	Created string `json:"created,omitempty"`

	// lastSync is when Codat last synced the connection's data, as Codat reports it.
	// +optional
	LastSync string `json:"lastSync,omitempty"`

	// dataConnectionErrors are Codat's newest errors for the connection (at most five).
	// +optional
	// +kubebuilder:validation:MaxItems=5
	// +listType=atomic
	DataConnectionErrors []DataConnectionError `json:"dataConnectionErrors,omitempty"`

	// authorizationHash is the SHA-256 of the last authorization body sent to
	// Codat; it tells whether the Secret's content changed since (never the values).
	// +optional
	AuthorizationHash string `json:"authorizationHash,omitempty"`

	// stalledInputs is a digest of what the object's last Codat request was
	// made with (the spec's generation, the reconcile-requested-at annotation,
	// the credentials and the authorization Secret) when Codat refused it in a
	// way only a person can fix. While the digest still matches, the operator
	// does not send the request again, not even after a restart.
	// +optional
	StalledInputs string `json:"stalledInputs,omitempty"`

	// conditions are Ready, Reconciling and Stalled, following the kstatus
	// convention, and Synced, which says whether the last look at Codat
	// succeeded.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`
}

// CodatConnection declares a connection between one Codat company and one
// platform (accounting, banking or commerce). The operator creates, unlinks,
// re-authorizes and deletes it in Codat and reports what Codat says in status.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:validation:XValidation:rule="has(self.spec)",message="spec is required: at least companyId (or companyRef) and platformKey",fieldPath=".spec"
// +kubebuilder:validation:XValidation:rule="!has(self.spec) || !has(self.spec.connectionId) || (has(oldSelf.spec) && has(oldSelf.spec.connectionId)) || !has(self.status) || !has(self.status.connectionId) || self.status.connectionId == self.spec.connectionId",messageExpression="'must be the connection this object already manages (status.connectionId ' + self.status.connectionId + '): an object never switches connections; create another object to manage ' + self.spec.connectionId",fieldPath=".spec.connectionId"
// +kubebuilder:resource:shortName=codatconn,categories=codat
// +kubebuilder:selectablefield:JSONPath=`.status.connectionId`
// +kubebuilder:selectablefield:JSONPath=`.spec.companyId`
// +kubebuilder:selectablefield:JSONPath=`.spec.companyRef.name`
// +kubebuilder:printcolumn:name="Platform",type=string,JSONPath=`.spec.platformKey`
// +kubebuilder:printcolumn:name="Desired",type=string,JSONPath=`.spec.state`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.connectionStatus`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Synced",type=string,JSONPath=`.status.conditions[?(@.type=="Synced")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Company",type=string,JSONPath=`.status.companyId`,priority=1
// +kubebuilder:printcolumn:name="Connection",type=string,JSONPath=`.status.connectionId`,priority=1
// +kubebuilder:printcolumn:name="On-Delete",type=string,JSONPath=`.status.deletionPolicy`,priority=1
// +kubebuilder:printcolumn:name="Company-Ref",type=string,JSONPath=`.spec.companyRef.name`,priority=1
type CodatConnection struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired connection. Required.
	// +optional
	Spec CodatConnectionSpec `json:"spec"`

	// The API server applies these defaults whenever it returns the object, so
	// a new object reads status.observedGeneration 0: GitOps health checks see
	// a generation not yet observed, instead of an object without status that
	// kstatus calls Current and Flux's health expressions cannot evaluate
	// (docs/conditions.md, GitOps health).

	// status is what Codat reports about the connection. It reads
	// observedGeneration 0 until the operator has observed the object.
	// +kubebuilder:default={}
	// +optional
	Status CodatConnectionStatus `json:"status,omitempty"`
}

// CodatConnectionList is a list of CodatConnections.
// +kubebuilder:object:root=true
type CodatConnectionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the CodatConnections.
	Items []CodatConnection `json:"items"`
}
