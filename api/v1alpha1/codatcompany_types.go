package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// CompanyDeletionPolicy says what deleting a CodatCompany does to the company in Codat.
// +kubebuilder:validation:XValidation:rule="self in ['Delete', 'Orphan']",message="must be Delete or Orphan"
type CompanyDeletionPolicy string

const (
	// CompanyDeletionPolicyDelete deletes the company in Codat, with every connection and all the
	// data Codat pulled for it. It cannot be undone.
	CompanyDeletionPolicyDelete CompanyDeletionPolicy = "Delete"
	// CompanyDeletionPolicyOrphan leaves the company in Codat untouched. It is what an unset
	// deletionPolicy means.
	CompanyDeletionPolicyOrphan CompanyDeletionPolicy = "Orphan"
)

// CodatCompanySpec is the desired state of a company in Codat: the business that shares its data.
//
// As for CodatConnection, every rule is a CEL rule with its own message (see docs/design.md,
// Admission).
// +kubebuilder:validation:XValidation:rule="has(self.name)",message="name is required: the company's name in Codat",fieldPath=".name"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.companyId) || (has(self.companyId) && self.companyId == oldSelf.companyId)",message="companyId cannot be changed or removed once set",fieldPath=".companyId"
type CodatCompanySpec struct {
	// name is the company's name in Codat: 1 to 255 letters (A to Z), digits,
	// spaces and the symbols - ' , & @ . ? ! (the characters Codat keeps; it
	// would silently remove any other), not starting or ending with a space.
	// Names need not be unique. Required. A change is applied to Codat.
	// +optional
	// +kubebuilder:validation:XValidation:rule="size(self) >= 1 && size(self) <= 255",message="must have 1 to 255 characters"
	// +kubebuilder:validation:XValidation:rule="self.matches('''^[A-Za-z0-9,&@.?!'-]([A-Za-z0-9 ,&@.?!'-]*[A-Za-z0-9,&@.?!'-])?$''')",message="may hold only letters (A to Z), digits, spaces and - ' , & @ . ? ! (Codat removes any other character), and may not start or end with a space"
	Name string `json:"name,omitempty"`

	// description is extra information about the company in Codat, for
	// example a reference in another system. Unset, the operator leaves
	// Codat's description as it is; set (to an empty string too), it keeps
	// Codat's description equal to it. At most 1024 characters.
	// +optional
	// +kubebuilder:validation:XValidation:rule="size(self) <= 1024",message="must have at most 1024 characters"
	Description *string `json:"description,omitempty"`

	// tags are key/value metadata on the company in Codat, for example a
	// region, a team, or the key of the customer in another system; Codat's
	// webhook consumers can filter on them. Unset, the operator leaves Codat's
	// tags as they are (it only adds its own tag, codat-operator-uid, to a
	// company it creates); set (to {} too), the company's tags in Codat are
	// exactly these, plus that tag on a company the operator created. At most
	// 9 (Codat allows 10 and the operator may need one); keys have 1 to 27
	// characters and may not start with codat-operator-, values at most 100.
	// +optional
	// +kubebuilder:validation:XValidation:rule="size(self) <= 9",message="at most 9 tags: Codat allows 10 on a company, and the operator keeps one (codat-operator-uid) on the companies it creates, to find them again"
	// +kubebuilder:validation:XValidation:rule="self.all(k, size(k) >= 1 && size(k) <= 27)",message="tag keys must have 1 to 27 characters (Codat's limit)"
	// +kubebuilder:validation:XValidation:rule="self.all(k, !k.lowerAscii().startsWith('codat-operator-'))",message="tag keys starting with codat-operator- are reserved for the operator's own tags"
	// +kubebuilder:validation:XValidation:rule="self.all(k, size(self[k]) <= 100)",message="tag values must have at most 100 characters (Codat's limit)"
	Tags map[string]string `json:"tags"` // no omitempty: {} (no tags but the operator's) must survive a write; nil goes as null, which the API server drops

	// companyId adopts an existing Codat company (a UUID, as Codat's portal
	// shows it) instead of creating one. It may be set later, for example to
	// pick one of the candidates a Stalled object lists, but once set it cannot
	// be changed or removed, and it cannot name another company than the one
	// the object already manages (status.companyId).
	// +optional
	// +kubebuilder:validation:XValidation:rule="self.matches('^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$')",message="must be a UUID: the company's id as Codat's portal shows it"
	CompanyID string `json:"companyId,omitempty"`

	// deletionPolicy says what deleting this object does in Codat: Delete
	// deletes the company, with every connection and all the data Codat pulled
	// for it (it cannot be undone); Orphan leaves it untouched. Unset, it is
	// Orphan, for a company the operator created as for an adopted one: losing
	// a business's data takes an explicit Delete. status.deletionPolicy shows
	// the policy in effect. It may be changed at any time, also while the
	// object is being deleted.
	// +optional
	DeletionPolicy CompanyDeletionPolicy `json:"deletionPolicy,omitempty"`

	// credentialsRef names a Secret in this namespace that holds the Codat API
	// key to use for this company. Without it, the operator's default
	// credentials are used.
	// +optional
	CredentialsRef *SecretKeyReference `json:"credentialsRef,omitempty"`
}

