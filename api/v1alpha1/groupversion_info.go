// Package v1alpha1 contains the CodatConnection and CodatCompany API of the codat.io group.
// +kubebuilder:object:generate=true
// +groupName=codat.io
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of the objects in this package.
	GroupVersion = schema.GroupVersion{Group: "codat.io", Version: "v1alpha1"}

	// SchemeBuilder adds the types of this package to a scheme. It comes from
	// apimachinery rather than controller-runtime so that importing the API
	// does not bring in controller-runtime.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the types of this package to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &CodatConnection{}, &CodatConnectionList{}, &CodatCompany{}, &CodatCompanyList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
