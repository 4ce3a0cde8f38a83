package codatclient

import (
	"encoding/base64"
	"fmt"
	"strings"
)

// APIKey is a Codat API key: the bare key (sent Base64-encoded) or a whole header value that already
// starts with "Basic ". It prints as "[redacted]" with fmt, slog and encoding/json.
type APIKey string

// String keeps the key out of fmt's %v and %s.
func (APIKey) String() string { return "[redacted]" }

// GoString keeps the key out of fmt's %#v.
func (APIKey) GoString() string { return "[redacted]" }

// MarshalText keeps the key out of JSON and text logs.
func (APIKey) MarshalText() ([]byte, error) { return []byte("[redacted]"), nil }

// basicPrefix starts a value that is already a whole Authorization header. Schemes are
// case-insensitive (RFC 9110), so "basic " is recognised too.
const basicPrefix = "Basic "

// headerForm splits the key into the part after "Basic " when the value is already a header, or the
// bare key. Surrounding white space, as `kubectl create secret --from-file` leaves it, is ignored.
func (k APIKey) headerForm() (encoded string, isHeader bool) {
	v := strings.TrimSpace(string(k))
	if len(v) >= len(basicPrefix) && strings.EqualFold(v[:len(basicPrefix)], basicPrefix) {
		return strings.TrimSpace(v[len(basicPrefix):]), true
	}
	return v, false
}

// authorization is the Authorization header value for the key.
func (k APIKey) authorization() string {
	v, isHeader := k.headerForm()
	if isHeader {
		return basicPrefix + v
	}
	return basicPrefix + base64.StdEncoding.EncodeToString([]byte(v))
}

// Validate says why the key can never authenticate with Codat: it is empty, it holds characters no
// API key has (control characters, line breaks, spaces, non-ASCII), or it starts with "Basic " and
// what follows is not Base64. The reason never quotes the key.
func (k APIKey) Validate() error {
	v, isHeader := k.headerForm()
	if v == "" {
		if isHeader {
			return fmt.Errorf("it is %q with nothing after it", basicPrefix)
		}
		return fmt.Errorf("it is empty")
	}
	for i := 0; i < len(v); i++ {
		switch b := v[i]; {
		case b == '\n' || b == '\r':
			return fmt.Errorf("it contains a line break (at byte %d of %d); an API key is one line", i+1, len(v))
		case b < 0x20 || b == 0x7f:
			return fmt.Errorf("it contains a control character (at byte %d of %d)", i+1, len(v))
		case b == ' ' || b == '\t':
			return fmt.Errorf("it contains white space (at byte %d of %d); an API key has none", i+1, len(v))
		case b >= 0x80:
			return fmt.Errorf("it contains a non-ASCII character (at byte %d of %d)", i+1, len(v))
		}
	}
	if isHeader {
		if _, err := base64.StdEncoding.DecodeString(v); err != nil {
			return fmt.Errorf("it starts with %q but what follows is not Base64; put either the key as Codat's portal shows it, or %q followed by the Base64 of the key", basicPrefix, basicPrefix)
		}
	}
	return nil
}

// secrets are the strings derived from the key that must never be shown.
func (k APIKey) secrets() []string {
	v, isHeader := k.headerForm()
	out := []string{string(k), v, k.authorization()}
	if isHeader {
		if raw, err := base64.StdEncoding.DecodeString(v); err == nil {
			out = append(out, string(raw))
		}
	} else {
		out = append(out, base64.StdEncoding.EncodeToString([]byte(v)))
	}
	return out
}
