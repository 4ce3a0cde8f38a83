package controller

import (
	"fmt"
	"maps"
	"strings"
	"testing"
	"unsafe"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
	"github.com/codat-operator/codat-operator/internal/access"
)

func TestCacheTransformSharesRepeatedStrings(t *testing.T) {
	decoded := func() *codatv1.CodatConnection {
		// Strings built at run time, as decoding JSON makes them: separate copies.
		linked := fmt.Sprintf("Codat reports the connection %s", "Linked")
		return &codatv1.CodatConnection{
			ObjectMeta: metav1.ObjectMeta{Namespace: strings.Clone("team-a"), ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}},
			Status: codatv1.CodatConnectionStatus{
				ConnectionStatus: strings.Clone("Linked"), PlatformName: strings.Clone("Xero"),
				Conditions: []metav1.Condition{{Type: strings.Clone("Ready"), Status: "True", Reason: strings.Clone("Linked"), Message: linked}},
			},
		}
	}
	a, b := decoded(), decoded()
	if sameBytes(a.Status.Conditions[0].Message, b.Status.Conditions[0].Message) {
		t.Fatal("the test's objects share their strings before the transform: it would prove nothing")
	}
	for _, o := range []*codatv1.CodatConnection{a, b} {
		if _, err := CacheTransform(o); err != nil {
			t.Fatal(err)
		}
		if o.ManagedFields != nil {
			t.Error("managedFields kept in the cache")
		}
	}
	for what, pair := range map[string][2]string{
		"namespace":         {a.Namespace, b.Namespace},
		"connection status": {a.Status.ConnectionStatus, b.Status.ConnectionStatus},
		"platform name":     {a.Status.PlatformName, b.Status.PlatformName},
		"condition reason":  {a.Status.Conditions[0].Reason, b.Status.Conditions[0].Reason},
		"condition message": {a.Status.Conditions[0].Message, b.Status.Conditions[0].Message},
	} {
		if !sameBytes(pair[0], pair[1]) {
			t.Errorf("%s: two objects keep two copies of %q", what, pair[0])
		}
	}
}

func TestInternPoolIsBounded(t *testing.T) {
	p := &internPool{max: 3}
	for i := range 10 {
		p.intern(fmt.Sprint("message naming id ", i))
	}
	if len(p.values) != 3 {
		t.Fatalf("the pool holds %d strings, want its maximum 3", len(p.values))
	}
	late := fmt.Sprint("message naming id ", 9)
	if got := p.intern(late); got != late {
		t.Fatalf("a string past the maximum came back as %q", got)
	}
}

// sameBytes reports whether two strings share one backing array: what
// interning is for.
func sameBytes(a, b string) bool {
	return a == b && unsafe.StringData(a) == unsafe.StringData(b) //nolint:gosec // comparing pointers only, never dereferencing
}

// Of Secrets the cache keeps only what tells a link URL Secret apart; of Namespaces, the labels
// that grant them and the annotations that narrow their companies or set their deletion policy.
func TestCacheTransformMetadata(t *testing.T) {
	owner := []metav1.OwnerReference{{Name: "acme", UID: "uid-acme"}}
	applied := &metav1.PartialObjectMetadata{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: "creds", Labels: map[string]string{"team": "a"}, OwnerReferences: owner,
			Annotations: map[string]string{"kubectl.kubernetes.io/last-applied-configuration": `{"data":{"apiKey":"c2VjcmV0"}}`}},
	}
	link := &metav1.PartialObjectMetadata{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: "acme-codat-link", OwnerReferences: owner, Annotations: map[string]string{annotationLinkURLDigest: "abc", "other": "x"}},
	}
	ns := &metav1.PartialObjectMetadata{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{Name: "team-a", Labels: map[string]string{access.LabelDefaultCredentials: "granted"}, OwnerReferences: owner,
			Annotations: map[string]string{access.AnnotationCompanies: "c1", codatv1.AnnotationDefaultDeletionPolicy: "Orphan", "kubectl.kubernetes.io/last-applied-configuration": "{}"}},
	}
	for _, o := range []any{applied, link, ns} {
		if _, err := CacheTransform(o); err != nil {
			t.Fatal(err)
		}
	}
	if applied.Annotations != nil || applied.Labels != nil || applied.OwnerReferences != nil {
		t.Errorf("Secret metadata kept: %+v", applied.ObjectMeta)
	}
	if !maps.Equal(link.Annotations, map[string]string{annotationLinkURLDigest: "abc"}) || len(link.OwnerReferences) != 1 {
		t.Errorf("link Secret metadata: %+v", link.ObjectMeta)
	}
	if !maps.Equal(ns.Labels, map[string]string{access.LabelDefaultCredentials: "granted"}) ||
		!maps.Equal(ns.Annotations, map[string]string{access.AnnotationCompanies: "c1", codatv1.AnnotationDefaultDeletionPolicy: "Orphan"}) || ns.OwnerReferences != nil {
		t.Errorf("Namespace metadata: %+v", ns.ObjectMeta)
	}
}
