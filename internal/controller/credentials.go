package controller

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
	"github.com/codat-operator/codat-operator/internal/codatclient"
)

// DefaultCredentials are the API key used for CodatConnections that name no
// spec.credentialsRef: a key given directly (CODAT_API_KEY, for local runs),
// else key apiKey of a Secret in the operator's namespace.
type DefaultCredentials struct {
	APIKey codatclient.APIKey
	Secret types.NamespacedName
}

// credentialsSource says, for messages, where an object's API key comes from.
func (r *Reconciler) credentialsSource(obj *codatv1.CodatConnection) string {
	if ref := obj.Spec.CredentialsRef; ref != nil {
		return fmt.Sprintf("key %q of Secret %s/%s (spec.credentialsRef)", credentialsKey(ref), obj.Namespace, ref.Name)
	}
	if r.Credentials.APIKey != "" {
		return "the operator's CODAT_API_KEY"
	}
	return fmt.Sprintf("key %q of the operator's default credentials Secret %s", codatv1.DefaultCredentialsKey, r.Credentials.Secret)
}

func credentialsKey(ref *codatv1.SecretKeyReference) string {
	if ref.Key == "" {
		return codatv1.DefaultCredentialsKey
	}
	return ref.Key
}

// apiKey resolves the object's Codat API key. Secrets are read directly from
// the API server, never from a cluster-wide cache of Secret contents. A nil
// outcome means the key was found.
func (r *Reconciler) apiKey(ctx context.Context, obj *codatv1.CodatConnection) (codatclient.APIKey, *outcome) {
	var secret types.NamespacedName
	var key string
	switch ref := obj.Spec.CredentialsRef; {
	case ref != nil:
		// Only ever the object's own namespace: a tenant cannot name another's Secret.
		secret, key = types.NamespacedName{Namespace: obj.Namespace, Name: ref.Name}, credentialsKey(ref)
	case r.Credentials.APIKey != "":
		return r.Credentials.APIKey, nil
	case r.Credentials.Secret.Name != "":
		secret, key = r.Credentials.Secret, codatv1.DefaultCredentialsKey
	default:
		out := stall(codatv1.ReasonCredentialsMissing,
			"No Codat API key: set spec.credentialsRef to a Secret holding one, or start the operator with --default-credentials-secret")
		return "", &out
	}

	value, err := r.secretValue(ctx, secret, key)
	switch {
	case apierrors.IsNotFound(err):
		out := stall(codatv1.ReasonCredentialsMissing, fmt.Sprintf(
			"Secret %s with the Codat API key was not found; create it with the key %q (%s)", secret, key, r.credentialsSource(obj)))
		return "", &out
	case err != nil:
		out := retry(codatv1.ReasonProgressing, fmt.Sprintf("Reading the credentials Secret %s failed; retrying", secret))
		return "", &out
	case value == "":
		out := stall(codatv1.ReasonCredentialsMissing, fmt.Sprintf(
			"Secret %s has no value under key %q; put the Codat API key there (%s)", secret, key, r.credentialsSource(obj)))
		return "", &out
	}
	return codatclient.APIKey(value), nil
}

// secretValue reads one key of a Secret, trimmed of the surrounding white
// space that `kubectl create secret --from-file` tends to leave.
func (r *Reconciler) secretValue(ctx context.Context, name types.NamespacedName, key string) (string, error) {
	var s corev1.Secret
	if err := r.APIReader.Get(ctx, name, &s); err != nil {
		return "", err
	}
	return strings.TrimSpace(string(s.Data[key])), nil
}
