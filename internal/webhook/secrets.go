package webhook

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync/atomic"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// secretPrefix starts a signing secret as Codat's portal shows it: whsec_ and the Base64 key.
const secretPrefix = "whsec_"

var errNoSecrets = errors.New("no signing secret is loaded")

// Secrets are the signing secrets in force. A delivery is accepted when it verifies with any of
// them, so a secret can be rotated without a restart: add the new one beside the old, move Codat's
// consumer to it, then remove the old one.
type Secrets struct {
	verifiers atomic.Pointer[[]*standardwebhooks.Webhook]
}

// Load replaces the secrets with the values of data that start with "whsec_". It returns the
// number loaded; keys whose values are not usable are named in the error, the others still load.
func (s *Secrets) Load(data map[string][]byte) (int, error) {
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var verifiers []*standardwebhooks.Webhook
	var bad []string
	for _, k := range keys {
		v := strings.TrimSpace(string(data[k]))
		if !strings.HasPrefix(v, secretPrefix) {
			bad = append(bad, k)
			continue
		}
		wh, err := standardwebhooks.NewWebhook(v)
		if err != nil || len(v) == len(secretPrefix) {
			bad = append(bad, k)
			continue
		}
		verifiers = append(verifiers, wh)
	}
	s.verifiers.Store(&verifiers)
	if len(bad) > 0 {
		return len(verifiers), fmt.Errorf("keys %s do not hold a signing secret (whsec_ followed by Base64)", strings.Join(bad, ", "))
	}
	return len(verifiers), nil
}

// Count is the number of secrets in force.
func (s *Secrets) Count() int {
	if v := s.verifiers.Load(); v != nil {
		return len(*v)
	}
	return 0
}

// Verify checks the delivery's signature and timestamp (the library allows five minutes either
// way) against every secret in force.
func (s *Secrets) Verify(raw []byte, h http.Header) error {
	v := s.verifiers.Load()
	if v == nil || len(*v) == 0 {
		return errNoSecrets
	}
	var err error
	for _, wh := range *v {
		if err = wh.Verify(raw, h); err == nil {
			return nil
		}
	}
	return err
}
