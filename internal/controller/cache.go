package controller

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
)

// CacheTransform keeps in the manager's cache only what the reconciler reads: it drops every
// object's managedFields, and of the Secrets, whose metadata alone is cached to notice changes,
// everything but their identity and version. A Secret applied with kubectl carries its whole
// content in an annotation, which must not sit in the operator's memory. Give it to the
// manager's cache.Options.DefaultTransform.
var CacheTransform toolscache.TransformFunc = func(in any) (any, error) {
	switch o := in.(type) {
	case *metav1.PartialObjectMetadata:
		o.ManagedFields, o.Annotations, o.Labels, o.OwnerReferences = nil, nil, nil, nil
	case metav1.Object:
		o.SetManagedFields(nil)
	}
	return in, nil
}
