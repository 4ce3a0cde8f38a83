package controller

import (
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
	"github.com/codat-operator/codat-operator/internal/access"
)

// CacheTransform keeps in the manager's cache only what the reconciler reads: it drops every
// object's managedFields; of the Secrets, whose metadata alone is cached to notice changes,
// everything but their identity and version (and, on link URL Secrets, the owner and the link's
// digest); of the Namespaces, all but their labels (the grant) and the operator's annotations
// (allowed companies, default deletion policy).
// A Secret applied with kubectl carries its whole content in an annotation, which must not sit
// in the operator's memory. The strings that
// thousands of CodatConnections repeat (condition types, reasons and messages, platform names)
// share one copy. Give it to the manager's cache.Options.DefaultTransform.
var CacheTransform toolscache.TransformFunc = func(in any) (any, error) {
	switch o := in.(type) {
	case *metav1.PartialObjectMetadata:
		o.ManagedFields = nil
		if o.Kind == "Namespace" {
			o.Annotations, o.OwnerReferences = only(o.Annotations, access.AnnotationCompanies, access.AnnotationCompanyTags, codatv1.AnnotationDefaultDeletionPolicy), nil
			break
		}
		o.Labels, o.Annotations = nil, only(o.Annotations, annotationLinkURLDigest)
		if o.Annotations == nil {
			o.OwnerReferences = nil
		}
	case *codatv1.CodatConnection:
		o.ManagedFields = nil
		internConnection(o)
	case metav1.Object:
		o.SetManagedFields(nil)
	}
	return in, nil
}

// only keeps the given keys of a map; nil when none is there.
func only(m map[string]string, keys ...string) map[string]string {
	var out map[string]string
	for _, k := range keys {
		if v, ok := m[k]; ok {
			if out == nil {
				out = make(map[string]string, len(keys))
			}
			out[k] = v
		}
	}
	return out
}

// internConnection replaces the object's often-repeated strings by shared copies. Ids and
// anything else unique to one object are left alone.
func internConnection(o *codatv1.CodatConnection) {
	o.Namespace = sharedStrings.intern(o.Namespace)
	for i := range o.Finalizers {
		o.Finalizers[i] = sharedStrings.intern(o.Finalizers[i])
	}
	o.Spec.PlatformKey = sharedStrings.intern(o.Spec.PlatformKey)
	s := &o.Status
	for _, f := range []*string{&s.ConnectionStatus, &s.PlatformName, &s.SourceType, &s.IntegrationID, &s.IntegrationKey} {
		*f = sharedStrings.intern(*f)
	}
	for i := range s.Conditions {
		c := &s.Conditions[i]
		c.Type, c.Status, c.Reason, c.Message = sharedStrings.intern(c.Type), metav1.ConditionStatus(sharedStrings.intern(string(c.Status))), sharedStrings.intern(c.Reason), sharedStrings.intern(c.Message)
	}
}

// sharedStrings is the process's pool of shared strings.
var sharedStrings = &internPool{max: 4096}

// internPool hands out one copy of each string it holds. It stops taking new strings at max, so
// that values unique to objects (messages naming an id) cannot grow it without bound; the common
// ones arrive first and stay.
type internPool struct {
	mu     sync.Mutex
	max    int
	values map[string]string
}

func (p *internPool) intern(s string) string {
	if s == "" {
		return s
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if v, ok := p.values[s]; ok {
		return v
	}
	if p.values == nil {
		p.values = map[string]string{}
	}
	if len(p.values) < p.max {
		p.values[s] = s
	}
	return s
}
