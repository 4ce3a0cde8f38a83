package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
	"github.com/codat-operator/codat-operator/internal/codatclient"
)

// authorization reads the Secret named by spec.authorization: its keys and
// values are the body of Codat's update-authorization call. The hash of the
// body, never the body, goes to status so that a Secret is sent once per
// distinct content. A value that JSON cannot carry unchanged is refused:
// Codat never receives something other than what the user gave.
func (r *Reconciler) authorization(ctx context.Context, obj *codatv1.CodatConnection) (map[string]string, string, error) {
	name := types.NamespacedName{Namespace: obj.Namespace, Name: obj.Spec.Authorization.SecretRef.Name}
	var secret corev1.Secret
	err := r.APIReader.Get(ctx, name, &secret)
	switch {
	case apierrors.IsNotFound(err):
		return nil, "", stall(codatv1.ReasonAuthorizationSecretMissing, fmt.Sprintf(
			"Secret %s named by spec.authorization.secretRef was not found; create it with the authorization fields Codat expects as its keys", name))
	case err != nil:
		return nil, "", retry(codatv1.ReasonProgressing, fmt.Sprintf("Reading the authorization Secret %s failed; retrying", name), true)
	case len(secret.Data) == 0:
		return nil, "", stall(codatv1.ReasonAuthorizationSecretInvalid, fmt.Sprintf(
			"Secret %s named by spec.authorization.secretRef has no keys; put the authorization fields Codat expects in it", name))
	}

	keys := make([]string, 0, len(secret.Data))
	for k := range secret.Data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	body := make(map[string]string, len(secret.Data))
	for _, k := range keys {
		v := string(secret.Data[k])
		if err := codatclient.ValidAuthorizationValue(v); err != nil {
			return nil, "", stall(codatv1.ReasonAuthorizationSecretInvalid, fmt.Sprintf(
				"The value of key %q of Secret %s (spec.authorization.secretRef) %s; Codat's authorization body is JSON text, so the operator would have to alter it. Store the value as text",
				k, name, err))
		}
		body[k] = v
	}
	return body, authorizationHash(body), nil
}

// authorizationHash is the SHA-256 of the body as JSON, whose keys
// encoding/json sorts, so equal content always hashes alike.
func authorizationHash(body map[string]string) string {
	raw, _ := json.Marshal(body) // a map of valid UTF-8 strings always encodes
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}
