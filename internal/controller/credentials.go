package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
	"github.com/codat-operator/codat-operator/internal/access"
	"github.com/codat-operator/codat-operator/internal/codatclient"
)

// DefaultCredentials are the API key used for CodatConnections that name no
// spec.credentialsRef: a key given directly (CODAT_API_KEY, for local runs),
// else key apiKey of a Secret in the operator's namespace.
type DefaultCredentials struct {
	APIKey codatclient.APIKey
	Secret types.NamespacedName
	// Grant names the namespaces that may use them; the zero Grant allows none.
	Grant access.Grant
}

// Configured says whether there are default credentials at all.
func (c DefaultCredentials) Configured() bool {
	return c.APIKey != "" || c.Secret.Name != ""
}

// session is what one pass may use of Codat: the object's company under the
// object's credentials, and a digest of the inputs its requests are made with.
type session struct {
	Company
	// credentials says where the API key came from, for messages.
	credentials string
	// inputs identifies what the pass's requests are made with; see stalledInputs.
	inputs string
	// key is the API key's fingerprint: whose quota the requests spend.
	key string
}

// connect resolves the object's credentials and binds Codat's API to them.
// The default credentials serve only namespaces granted them, and only on the
// companies each may manage: both are checked before any Codat call.
func (r *Reconciler) connect(ctx context.Context, obj *codatv1.CodatConnection) (session, error) {
	holder := r.holderOf(obj)
	key, ns, err := r.keys().resolve(ctx, holder)
	if err != nil {
		return session{}, err
	}
	company := r.Codat.Connect(key, companyOf(obj))
	if ns != nil {
		if err := r.companyAllowed(ctx, obj, ns, company); err != nil {
			return session{}, err
		}
	}
	return session{
		Company:     company,
		credentials: r.keys().source(holder),
		inputs:      r.stalledInputs(ctx, obj, key),
		key:         key.Fingerprint(),
	}, nil
}

func (r *Reconciler) keys() keyring {
	return keyring{cache: r.Client, apiReader: r.APIReader, defaults: r.Credentials}
}

func (r *Reconciler) holderOf(obj *codatv1.CodatConnection) holder {
	return holder{namespace: obj.Namespace, ref: obj.Spec.CredentialsRef, working: !settled(obj)}
}

// credentialsSource says, for messages, where an object's API key comes from.
func (r *Reconciler) credentialsSource(obj *codatv1.CodatConnection) string {
	return r.keys().source(r.holderOf(obj))
}

// keyring resolves objects' Codat API keys: an object's spec.credentialsRef,
// else the operator's default credentials, which serve only the namespaces
// granted them. Both reconcilers use it.
type keyring struct {
	// cache reads Namespace metadata; apiReader reads Secrets, on demand.
	cache, apiReader client.Reader
	defaults         DefaultCredentials
}

// holder is whose key is resolved: an object's namespace and credentialsRef,
// and whether a failed read stops work the user asked for.
type holder struct {
	namespace string
	ref       *codatv1.SecretKeyReference
	working   bool
}

// resolve returns the holder's API key. With the default credentials it also
// returns the namespace's metadata, for the tenancy checks that follow; the
// grant is checked before the default Secret is even read.
func (k keyring) resolve(ctx context.Context, h holder) (codatclient.APIKey, *metav1.PartialObjectMetadata, error) {
	var ns *metav1.PartialObjectMetadata
	if h.ref == nil && k.defaults.Configured() {
		var err error
		if ns, err = k.granted(ctx, h); err != nil {
			return "", nil, err
		}
	}
	key, err := k.apiKey(ctx, h)
	return key, ns, err
}

// source says, for messages, where the holder's API key comes from.
func (k keyring) source(h holder) string {
	if ref := h.ref; ref != nil {
		return fmt.Sprintf("key %q of Secret %s/%s (spec.credentialsRef)", credentialsKey(ref), h.namespace, ref.Name)
	}
	if k.defaults.APIKey != "" {
		return "the operator's CODAT_API_KEY"
	}
	return fmt.Sprintf("key %q of the operator's default credentials Secret %s", codatv1.DefaultCredentialsKey, k.defaults.Secret)
}

func credentialsKey(ref *codatv1.SecretKeyReference) string {
	if ref.Key == "" {
		return codatv1.DefaultCredentialsKey
	}
	return ref.Key
}

// apiKey reads the holder's Codat API key. Secrets are read directly from the
// API server, never from a cluster-wide cache of Secret contents.
func (k keyring) apiKey(ctx context.Context, h holder) (codatclient.APIKey, error) {
	var secret types.NamespacedName
	var key string
	switch ref := h.ref; {
	case ref != nil:
		// Only ever the object's own namespace: a tenant cannot name another's Secret.
		secret, key = types.NamespacedName{Namespace: h.namespace, Name: ref.Name}, credentialsKey(ref)
	case k.defaults.APIKey != "":
		return k.defaults.APIKey, nil
	case k.defaults.Secret.Name != "":
		secret, key = k.defaults.Secret, codatv1.DefaultCredentialsKey
	default:
		return "", stall(codatv1.ReasonCredentialsMissing,
			"No Codat API key: set spec.credentialsRef to a Secret holding one, or start the operator with --default-credentials-secret")
	}

	var s corev1.Secret
	err := k.apiReader.Get(ctx, secret, &s)
	value := codatclient.APIKey(strings.TrimSpace(string(s.Data[key])))
	switch {
	case apierrors.IsNotFound(err):
		return "", stall(codatv1.ReasonCredentialsMissing, fmt.Sprintf(
			"Secret %s with the Codat API key was not found; create it with the key %q (%s)", secret, key, k.source(h)))
	case err != nil:
		return "", retry(codatv1.ReasonProgressing, fmt.Sprintf("Reading the credentials Secret %s failed; retrying", secret), h.working)
	case value == "":
		return "", stall(codatv1.ReasonCredentialsMissing, fmt.Sprintf(
			"Secret %s has no value under key %q; put the Codat API key there (%s)", secret, key, k.source(h)))
	}
	if err := value.Validate(); err != nil {
		return "", stall(codatv1.ReasonCredentialsInvalid, fmt.Sprintf(
			"The Codat API key in %s can never work: %s. Put the key there exactly as Codat's portal shows it",
			k.source(h), err))
	}
	return value, nil
}

// stalledInputs digests what the pass's requests are made with: the spec, the
// user's request to reconcile, deletion, the API key, the company (which a
// CodatCompany may replace) and the authorization Secret's version. The key enters only through a hash inside the hash. A
// change to any of them ends a stall that Codat's refusal caused.
func (r *Reconciler) stalledInputs(ctx context.Context, obj *codatv1.CodatConnection, key codatclient.APIKey) string {
	h := sha256.New()
	fmt.Fprintf(h, "generation=%d\nrequested=%s\ndeleting=%t\nkey=%s\ncompany=%s\n", obj.Generation,
		obj.Annotations[codatv1.AnnotationReconcileRequestedAt], !obj.DeletionTimestamp.IsZero(), key.Digest(), companyOf(obj))
	if auth := obj.Spec.Authorization; auth != nil {
		// The metadata of Secrets is cached (see the watches): no API call.
		meta := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}}
		if err := r.Client.Get(ctx, types.NamespacedName{Namespace: obj.Namespace, Name: auth.SecretRef.Name}, meta); err == nil {
			fmt.Fprintf(h, "authorization=%s\n", meta.ResourceVersion)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}
