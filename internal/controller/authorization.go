package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
)

// authorization reads the Secret named by spec.authorization: its keys and
// values are the body of Codat's update-authorization call. The hash of the
// body, never the body, goes to status so that a Secret is sent once per
// distinct content.
func (r *Reconciler) authorization(ctx context.Context, obj *codatv1.CodatConnection) (map[string]string, string, *outcome) {
	name := types.NamespacedName{Namespace: obj.Namespace, Name: obj.Spec.Authorization.SecretRef.Name}
	var secret corev1.Secret
	err := r.APIReader.Get(ctx, name, &secret)
	switch {
	case apierrors.IsNotFound(err):
		out := stall(codatv1.ReasonAuthorizationSecretMissing, fmt.Sprintf(
			"Secret %s named by spec.authorization.secretRef was not found; create it with the authorization fields Codat expects as its keys", name))
		return nil, "", &out
	case err != nil:
		out := retry(codatv1.ReasonProgressing, fmt.Sprintf("Reading the authorization Secret %s failed; retrying", name))
		return nil, "", &out
	case len(secret.Data) == 0:
		out := stall(codatv1.ReasonAuthorizationSecretInvalid, fmt.Sprintf(
			"Secret %s named by spec.authorization.secretRef has no keys; put the authorization fields Codat expects in it", name))
		return nil, "", &out
	}

	body := make(map[string]string, len(secret.Data))
	for k, v := range secret.Data {
		body[k] = string(v)
	}
	return body, authorizationHash(body), nil
}

// authorizationHash is the SHA-256 of the body as JSON, whose keys
// encoding/json sorts, so equal content always hashes alike.
func authorizationHash(body map[string]string) string {
	raw, _ := json.Marshal(body) // a map of strings always encodes
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}
