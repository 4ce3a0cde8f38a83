package controller

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
	"github.com/codat-operator/codat-operator/internal/access"
	"github.com/codat-operator/codat-operator/internal/codatapi"
)

// ownCredentialsHint is how a tenant does without the operator's default credentials.
const ownCredentialsHint = "or set spec.credentialsRef to a Secret of this namespace that holds an API key of your own Codat account"

// namespaceOf reads the metadata of the object's namespace from the cache.
func (r *Reconciler) namespaceOf(ctx context.Context, obj *codatv1.CodatConnection) (*metav1.PartialObjectMetadata, error) {
	return r.keys().namespace(ctx, obj.Namespace, !settled(obj))
}

// namespace reads a namespace's metadata from the cache; nil when it is gone.
func (k keyring) namespace(ctx context.Context, name string, working bool) (*metav1.PartialObjectMetadata, error) {
	ns := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}}
	if err := k.cache.Get(ctx, types.NamespacedName{Name: name}, ns); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil // being deleted: nothing is granted to it
		}
		return nil, retry(codatv1.ReasonProgressing, fmt.Sprintf("Reading namespace %s failed; retrying", name), working)
	}
	return ns, nil
}

// granted refuses, before any Codat call and before the default Secret is read, a holder whose
// namespace the platform team has not granted the default credentials.
func (k keyring) granted(ctx context.Context, h holder) (*metav1.PartialObjectMetadata, error) {
	ns, err := k.namespace(ctx, h.namespace, h.working)
	if err != nil {
		return nil, err
	}
	if !k.defaults.Grant.Allows(ns) {
		return nil, stall(codatv1.ReasonDefaultCredentialsNotGranted, fmt.Sprintf(
			"Namespace %s may not use the operator's default Codat credentials: ask the platform team to grant it (%s), %s",
			h.namespace, k.defaults.Grant.HowToGrant(h.namespace), ownCredentialsHint))
	}
	return ns, nil
}

// companyAllowed refuses, before any Codat call on its behalf, an object whose company is not one
// its namespace may manage with the default credentials. A check by tag reads the company from
// Codat at most once an hour.
func (r *Reconciler) companyAllowed(ctx context.Context, obj *codatv1.CodatConnection, ns *metav1.PartialObjectMetadata, company Company) error {
	companies, restricted, err := access.CompaniesOf(ns)
	if err != nil {
		return stall(codatv1.ReasonCompanyNotAllowed, fmt.Sprintf("%v: ask the platform team to fix it", err))
	}
	companyID := companyOf(obj)
	if !restricted || companies.AllowsID(companyID) {
		return nil
	}
	refused := stall(codatv1.ReasonCompanyNotAllowed, fmt.Sprintf(
		"Company %s is not one namespace %s may manage with the operator's default credentials (it may manage %s: annotations %s and %s of the namespace); ask the platform team, %s",
		companyID, obj.Namespace, companies.Describe(), access.AnnotationCompanies, access.AnnotationCompanyTags, ownCredentialsHint))
	if len(companies.Tags) == 0 {
		return refused
	}
	tags, err := r.tags.Tags(ctx, companyID, company.Tags)
	if err != nil {
		return r.codatFailed(ctx, obj, session{Company: company, credentials: r.credentialsSource(obj)}, codatapi.OpGetCompany, err, !settled(obj))
	}
	if !companies.AllowsTags(tags) {
		return refused
	}
	return nil
}
