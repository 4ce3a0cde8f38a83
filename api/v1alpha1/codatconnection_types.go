package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DesiredState is the state a CodatConnection asks Codat's connection to be in.
// +kubebuilder:validation:Enum=Linked;Unlinked
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
// +kubebuilder:validation:Enum=Delete;Unlink;Orphan
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
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.connectionId) || (has(self.connectionId) && self.connectionId == oldSelf.connectionId)",message="connectionId cannot be changed or removed once set",fieldPath=".connectionId"
type CodatConnectionSpec struct {
	// companyId is the Codat company the connection belongs to (a UUID, as
	// shown in Codat's portal). It cannot be changed after creation.
	// +required
	// +kubebuilder:validation:Pattern=`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="companyId is immutable"
	CompanyID string `json:"companyId"`

	// platformKey is Codat's four-letter key of the platform to connect, for
	// example gbol (Xero), qhyg (QuickBooks Online) or mqjo (Codat's accounting
	// sandbox). It cannot be changed after creation.
	// +required
	// +kubebuilder:validation:Pattern=`^[a-z]{4}$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="platformKey is immutable"
	PlatformKey string `json:"platformKey"`

	// state is the desired state of the connection: Linked (the default) or
	// Unlinked. Setting Unlinked unlinks a Linked connection in Codat; setting
	// Linked again waits for the business to re-link it through status.linkUrl
	// (or re-authorizes it when spec.authorization is set).
	// +optional
	// +kubebuilder:default=Linked
	State DesiredState `json:"state,omitempty"`

	// deletionPolicy says what deleting this object does in Codat: Delete (the
	// default) deletes the connection, Unlink unlinks it and keeps it, Orphan
	// leaves it untouched. It may be changed at any time, also while the object
	// is being deleted.
	// +optional
	// +kubebuilder:default=Delete
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`

	// connectionId adopts an existing Codat connection (a UUID) instead of
	// creating one. It may be set later, for example to pick one of the
	// candidates a Stalled object lists, but once set it cannot be changed or
	// removed. The connection must belong to companyId and platformKey.
	// +optional
	// +kubebuilder:validation:Pattern=`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`
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

// AuthorizationSource names where the authorization values come from.
type AuthorizationSource struct {
	// secretRef names a Secret in this namespace. All its keys and values form
	// the body sent to Codat. It is applied once per distinct content, and again
	// whenever the content changes. The values never appear in status, events
	// or logs.
	// +required
	SecretRef LocalSecretReference `json:"secretRef"`
}

// LocalSecretReference names a Secret in the object's namespace.
type LocalSecretReference struct {
	// name of the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// SecretKeyReference names one key of a Secret in the object's namespace.
type SecretKeyReference struct {
	// name of the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// key of the Secret that holds the Codat API key. Defaults to apiKey. The
	// value is either the key as Codat's portal shows it or the whole header
	// value starting with "Basic ".
	// +optional
	// +kubebuilder:default=apiKey
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
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

	// connectionStatus is Codat's status of the connection: PendingAuth,
	// Linked, Unlinked or Deauthorized.
	// +optional
	ConnectionStatus string `json:"connectionStatus,omitempty"`

	// linkUrl is where the business opens Codat Link to authorize the
	// connection. Codat's link URLs can be used once and expire after a day.
	// +optional
	LinkURL string `json:"linkUrl,omitempty"`

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

	// conditions are Ready, Reconciling and Stalled, following the kstatus
	// convention.
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
// +kubebuilder:resource:shortName=codatconn,categories=codat
// +kubebuilder:selectablefield:JSONPath=`.status.connectionId`
// +kubebuilder:selectablefield:JSONPath=`.spec.companyId`
// +kubebuilder:printcolumn:name="Platform",type=string,JSONPath=`.spec.platformKey`
// +kubebuilder:printcolumn:name="Desired",type=string,JSONPath=`.spec.state`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.connectionStatus`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Company",type=string,JSONPath=`.spec.companyId`,priority=1
// +kubebuilder:printcolumn:name="Connection",type=string,JSONPath=`.status.connectionId`,priority=1
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
type CodatConnection struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired connection.
	// +required
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

func init() {
	SchemeBuilder.Register(&CodatConnection{}, &CodatConnectionList{})
}
