package codatclient

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

const maxSnippet = 200

// snippet is a short, single-line excerpt of a body for an error message.
func snippet(b []byte) string {
	s := strings.ToValidUTF8(string(b), "?")
	s = strings.Join(strings.FieldsFunc(s, unicode.IsSpace), " ")
	if utf8.RuneCountInString(s) > maxSnippet {
		s = string([]rune(s)[:maxSnippet]) + "..."
	}
	return s
}

// scrub removes secrets a server might echo back.
func scrub(s string, secrets []string) string {
	for _, sec := range secrets {
		if len(sec) >= 4 && strings.Contains(s, sec) {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return s
}

// scrubbedError keeps the cause for errors.Is/As but prints a scrubbed text.
type scrubbedError struct {
	msg   string
	cause error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.cause }

func scrubError(err error, secrets []string) error {
	return &scrubbedError{msg: scrub(err.Error(), secrets), cause: err}
}
