package controller

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
)

// acmeLink reads object acme's link Secret.
func (w *world) acmeLink() (*corev1.Secret, error) {
	s := &corev1.Secret{}
	err := w.k8s.Get(context.Background(), types.NamespacedName{Namespace: testNS, Name: "acme" + codatv1.LinkURLSecretSuffix}, s)
	return s, err
}

// With link URLs in Secrets, the link never reaches status: it is in a Secret the object
// owns, kept current, and deleted with the object.
func TestLinkURLInSecret(t *testing.T) {
	w := newWorld(t, newFakeCodat(), object("acme"))
	w.r.LinkURLs = LinkURLsInSecret
	_, obj := w.reconcile("acme")
	if obj.Status.LinkURL != "" {
		t.Fatalf("status.linkUrl %q in Secret mode", obj.Status.LinkURL)
	}
	if obj.Status.LinkURLSecret != "acme-codat-link" {
		t.Fatalf("status.linkUrlSecret %q, want acme-codat-link", obj.Status.LinkURLSecret)
	}
	s, err := w.acmeLink()
	if err != nil {
		t.Fatal(err)
	}
	if got := string(s.Data[codatv1.LinkURLKey]); got != "https://link.example/x" {
		t.Errorf("Secret holds %q", got)
	}
	if !metav1.IsControlledBy(s, obj) {
		t.Errorf("Secret owned by %v, want the object", s.OwnerReferences)
	}

	// Codat reports a new link at the next poll: the Secret follows.
	w.codat.conns[obj.Status.ConnectionID].LinkURL = "https://link.example/y"
	w.now = w.now.Add(time.Hour)
	_, obj = w.reconcile("acme")
	if s, _ = w.acmeLink(); string(s.Data[codatv1.LinkURLKey]) != "https://link.example/y" {
		t.Errorf("Secret holds %q after Codat's link changed", s.Data[codatv1.LinkURLKey])
	}
	if obj.Status.LinkURL != "" {
		t.Fatalf("status.linkUrl %q in Secret mode", obj.Status.LinkURL)
	}

	// The object goes (Orphan: no Codat call), and its link with it.
	obj.Spec.DeletionPolicy = codatv1.DeletionPolicyOrphan
	if err := w.k8s.Update(context.Background(), obj); err != nil {
		t.Fatal(err)
	}
	if err := w.k8s.Delete(context.Background(), obj); err != nil {
		t.Fatal(err)
	}
	if _, gone := w.reconcile("acme"); gone != nil {
		t.Fatal("object kept after deletion")
	}
	if _, err := w.acmeLink(); !apierrors.IsNotFound(err) {
		t.Errorf("link Secret after the object went: %v", err)
	}
}

// A Secret of that name that is not the object's is never overwritten.
func TestLinkURLSecretConflict(t *testing.T) {
	theirs := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: "acme-codat-link"}, Data: map[string][]byte{"k": []byte("v")}}
	w := newWorld(t, newFakeCodat(), object("acme"), theirs)
	w.r.LinkURLs = LinkURLsInSecret
	_, obj := w.reconcile("acme")
	c := meta.FindStatusCondition(obj.Status.Conditions, codatv1.ConditionStalled)
	if c == nil || c.Status != metav1.ConditionTrue || c.Reason != codatv1.ReasonLinkURLSecretConflict || !strings.Contains(c.Message, "acme-codat-link") {
		t.Fatalf("Stalled %+v, want LinkURLSecretConflict naming the Secret", c)
	}
	if obj.Status.LinkURL != "" {
		t.Fatalf("status.linkUrl %q after the conflict", obj.Status.LinkURL)
	}
	if s, _ := w.acmeLink(); string(s.Data["k"]) != "v" || len(s.Data) != 1 {
		t.Errorf("someone else's Secret was changed: %v", s.Data)
	}
}

// By default the link is in status and no Secret is written.
func TestLinkURLInStatus(t *testing.T) {
	w := newWorld(t, newFakeCodat(), object("acme"))
	_, obj := w.reconcile("acme")
	if obj.Status.LinkURL != "https://link.example/x" || obj.Status.LinkURLSecret != "" {
		t.Fatalf("status linkUrl %q linkUrlSecret %q", obj.Status.LinkURL, obj.Status.LinkURLSecret)
	}
	if _, err := w.acmeLink(); !apierrors.IsNotFound(err) {
		t.Errorf("link Secret written in status mode: %v", err)
	}
}

func TestLinkURLSecretName(t *testing.T) {
	long := strings.Repeat("a", 240) + ".b"
	got := LinkURLSecretName(long)
	if len(got) > 253 || !strings.HasSuffix(got, codatv1.LinkURLSecretSuffix) || strings.Contains(got, ".-") {
		t.Fatalf("name %q (%d characters)", got, len(got))
	}
	if got := LinkURLSecretName("acme"); got != "acme-codat-link" {
		t.Fatalf("name %q", got)
	}
}

func TestParseLinkURLDestination(t *testing.T) {
	for in, want := range map[string]LinkURLDestination{"": LinkURLsInStatus, "status": LinkURLsInStatus, "secret": LinkURLsInSecret} {
		if got, err := ParseLinkURLDestination(in); err != nil || got != want {
			t.Errorf("%q: %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseLinkURLDestination("Secret"); err == nil {
		t.Error("Secret (capitalized) accepted")
	}
}