// CodatCompanyStatus is what Codat reports about the company.
type CodatCompanyStatus struct {
	// observedGeneration is the generation of the spec this status describes;
	// 0 until the operator has observed the object.
	// +kubebuilder:default=0
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// companyId is Codat's id of the company this object manages.
	// +optional
	CompanyID string `json:"companyId,omitempty"`

	// redirect is the company's Link URL: where the business connects its
	// accounting, banking and commerce platforms, several at once.
	// +optional
	Redirect string `json:"redirect,omitempty"`

	// created is when Codat created the company, as Codat reports it.
	// +optional
	Created string `json:"created,omitempty"`

	// lastSync is when Codat last synced any of the company's data, as Codat
	// reports it.
	// +optional
	LastSync string `json:"lastSync,omitempty"`

	// deletionPolicy is what deleting this object will do in Codat:
	// spec.deletionPolicy, or Orphan when it is unset.
	// +optional
	DeletionPolicy CompanyDeletionPolicy `json:"deletionPolicy,omitempty"`

	// appliedHash is the SHA-256 of the name, description and tags the
	// operator last made Codat hold for this object: a spec whose hash differs
	// has changes to apply, without a look at Codat.
	// +optional
	AppliedHash string `json:"appliedHash,omitempty"`

	// stalledInputs is a digest of what the object's last Codat request was
	// made with when Codat refused it in a way only a person can fix. While it
	// still matches, the operator does not send the request again.
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

// CodatCompany declares a company in Codat: the business whose accounting,
// banking and commerce platforms CodatConnections connect. The operator
// creates (or adopts), updates and deletes it in Codat and reports what Codat
// says in status, including the Link URL where the business connects its
// platforms. CodatConnections name it with spec.companyRef.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:validation:XValidation:rule="has(self.spec)",message="spec is required: at least name",fieldPath=".spec"
// +kubebuilder:validation:XValidation:rule="!has(self.spec) || !has(self.spec.companyId) || (has(oldSelf.spec) && has(oldSelf.spec.companyId)) || !has(self.status) || !has(self.status.companyId) || self.status.companyId == self.spec.companyId",messageExpression="'must be the company this object already manages (status.companyId ' + self.status.companyId + '): an object never switches companies; create another object to manage ' + self.spec.companyId",fieldPath=".spec.companyId"
// +kubebuilder:resource:shortName=codatco,categories=codat
// +kubebuilder:selectablefield:JSONPath=`.status.companyId`
// +kubebuilder:printcolumn:name="Company ID",type=string,JSONPath=`.status.companyId`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Company-Name",type=string,JSONPath=`.spec.name`,priority=1
// +kubebuilder:printcolumn:name="Synced",type=string,JSONPath=`.status.conditions[?(@.type=="Synced")].status`,priority=1
// +kubebuilder:printcolumn:name="On-Delete",type=string,JSONPath=`.status.deletionPolicy`,priority=1
// +kubebuilder:printcolumn:name="Link",type=string,JSONPath=`.status.redirect`,priority=1
type CodatCompany struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired company. Required.
	// +optional
	Spec CodatCompanySpec `json:"spec"`

	// status is what Codat reports about the company. It reads
	// observedGeneration 0 until the operator has observed the object (see
	// CodatConnection's status).
	// +kubebuilder:default={}
	// +optional
	Status CodatCompanyStatus `json:"status,omitempty"`
}

// CodatCompanyList is a list of CodatCompanies.
// +kubebuilder:object:root=true
type CodatCompanyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the CodatCompanies.
	Items []CodatCompany `json:"items"`
}
