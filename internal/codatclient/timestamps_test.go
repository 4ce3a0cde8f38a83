package codatclient

import (
	"testing"
	"time"
)

func TestParseTimeReadsEveryFormCodatSends(t *testing.T) {
	cases := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"2022-10-27T09:53:29Z", time.Date(2022, 10, 27, 9, 53, 29, 0, time.UTC), true},
		{"2022-10-27T10:22:43.6464237Z", time.Date(2022, 10, 27, 10, 22, 43, 646423700, time.UTC), true},
		{"2021-11-15T01:00:00", time.Date(2021, 11, 15, 1, 0, 0, 0, time.UTC), true},
		{"2021-11-15T01:00:00.1234567", time.Date(2021, 11, 15, 1, 0, 0, 123456700, time.UTC), true},
		{"2021-11-15T03:00:00+02:00", time.Date(2021, 11, 15, 1, 0, 0, 0, time.UTC), true},
		{"2022-10-23", time.Date(2022, 10, 23, 0, 0, 0, 0, time.UTC), true},
		{"Sat, 05 Dec 2026 00:00:00 GMT", time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC), true},
		{"yesterday", time.Time{}, false},
		{"", time.Time{}, false},
	}
	for _, tc := range cases {
		got, ok := ParseTime(tc.in)
		if ok != tc.ok || !got.Equal(tc.want) || (ok && got.Location() != time.UTC) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
