package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
)

// LinkURLDestination says where link URLs go.
type LinkURLDestination string

const (
	// LinkURLsInStatus shows link URLs in status.linkUrl, to anyone who may read the object.
	LinkURLsInStatus LinkURLDestination = "status"
	// LinkURLsInSecret writes each object's link URL to a Secret it owns, so that only who may
	// read Secrets of the namespace sees it (a link lets whoever opens it connect an account).
	LinkURLsInSecret LinkURLDestination = "secret"
)

// ParseLinkURLDestination reads the flag's value.
func ParseLinkURLDestination(v string) (LinkURLDestination, error) {
	switch d := LinkURLDestination(v); d {
	case LinkURLsInStatus, LinkURLsInSecret:
		return d, nil
	case "":
		return LinkURLsInStatus, nil
	default:
		return "", fmt.Errorf("%q: want %s or %s", v, LinkURLsInStatus, LinkURLsInSecret)
	}
}

// annotationLinkURLDigest on the Secret is the SHA-256 of the link URL it holds: the cached
// metadata tell whether it is current without reading the Secret.
const annotationLinkURLDigest = "codat.io/link-url-sha256"

// publishLinkURL moves the link URL Codat reported from status to the object's link Secret,
// when link URLs go to Secrets. The Secret is written only when the link changed.
func (r *Reconciler) publishLinkURL(ctx context.Context, obj *codatv1.CodatConnection) error {
	if r.LinkURLs != LinkURLsInSecret {
		obj.Status.LinkURLSecret = ""
		return nil
	}
	url := obj.Status.LinkURL
	obj.Status.LinkURL = ""
	if url == "" {
		return nil
	}
	sum := sha256.Sum256([]byte(url))
	digest := hex.EncodeToString(sum[:])
	name := LinkURLSecretName(obj.Name)
	key := types.NamespacedName{Namespace: obj.Namespace, Name: name}

	current := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}}
	err := r.Client.Get(ctx, key, current)
	if apierrors.IsNotFound(err) {
		err = r.createLinkURLSecret(ctx, obj, key, url, digest)
		if !apierrors.IsAlreadyExists(err) {
			return r.linkURLWritten(obj, name, err)
		}
		// Made since the cache last heard: look at it as the API server has it.
		err = r.APIReader.Get(ctx, key, current)
	}
	if err != nil {
		return r.linkURLWritten(obj, name, err)
	}
	if !metav1.IsControlledBy(current, obj) {
		return stall(codatv1.ReasonLinkURLSecretConflict, fmt.Sprintf(
			"Secret %s exists and is not this object's: the operator writes the link URL there. Rename or delete that Secret", key))
	}
	if current.Annotations[annotationLinkURLDigest] == digest {
		obj.Status.LinkURLSecret = name
		return nil
	}
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"annotations": map[string]string{annotationLinkURLDigest: digest}},
		"data":     map[string][]byte{codatv1.LinkURLKey: []byte(url)},
	})
	if err != nil {
		return err
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	return r.linkURLWritten(obj, name, r.Client.Patch(ctx, secret, client.RawPatch(types.MergePatchType, patch)))
}

func (r *Reconciler) createLinkURLSecret(ctx context.Context, obj *codatv1.CodatConnection, key types.NamespacedName, url, digest string) error {
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:   key.Namespace,
			Name:        key.Name,
			Labels:      map[string]string{"app.kubernetes.io/managed-by": "codat-operator"},
			Annotations: map[string]string{annotationLinkURLDigest: digest},
		},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{codatv1.LinkURLKey: []byte(url)},
	}
	// Owned by the object: the garbage collector deletes it with the object.
	if err := controllerutil.SetControllerReference(obj, secret, r.Client.Scheme()); err != nil {
		return err
	}
	return r.Client.Create(ctx, secret)
}

// linkURLWritten records the Secret in status once it holds the link, and turns an API
// server failure into a retry (the link is not lost: Codat reports it again).
func (r *Reconciler) linkURLWritten(obj *codatv1.CodatConnection, name string, err error) error {
	if err != nil {
		return retry(codatv1.ReasonProgressing, fmt.Sprintf("Writing the link URL to Secret %s failed; retrying", name), !settled(obj))
	}
	obj.Status.LinkURLSecret = name
	return nil
}

// deleteLinkURLSecret deletes the object's link Secret as the object goes, not only when the
// garbage collector gets to it: a link must not outlive the object that asked for it.
func (r *Reconciler) deleteLinkURLSecret(ctx context.Context, obj *codatv1.CodatConnection) error {
	if obj.Status.LinkURLSecret == "" {
		return nil
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: obj.Namespace, Name: obj.Status.LinkURLSecret}}
	current := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}}
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(secret), current); err != nil {
		return client.IgnoreNotFound(err)
	}
	if !metav1.IsControlledBy(current, obj) {
		return nil
	}
	return client.IgnoreNotFound(r.Client.Delete(ctx, secret, client.Preconditions{UID: &current.UID}))
}

// LinkURLSecretName names the Secret an object's link URL goes to: the object's name with a
// suffix, shortened with a digest of the name when it would be longer than a Secret's name may be.
func LinkURLSecretName(object string) string {
	const maxName = 253
	name := object + codatv1.LinkURLSecretSuffix
	if len(name) <= maxName {
		return name
	}
	sum := sha256.Sum256([]byte(object))
	tag := "-" + hex.EncodeToString(sum[:4])
	prefix := strings.TrimRight(object[:maxName-len(codatv1.LinkURLSecretSuffix)-len(tag)], ".-")
	return prefix + tag + codatv1.LinkURLSecretSuffix
}
