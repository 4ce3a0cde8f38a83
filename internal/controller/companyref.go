package controller

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
)

// companyOf is the Codat company a connection belongs to: spec.companyId, or the company of the
// CodatCompany its spec.companyRef names, as resolved into status.companyId.
func companyOf(obj *codatv1.CodatConnection) string {
	if obj.Spec.CompanyID != "" {
		return obj.Spec.CompanyID
	}
	return obj.Status.CompanyID
}

// resolveCompany sets status.companyId: spec.companyId, or the company of the CodatCompany that
// spec.companyRef names (status shows the company either way). The
// connection waits (CompanyPending) while that object does not exist or has no company in Codat
// yet; a watch wakes it when it has. A connection whose CodatCompany was deleted (and orphaned its
// company) keeps the company it resolved. When the CodatCompany manages another company than the
// one resolved (its company was deleted in Codat and created anew), the connection went with the
// old company: it is forgotten, and created anew in the new one.
func (r *Reconciler) resolveCompany(ctx context.Context, obj *codatv1.CodatConnection) error {
	ref := obj.Spec.CompanyRef
	if ref == nil {
		obj.Status.CompanyID = obj.Spec.CompanyID
		return nil
	}
	var company codatv1.CodatCompany
	err := r.Client.Get(ctx, types.NamespacedName{Namespace: obj.Namespace, Name: ref.Name}, &company)
	switch {
	case apierrors.IsNotFound(err) && obj.Status.CompanyID != "":
		return nil
	case apierrors.IsNotFound(err):
		return wait(codatv1.ReasonCompanyPending, fmt.Sprintf(
			"Waiting for CodatCompany %s (spec.companyRef) of this namespace: it does not exist yet. Apply it, or check the name", ref.Name))
	case err != nil:
		return retry(codatv1.ReasonProgressing, fmt.Sprintf("Reading CodatCompany %s failed; retrying", ref.Name), !settled(obj))
	case company.Status.CompanyID == "":
		return wait(codatv1.ReasonCompanyPending, fmt.Sprintf(
			"Waiting for CodatCompany %s (spec.companyRef) to have its company in Codat; its conditions say why it has none yet", ref.Name))
	}
	if was := obj.Status.CompanyID; was != "" && was != company.Status.CompanyID && obj.Status.ConnectionID != "" {
		r.event(ctx, obj, eventWarning, "CompanyReplaced",
			"CodatCompany %s now manages company %s instead of %s, whose connections went with it; creating the connection anew", ref.Name, company.Status.CompanyID, was)
		forgetConnection(obj)
	}
	obj.Status.CompanyID = company.Status.CompanyID
	return nil
}

// creatingKey is what passes that may create a connection lock on: its company and platform. A
// connection whose company is not resolved yet locks on the CodatCompany it names.
func creatingKey(obj *codatv1.CodatConnection) string {
	company := companyOf(obj)
	if company == "" && obj.Spec.CompanyRef != nil {
		company = "ref:" + obj.Namespace + "/" + obj.Spec.CompanyRef.Name
	}
	return company + "/" + obj.Spec.PlatformKey
}
