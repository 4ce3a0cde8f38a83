package codatclient

import (
	"net/http"
	"time"
)

// timeLayouts are the forms Codat's timestamps come in: RFC 3339 with a Z or an offset and up to
// seven fractional digits, the same without a zone (then UTC), a bare date, and HTTP's date for
// the X-Rate-Limit-Reset header.
var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02", http.TimeFormat}

// ParseTime reads any of Codat's timestamps, in UTC; false when s is none of them.
func ParseTime(s string) (time.Time, bool) {
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}
